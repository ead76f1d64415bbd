"""Device intent: everything a template needs for one device, as plain data.

Pure: the model and the allocations in, one dict per device out. Every routing and
addressing decision is made here, once, for all platforms (docs/routing.md); the
templates under network/templates/<platform>/ only format what they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from network.errors import Problem, RenderError
from network.ipam import Allocations, line_ends
from network.ipam.conventions import gatekeeper_leg_of as gatekeeper_leg_of  # zones.py imports it from here still
from network.ipam.conventions import gateway_of, ip_of, link_addresses
from network.ipam.conventions import internet_edge_of as internet_edge_of  # zones.py imports it from here still
from network.ipam.pools import to_int
from network.model import Network, Site
from network.model.schema import format_bandwidth, ospf_cost
from network.platforms import platform  # audit.py imports it from here still

BACKBONE = "0.0.0.0"
ZONE_VLAN_BASE = 100  # DC zone n is VLAN 100 + n


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
    _services: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

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
                raise _unplanned(network, owner, f"uplinks[{line.key}]")
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

    def asn(self, site: Site) -> int:
        """Private 4-byte ASN: the ministry has the base, province n (by its address block) base + n."""
        base = self.network.policy.bgp_asn_base
        province = self.network.province_of(site)
        if province is None:
            return base
        block = self.allocations.regions.get(province.id)
        if block is None:
            raise _unplanned(self.network, province, "region")
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
                            found.append(self.allocations.hosts[f"{child.id}/{host.name}"]["address"])
                self._services[key] = tuple(found)
            if self._services[key]:
                return self._services[key]
        return ()


def _unplanned(network: Network, site: Site, what: str) -> RenderError:
    return RenderError(
        Problem(
            "allocations.yml",
            network.path(site),
            what,
            "has no allocation: run `jinbao plan` for this environment first",
        )
    )


def device_context(index: RenderIndex, site: Site, device) -> dict[str, Any]:
    network, allocations = index.network, index.allocations
    plat = platform(device.platform)
    names = plat["interfaces"]
    key = f"{site.id}/{device.name}"
    addresses = allocations.devices.get(key)
    if addresses is None:
        raise _unplanned(network, site, f"devices[{device.name}]")
    policy = network.policy
    hostname = network.hostname(site, device.name)
    loopback = addresses["loopback"]
    _, mgmt_len = to_int(network.addressing.management.supernet)
    own_area = index.area_of(site)
    ospf_site = site.tier != "ministry" or any(
        network.sites[c].tier == "datacenter" for c in network.children.get(site.id, ())
    )

    interfaces: list[dict[str, Any]] = [
        {
            "name": names["loopback"],
            "kind": "loopback",
            "description": "router-id",
            "address": f"{loopback}/32",
            "ospf": {"area": own_area, "passive": True} if ospf_site else None,
        }
    ]
    is_gateway = device.name == site.devices[0].name
    lan = index.site_lan(site)
    if lan and is_gateway:
        interfaces.append(
            {
                "name": names["lan"],
                "kind": "lan",
                "description": f"LAN {site.posts} posts",
                "address": gateway_of(lan),
                "ospf": {"area": own_area, "passive": True} if ospf_site else None,
            }
        )
    if site.tier == "datacenter" and is_gateway:
        zones = dict.fromkeys(h.zone for h in site.hosts)
        for n, zone in enumerate(zones):
            if zone in policy.unrouted_zones:
                continue
            subnet = allocations.zones[f"{site.id}/{zone}"]
            interfaces.append(
                {
                    "name": names["zone"].format(n=ZONE_VLAN_BASE + n),
                    "kind": "zone",
                    "zone": zone,
                    "vlan": ZONE_VLAN_BASE + n,
                    "description": f"zone {zone}",
                    "address": gateway_of(subnet),
                    "ospf": {"area": own_area, "passive": True},
                }
            )

    neighbors, exports, statics = [], [], []
    ref, backup_cost = policy.ospf_reference_kbps, policy.backup_line_cost
    for end in sorted(index.ends(site, device.name), key=lambda e: e.port):
        subnet = allocations.links[end.key]["subnet"]
        parent_addr, child_addr = link_addresses(subnet)
        mine, theirs = (child_addr, parent_addr) if end.role == "child" else (parent_addr, child_addr)
        area = index.link_area(end)
        peer_host = network.hostname(end.peer_site, end.peer_device)
        line = end.line
        cost = backup_cost if line.backup else ospf_cost(line.bandwidth_kbps, ref)
        interfaces.append(
            {
                "name": names["port"].format(n=end.port),
                "kind": "link",
                "link": end.key,
                "description": f"{'uplink' if end.role == 'child' else 'downlink'} {peer_host} "
                f"{line.carrier} {line.type} {format_bandwidth(line.bandwidth_kbps)}"
                + (f" {line.circuit_id}" if line.circuit_id else ""),
                "address": mine,
                "bandwidth_kbps": line.bandwidth_kbps,
                "backup": line.backup,
                "peer": {"hostname": peer_host, "address": ip_of(theirs)},
                "ospf": None if area is None else {"area": area, "passive": False, "cost": cost, "p2p": True},
            }
        )
        if area is None:  # the eBGP line between a province and the ministry
            peer_asn = index.asn(end.peer_site)
            if end.role == "child":  # a province: export its block, take a default from the ministry
                accept = ["0.0.0.0/0", network.addressing.national.supernet]
                advertise = [allocations.regions[site.id]]
            else:  # the ministry: accept only that province's block
                accept = [allocations.regions[end.peer_site.id]]
                advertise = [network.addressing.national.supernet]
            neighbors.append(
                {
                    "address": ip_of(theirs),
                    "remote_as": peer_asn,
                    "description": peer_host,
                    "policy": peer_host.upper().replace("-", "_"),
                    "accept": accept,
                    "advertise": advertise,
                    "default_originate": end.role == "parent",
                }
            )

    areas = sorted({i["ospf"]["area"] for i in interfaces if i["ospf"]}, key=_area_sort)
    abr = BACKBONE in areas and len(areas) > 1
    ospf = None
    if areas:
        ospf = {
            "process": 1,
            "router_id": loopback,
            "areas": [{"id": a, "stub": a != BACKBONE, "no_summary": a != BACKBONE and abr} for a in areas],
            # the province core turns the ministry's BGP default into the province's way out
            "default_originate": site.tier == "province" and bool(neighbors),
            "reference_kbps": ref,
        }
    bgp = None
    if neighbors:
        bgp = {"asn": index.asn(site), "router_id": loopback, "neighbors": neighbors}
        exports = [allocations.regions[site.id]] if site.tier == "province" else [network.addressing.national.supernet]
        bgp["networks"] = exports
        statics = [{"prefix": p, "blackhole": True, "reason": "aggregate announced in BGP"} for p in exports]

    plane = index.management_plane(site)
    users = [{"name": u.name, "role": u.role, "level": 15 if u.role == "admin" else 1} for u in policy.admin_users]
    return {
        "hostname": hostname,
        "platform": device.platform,
        "site": {"id": site.id, "name": site.name, "tier": site.tier, "path": network.path(site)},
        "device": {"name": device.name, "role": device.role},
        "interfaces": interfaces,
        "management": {
            "interface": names["management"],
            "address": f"{addresses['management']}/{mgmt_len}",
            "acl": plane["network"],
            "users": users,
            "idle_timeout": policy.idle_timeout_minutes,
            "lockout": {"attempts": policy.login_lockout.attempts, "minutes": policy.login_lockout.block_minutes},
            "snmp": {"user": policy.snmp.user, "group": policy.snmp.group},
            "managers": plane["managers"],
        },
        "syslog": plane["syslog"],
        "ntp": plane["ntp"],
        "domain": policy.domain,
        "timezone": policy.timezone,
        "banner": policy.banner,
        "ospf": ospf,
        "bgp": bgp,
        "statics": statics,
    }


def _area_sort(area: str) -> tuple[int, ...]:
    return tuple(int(x) for x in area.split("."))
