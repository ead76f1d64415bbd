"""What the lab makes in Docker, and how it finds it again: everything carries the label
``jinbao.lab=<environment>``; nodes and networks are named after the environment."""

from __future__ import annotations

from dataclasses import dataclass, field

import docker

from network.lab import images
from network.lab.topology import Topology

LABEL = "jinbao.lab"


def container_name(topo: Topology, node: str) -> str:
    return f"jinbao-{topo.environment}-{node}"


def network_name(topo: Topology, net: str) -> str:
    return f"jinbao-{topo.environment}-" + net.replace(":", "-").replace("/", "-")


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    wired: dict[str, list[str]] = field(default_factory=dict)
    images: list[images.Built] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.removed or self.wired or any(b.seconds for b in self.images))

    def as_dict(self) -> dict:
        return {
            "changed": self.changed,
            "created": self.created,
            "removed": self.removed,
            "wired": self.wired,
            "images": [{"name": b.name, "tag": b.tag, "built_seconds": round(b.seconds, 1)} for b in self.images],
            "seconds": round(self.seconds, 1),
        }


def ours(client: docker.DockerClient, env: str):
    label = f"{LABEL}={env}"
    containers = {c.labels.get("jinbao.node"): c for c in client.containers.list(all=True, filters={"label": label})}
    networks = {n.attrs["Labels"].get("jinbao.network"): n for n in client.networks.list(filters={"label": label})}
    return containers, networks
