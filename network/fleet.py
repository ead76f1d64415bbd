"""The devices a command acts on: the planned model, its vault secrets, and how to reach each device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from network import drivers
from network.drivers import Target
from network.ipam import Allocations
from network.model import Network
from network.planned import planned
from network.render import Renderer, load_secrets
from network.render.secrets import Secrets


@dataclass(frozen=True)
class Fleet:
    network: Network
    allocations: Allocations
    secrets: Secrets
    targets: list[Target]

    @property
    def hostnames(self) -> list[str]:
        return [t.hostname for t in self.targets]

    def renderer(self) -> Renderer:
        return Renderer(self.network, self.allocations, self.secrets)


def select(
    env: Path, limit: list[str] | None = None, vault_password_file: Path | None = None, some: bool = True
) -> Fleet:
    """The devices of `env` that `limit` names (hostnames or site ids, globs; None: every device).
    `some`: a limit naming no device is refused."""
    network, allocations = planned(env)
    secrets = load_secrets(env, vault_password_file)
    return Fleet(network, allocations, secrets, drivers.targets(env, network, allocations, secrets, limit, some))
