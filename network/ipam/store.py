"""allocations.yml: the IPAM state, written by `jinbao plan`, committed, never hand-edited.

One entry per line, keys sorted, so that a review of the file in git shows exactly
which allocations a change made. Written by hand-rolled emitter: PyYAML's is far too
slow for the national inventory, and the format is simple enough.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from network.errors import IpamError, Problem

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

FILE = "allocations.yml"
SECTIONS = ("regions", "sites", "devices", "links", "zones", "hosts")
HEADER = (
    "# IPAM state of this environment, written by `jinbao plan`. Do not edit by hand:\n"
    "# change sites.yml or addressing.yml and re-plan. Keys are stable ids, so adding or\n"
    "# removing a site touches only that site's lines.\n"
)


@dataclass
class Allocations:
    regions: dict[str, str] = field(default_factory=dict)  # region -> block
    sites: dict[str, dict] = field(default_factory=dict)  # site id -> {lan}
    devices: dict[str, dict] = field(default_factory=dict)  # site/device -> {loopback, management}
    links: dict[str, dict] = field(default_factory=dict)  # site:line -> {subnet, ports: [child, parent]}
    zones: dict[str, str] = field(default_factory=dict)  # dc-site/zone -> subnet
    hosts: dict[str, str] = field(default_factory=dict)  # dc-site/host -> address

    def section(self, name: str) -> dict:
        return getattr(self, name)


def read(root: Path) -> Allocations:
    path = Path(root) / FILE
    if not path.exists():
        return Allocations()
    try:
        with path.open("rb") as fh:
            data = yaml.load(fh, Loader=SafeLoader) or {}
    except yaml.YAMLError as exc:
        raise IpamError(Problem(FILE, "", "", f"is not valid YAML ({exc}); restore it from git")) from exc
    if data.get("version") != 1:
        raise IpamError(Problem(FILE, "", "version", "must be 1; restore the file from git"))
    return Allocations(**{name: dict(data.get(name) or {}) for name in SECTIONS})


def _scalar(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"
    if isinstance(value, int):
        return str(value)
    return f'"{value}"' if not str(value).replace(".", "").replace("/", "").isdigit() else str(value)


def dumps(allocations: Allocations) -> str:
    lines = [HEADER, "version: 1\n"]
    for name in SECTIONS:
        entries = allocations.section(name)
        if not entries:
            lines.append(f"{name}: {{}}\n")
            continue
        lines.append(f"{name}:\n")
        lines.extend(f'  "{key}": {_scalar(entries[key])}\n' for key in sorted(entries))
    return "".join(lines)


def write(root: Path, allocations: Allocations) -> None:
    """Atomic: the old file stays whole until the new one is complete."""
    path = Path(root) / FILE
    tmp = path.with_suffix(".yml.tmp")
    tmp.write_text(dumps(allocations), encoding="utf-8")
    os.replace(tmp, path)
