"""The routing design (docs/routing.md): which lines a device ends, OSPF areas, BGP ASNs and
where each site takes its management services from, with the lookups that make each device's
context cost O(its own links). device_context turns these answers into a template's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from network.errors import Problem, RenderError
from network.ipam import Allocations, line_ends
from network.ipam.conventions import ip_of
from network.ipam.pools import to_int
from network.model import Network, Site

BACKBONE = "0.0.0.0"


@dataclass
class LinkEnd:
    key: str  # allocations key: "<child site>:<line>"
    role: str  # "child" (the uplink side) or "parent"
    line: Any  # schema.Uplink
    child: Site
    parent: Site
    peer_site: Site
    peer_device: str
    port: int


@dataclass
class RenderIndex:
    """Lookups built once per run so that each device context is O(its own links)."""

    network: Network
    allocations: Allocations
    landing: dict[str, list[tuple[Site, Any]]] = field(default_factory=dict)  # parent site id -> lines
    _lookups: int = 0
    _areas: dict[str, str] = field(default_factory=dict)
    _services: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, network: Network, allocations: Allocations) -> RenderIndex:
        return cls(network, allocations)

    def _landing(self, site: Site) -> list[tuple[Site, Any]]:
        """Lines that end at a site. They come from its subtree (lines run up the tree); for
        many devices one pass over every line is cheaper, so that index is built once needed."""
        if self.landing:
            return self.landing.get(site.id, [])
        self._lookups += 1
        if self._lookups > 64:  # a large render: index every line once
            for owner in self.network.sites.values():
                for line in owner.uplinks:
                    self.landing.setdefault(line.parent, []).append((owner, line))
            return self.landing.get(site.id, [])
        found, stack = [], list(self.network.children.get(site.id, ()))
        while stack:
            owner = self.network.sites[stack.pop()]
            found.extend((owner, line) for line in owner.uplinks if line.parent == site.id)
            stack.extend(self.network.children.get(owner.id, ()))
        return found  # device_context orders them by port

    def ends(self, site: Site, device_name: str) -> list[LinkEnd]:
        """The lines a device terminates: its own uplinks and the lines landing on it."""
        network, found = self.network, []
        candidates = [(site, line) for line in site.uplinks] + self._landing(site)
        for owner, line in candidates:
            child, child_dev, parent, parent_dev = line_ends(network, owner, line)
            role = "child" if child.id == site.id and child_dev == device_name else None
            if role is None and parent.id == site.id and parent_dev == device_name:
                role = "parent"
            if role is None:
                continue
            key = f"{owner.id}:{line.key}"
            link = self.allocations.links.get(key)
            if link is None:
                raise unplanned(network, owner, f"uplinks[{line.key}]")
            if role == "child":
                found.append(LinkEnd(key, role, line, child, parent, parent, parent_dev, link["ports"][0]))
            else:
                found.append(LinkEnd(key, role, line, child, parent, child, child_dev, link["ports"][1]))
        return found

    # --- routing design (docs/routing.md) -------------------------------------------
    def area_of(self, site: Site) -> str:
        """OSPF area of a site: the backbone at province level, else one area per city.

        A city's area id is its LAN's network address: unique, stable and readable.
        """
        cached = self._areas.get(site.id)
        if cached is None:
            cached = BACKBONE
            for candidate in [site, *self.network.ancestors(site)]:
                if candidate.tier == "city":
                    cached = ip_of(self.site_lan(candidate) or BACKBONE)
                    break
            self._areas[site.id] = cached
        return cached

    def link_area(self, end: LinkEnd) -> str | None:
        """None: the line carries eBGP (province <-> ministry), not OSPF."""
        if end.child.tier == "province":
            return None
        if end.child.tier == "city":  # city uplinks form the province backbone; the city router is the ABR
            return BACKBONE
        return self.area_of(end.child)

    def site_lan(self, site: Site) -> str | None:
        entry = self.allocations.sites.get(site.id)
        return entry.get("lan") if entry else None

    def province_blocks(self, province: Site) -> list[str]:
        """What a province announces to the ministry: its /13, then the village blocks it took
        beyond it (allocations.yml regions <province>/villages-<n>, docs/addressing.md)."""
        regions, prefix = self.allocations.regions, f"{province.id}/villages-"
        taken = sorted((int(key[len(prefix) :]), block) for key, block in regions.items() if key.startswith(prefix))
        return [regions[province.id], *(block for _number, block in taken)]

    def asn(self, site: Site) -> int:
        """Private 4-byte ASN: the ministry has the base, province n (by its address block) base + n."""
        base = self.network.policy.bgp_asn_base
        province = self.network.province_of(site)
        if province is None:
            return base
        block = self.allocations.regions.get(province.id)
        if block is None:
            raise unplanned(self.network, province, "region")
        start, length = to_int(block)
        sup_start, _ = to_int(self.network.addressing.provinces.supernet)
        return base + 1 + ((start - sup_start) >> (32 - length))

    def management_plane(self, site: Site) -> dict[str, Any]:
        """Where a node of this site sends its logs, takes its time and is managed from: the
        same values for a router's rendered config, a server's Ansible role and the compliance
        rules that check either."""
        return {
            "syslog": list(self.service_hosts(site, "syslog")),
            "ntp": list(self.service_hosts(site, "ntp")),
            "managers": list(self.service_hosts(site, "snmp-manager")),
            "network": self.network.addressing.management.supernet,
        }

    def service_hosts(self, site: Site, service: str) -> tuple[str, ...]:
        """Addresses of the nearest DC hosts providing a service: the site's own DC level first, then up."""
        return tuple(self.service_peers(site, service))

    def service_peers(self, site: Site, service: str) -> dict[str, str]:
        """The same hosts, address -> hostname (the name a TLS client checks the host's
        certificate against, e.g. rsyslog's permitted peer)."""
        for candidate in [site, *self.network.ancestors(site)]:
            key = (candidate.id, service)
            if key not in self._services:
                found = []
                for child_id in self.network.children.get(candidate.id, ()):
                    child = self.network.sites[child_id]
                    if child.tier != "datacenter":
                        continue
                    for host in child.hosts:
                        if service in host.provides:
                            address = self.allocations.hosts[f"{child.id}/{host.name}"]["address"]
                            found.append((address, self.network.hostname(child, host.name)))
                self._services[key] = tuple(found)
            if self._services[key]:
                return dict(self._services[key])
        return {}


def unplanned(network: Network, site: Site, what: str) -> RenderError:
    return RenderError(
        Problem(
            "allocations.yml",
            network.path(site),
            what,
            "has no allocation: run `jinbao plan` for this environment first",
        )
    )
