"""Make Docker match a lab Topology: ``up`` reconciles, ``down`` removes, ``status`` compares.

Everything the lab makes carries the label ``jinbao.lab=<environment>``, so ``down``
removes exactly that and ``up`` on a running lab changes nothing. Containers run systemd
as PID 1 with NET_ADMIN, NET_RAW and SYS_ADMIN (never --privileged); links are internal
bridges without an address on this machine, so the machine itself never routes between
them: the lab's routers do.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError, NotFound

from network.envstate import state_dir
from network.errors import LabError
from network.lab import access, engine, images, networks, nodes
from network.lab.objects import LABEL, Report, ours
from network.lab.topology import Topology


def up(env: Path, topo: Topology, settings: dict, mirror: str) -> Report:
    """Make Docker match `topo`: images (from the Debian `mirror`), networks, containers,
    then wiring and access."""
    started = time.perf_counter()
    report = Report()
    client = engine.client()
    report.images = images.ensure(client, mirror)
    report.created.extend(f"host {change}" for change in engine.host_limits())
    tags = images.tags(mirror)
    user, key = access.automation_user(env, settings), access.ssh_key(env)
    containers, nets = ours(client, topo.environment)
    # what the model no longer has goes first, so that its subnets and names are free
    containers = nodes.remove_stale(client, topo, tags, containers, report)
    networks.remove_stale(topo, containers, nets, report)
    nets = networks.create_missing(client, topo, report)
    nodes.create_missing(client, topo, tags, containers, nets, report)
    access.grant(env, client, topo, user, key, report)
    report.seconds = time.perf_counter() - started
    return report


def down(env: Path, environment: str) -> list[str]:
    removed = []
    client = engine.connect()
    if client is not None:
        containers, nets = ours(client, environment)
        for name, container in containers.items():
            container.remove(force=True)
            removed.append(f"container {name}")
        for name, net in nets.items():
            with contextlib.suppress(NotFound):
                net.remove()
            removed.append(f"network {name}")
        if not any(
            n.attrs.get("Options", {}).get("com.docker.network.bridge.name", "").startswith("jb")
            for n in client.networks.list(filters={"label": LABEL})
        ):
            with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
                networks.iptables(add=False)
    if state_dir(env).exists():
        shutil.rmtree(state_dir(env))
        removed.append(f"{state_dir(env)}")
    return removed


@dataclass
class Status:
    running: list[str]
    stopped: list[str]
    missing: list[str]
    extra: list[str]
    networks_missing: list[str]

    @property
    def ok(self) -> bool:
        return not (self.stopped or self.missing or self.extra or self.networks_missing)

    def as_dict(self) -> dict:
        return {"ok": self.ok, **self.__dict__}


def status(topo: Topology) -> Status:
    client = engine.connect()
    if client is None:
        return Status([], [], sorted(topo.nodes), [], sorted(topo.networks))
    try:
        containers, networks = ours(client, topo.environment)
    except APIError as exc:
        raise LabError(f"docker: {exc.explanation}") from None
    running = sorted(n for n, c in containers.items() if c.status == "running" and n in topo.nodes)
    stopped = sorted(n for n, c in containers.items() if c.status != "running" and n in topo.nodes)
    return Status(
        running,
        stopped,
        sorted(set(topo.nodes) - set(containers)),
        sorted(set(containers) - set(topo.nodes)),
        sorted(set(topo.networks) - set(networks)),
    )
