"""Which devices `jinbao plan --render` must re-render: every one whose render context changed.

A config is made from the shared inputs, the site tree and the allocations
(network/render/state.py records all three for the last render that left every config
current). Against that record, a device is re-rendered when
- its site changed, or a line of its site (before or after the change) ends on it;
- an ancestor moved, was renamed or changed routers (its path, area, hostname or peers follow);
- a data centre its site takes services from changed; a city's LAN (its OSPF area) moved;
- one of its own allocations changed, or a village of its township (its gateway is on the router).
Configs of devices that left the model are removed. Anything the record cannot vouch for (no
record, other shared inputs, allocations.yml changed since the last render, an old version of a
sites file no longer cached, a new address region) renders in full, which is always correct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from network.ipam import Change
from network.model import Network, Site
from network.model.cache import cached_sites
from network.render import state
from network.render.engine import Renderer

# a change of any of these moves what the site's subtree renders: paths, areas, hostnames, peers
TREE_FIELDS = ("slug", "tier", "parent", "devices")


@dataclass
class Selection:
    devices: list[tuple[Site, Any]] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # config files of devices that left the model


def affected_devices(renderer: Renderer, since: str | None, changes: list[Change], out_dir: Path) -> Selection | None:
    """What to re-render after a plan that went from allocations digest `since`; None: everything."""
    network, out_dir = renderer.network, Path(out_dir)
    recorded = state.read(out_dir)
    if (
        recorded is None
        or not state.manifest(out_dir)
        or since is None
        or recorded["allocations"] != since
        or recorded["inputs"] != state.inputs_digest(network, renderer.secrets)
    ):
        return None
    old = _old_sites(network, recorded["files"])
    if old is None:
        return None
    return _Selector(network, old, renderer.filename).select(changes)


def _old_sites(network: Network, files: dict[str, str]) -> dict[str, Site | None] | None:
    """The rendered version of every site of a sites file changed since (None: it did not exist)."""
    changed = {
        label
        for label in files.keys() | network.file_digests.keys()
        if files.get(label) != network.file_digests.get(label)
    }
    old: dict[str, Site | None] = {site_id: None for site_id, label in network.site_files.items() if label in changed}
    for label in changed & files.keys():
        sites = cached_sites(Path(network.root), label, files[label])
        if sites is None:
            return None
        old.update((site.id, site) for site in sites)
    return old


class _Selector:
    def __init__(self, network: Network, old: dict[str, Site | None], filename: Callable[[Site, Any], str]):
        self.network, self.filename = network, filename
        self.old = old  # site id -> its rendered version, for every site of a changed file
        self.wanted: dict[tuple[str, str], None] = {}

    def was(self, site_id: str | None) -> Site | None:
        if site_id in self.old:
            return self.old[site_id]
        return self.network.sites.get(site_id) if site_id else None

    def select(self, changes: list[Change]) -> Selection | None:
        network = self.network
        changed = [sid for sid, before in self.old.items() if before != network.sites.get(sid)]
        for site_id in changed:
            self._site_changed(self.old[site_id], network.sites.get(site_id))
        for change in changes:
            if self._allocation_changed(change) is None:
                return None
        devices = []
        for site_id, name in self.wanted:
            site = network.sites.get(site_id)
            device = site.device(name) if site else None
            if device is not None:
                devices.append((site, device))
        before = {self.filename(s, d) for s in map(self.old.get, changed) if s for d in s.devices}
        after = {self.filename(s, d) for s in map(network.sites.get, changed) if s for d in s.devices}
        return Selection(devices, sorted(before - after))

    def _site_changed(self, before: Site | None, after: Site | None) -> None:
        site_id = (after or before).id
        self._devices(site_id)
        self._villages_township(before, after)
        if before is not None:
            self._far_ends(before, self.was)
        if after is not None:
            self._far_ends(after, self.network.sites.get)
        if before is None or after is None or any(getattr(before, f) != getattr(after, f) for f in TREE_FIELDS):
            self._subtree(site_id)
        for version in (before, after):  # the sites that take their syslog, NTP, managers from it
            if version is not None and version.tier == "datacenter":
                self._subtree(version.parent)

    def _allocation_changed(self, change: Change) -> bool | None:
        """Mark the devices an allocation change reaches; None: it reaches every device."""
        section, key = change.section, change.key
        if section == "regions":
            return None  # a province's block: its ASN, and every peer's (a village block: its exports)
        if section == "devices":
            self.wanted[tuple(key.split("/", 1))] = None  # type: ignore[index]
        elif section in ("sites", "zones"):
            self._site_allocation_changed(section, key.split("/", 1)[0])
        elif section == "hosts":
            for version in (self.was(key.split("/", 1)[0]), self.network.sites.get(key.split("/", 1)[0])):
                if version is not None:
                    self._subtree(version.parent)
        elif section == "links":
            return self._link_changed(key.split(":", 1)[0])
        return True

    def _site_allocation_changed(self, section: str, site_id: str) -> None:
        self._devices(site_id)
        site = self.network.sites.get(site_id)
        self._villages_township(self.was(site_id), site)
        if section == "sites" and site is not None and site.tier == "city":
            self._subtree(site_id)  # a city's LAN is its OSPF area id

    def _villages_township(self, *versions: Site | None) -> None:
        """A village's gateway is on its township's router: that router renders it (and its VLAN)."""
        for version in versions:
            if version is not None and version.tier == "village":
                self._devices(version.parent)

    def _link_changed(self, site_id: str) -> bool | None:
        before, after = self.was(site_id), self.network.sites.get(site_id)
        if before is None and after is None:
            return None
        self._devices(site_id)
        for version, lookup in ((before, self.was), (after, self.network.sites.get)):
            if version is not None:
                self._far_ends(version, lookup)
        return True

    def _devices(self, site_id: str | None) -> None:
        site = self.network.sites.get(site_id) if site_id else None
        for device in site.devices if site else ():
            self.wanted[(site.id, device.name)] = None

    def _far_ends(self, site: Site, lookup) -> None:
        """The routers the site's lines land on, in the tree `lookup` reads (before or after)."""
        for line in site.uplinks:
            parent = lookup(line.parent)
            if parent is None:
                continue
            name = line.parent_device or (parent.devices[0].name if parent.devices else None)
            if name:
                self.wanted[(parent.id, name)] = None

    def _subtree(self, site_id: str | None) -> None:
        stack = [site_id] if site_id in self.network.sites else []
        while stack:
            current = stack.pop()
            self._devices(current)
            stack.extend(self.network.children.get(current, ()))
