"""Device intent: everything a template needs for one device, as plain data.

Pure: the model and the allocations in, one dict per device out, for all platforms. The
decisions come from their homes: the routing design from network.render.design (RenderIndex),
which address is whose from network.ipam.conventions, interface names from the platform's
data (network.platforms); the templates under network/templates/<platform>/ only format
what they are given. tests/golden/context holds the contexts of the golden case.
"""

from __future__ import annotations

from typing import Any

from network.ipam.conventions import gateway_of, ip_of, link_addresses
from network.ipam.pools import to_int
from network.model import Site
from network.model.schema import format_bandwidth, ospf_cost
from network.platforms import platform
from network.render.design import BACKBONE, RenderIndex, unplanned

ZONE_VLAN_BASE = 100  # DC zone n is VLAN 100 + n
VILLAGE_VLAN_BASE = 200  # a township's village n (in file order) is VLAN 200 + n


def device_context(index: RenderIndex, site: Site, device) -> dict[str, Any]:
    network = index.network
    names = platform(device.platform)["interfaces"]
    addresses = index.allocations.devices.get(f"{site.id}/{device.name}")
    if addresses is None:
        raise unplanned(network, site, f"devices[{device.name}]")
    policy = network.policy
    loopback = addresses["loopback"]
    interfaces = _site_interfaces(index, site, device, names, loopback)
    links, neighbors = _links(index, site, device, names)
    interfaces += links
    bgp, statics = _bgp(index, site, loopback, neighbors)
    plane = index.management_plane(site)
    return {
        "hostname": network.hostname(site, device.name),
        "platform": device.platform,
        "site": {"id": site.id, "name": site.name, "tier": site.tier, "path": network.path(site)},
        "device": {"name": device.name, "role": device.role},
        "interfaces": interfaces,
        "management": _management(network, names, addresses, plane),
        "syslog": plane["syslog"],
        "ntp": plane["ntp"],
        "domain": policy.domain,
        "timezone": policy.timezone,
        "banner": policy.banner,
        "ospf": _ospf(site, interfaces, loopback, bool(neighbors), policy.ospf_reference_kbps),
        "bgp": bgp,
        "statics": statics,
    }


def _site_interfaces(index: RenderIndex, site: Site, device, names: dict, loopback: str) -> list[dict[str, Any]]:
    """The loopback, and on a site's first router its LAN and its DC zones."""
    network = index.network
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
    if device.name != site.devices[0].name:
        return interfaces
    lan = index.site_lan(site)
    if lan:
        interfaces.append(
            {
                "name": names["lan"],
                "kind": "lan",
                "description": f"LAN {site.posts} posts",
                "address": gateway_of(lan),
                "ospf": {"area": own_area, "passive": True} if ospf_site else None,
            }
        )
    if site.tier == "datacenter":
        interfaces += _zone_interfaces(index, site, names, own_area)
    if site.tier == "township":
        interfaces += _village_interfaces(index, site, names, own_area)
    return interfaces


def _village_interfaces(index: RenderIndex, site: Site, names: dict, area: str) -> list[dict[str, Any]]:
    """A township's villages are access points (docs/addressing.md): each one's gateway is a VLAN
    interface of the township's router, passive in its OSPF area."""
    network, found = index.network, []
    villages = [network.sites[c] for c in network.children.get(site.id, ()) if network.sites[c].tier == "village"]
    for n, village in enumerate(villages):
        lan = index.site_lan(village)
        if lan is None:
            raise unplanned(network, village, "lan")
        found.append(
            {
                "name": names["village"].format(n=VILLAGE_VLAN_BASE + n),
                "kind": "village",
                "village": village.id,
                "vlan": VILLAGE_VLAN_BASE + n,
                "description": f"village {village.slug} {village.posts} posts",
                "address": gateway_of(lan),
                "ospf": {"area": area, "passive": True},
            }
        )
    return found


def _zone_interfaces(index: RenderIndex, site: Site, names: dict, area: str) -> list[dict[str, Any]]:
    """One VLAN interface per zone the WAN routes, numbered by the zone's place among the site's."""
    found = []
    for n, zone in enumerate(dict.fromkeys(h.zone for h in site.hosts)):
        if zone in index.network.policy.unrouted_zones:
            continue
        subnet = index.allocations.zones[f"{site.id}/{zone}"]
        found.append(
            {
                "name": names["zone"].format(n=ZONE_VLAN_BASE + n),
                "kind": "zone",
                "zone": zone,
                "vlan": ZONE_VLAN_BASE + n,
                "description": f"zone {zone}",
                "address": gateway_of(subnet),
                "ospf": {"area": area, "passive": True},
            }
        )
    return found


def _links(index: RenderIndex, site: Site, device, names: dict) -> tuple[list[dict], list[dict]]:
    """The device's line interfaces, by port, and its eBGP neighbours on them."""
    interfaces, neighbors = [], []
    for end in sorted(index.ends(site, device.name), key=lambda e: e.port):
        parent_addr, child_addr = link_addresses(index.allocations.links[end.key]["subnet"])
        mine, theirs = (child_addr, parent_addr) if end.role == "child" else (parent_addr, child_addr)
        area = index.link_area(end)
        peer_host = index.network.hostname(end.peer_site, end.peer_device)
        interfaces.append(_link_interface(index, end, names, mine, ip_of(theirs), peer_host, area))
        if area is None:  # the eBGP line between a province and the ministry
            neighbors.append(_neighbor(index, site, end, ip_of(theirs), peer_host))
    return interfaces, neighbors


def _link_interface(index: RenderIndex, end, names: dict, mine: str, theirs: str, peer_host: str, area) -> dict:
    line, policy = end.line, index.network.policy
    cost = policy.backup_line_cost if line.backup else ospf_cost(line.bandwidth_kbps, policy.ospf_reference_kbps)
    return {
        "name": names["port"].format(n=end.port),
        "kind": "link",
        "link": end.key,
        "description": f"{'uplink' if end.role == 'child' else 'downlink'} {peer_host} "
        f"{line.carrier} {line.type} {format_bandwidth(line.bandwidth_kbps)}"
        + (f" {line.circuit_id}" if line.circuit_id else ""),
        "address": mine,
        "bandwidth_kbps": line.bandwidth_kbps,
        "backup": line.backup,
        "peer": {"hostname": peer_host, "address": theirs},
        "ospf": None if area is None else {"area": area, "passive": False, "cost": cost, "p2p": True},
    }


def _neighbor(index: RenderIndex, site: Site, end, theirs: str, peer_host: str) -> dict:
    network = index.network
    if end.role == "child":  # a province: export its blocks, take a default from the ministry
        accept = ["0.0.0.0/0", network.addressing.national.supernet]
        advertise = index.province_blocks(site)
    else:  # the ministry: accept only that province's blocks
        accept = index.province_blocks(end.peer_site)
        advertise = [network.addressing.national.supernet]
    return {
        "address": theirs,
        "remote_as": index.asn(end.peer_site),
        "description": peer_host,
        "policy": peer_host.upper().replace("-", "_"),
        "accept": accept,
        "advertise": advertise,
        "default_originate": end.role == "parent",
    }


def _ospf(site: Site, interfaces: list[dict], loopback: str, has_bgp: bool, reference_kbps: int) -> dict | None:
    areas = sorted({i["ospf"]["area"] for i in interfaces if i["ospf"]}, key=_area_sort)
    if not areas:
        return None
    abr = BACKBONE in areas and len(areas) > 1
    return {
        "process": 1,
        "router_id": loopback,
        "areas": [{"id": a, "stub": a != BACKBONE, "no_summary": a != BACKBONE and abr} for a in areas],
        # the province core turns the ministry's BGP default into the province's way out
        "default_originate": site.tier == "province" and has_bgp,
        "reference_kbps": reference_kbps,
    }


def _bgp(index: RenderIndex, site: Site, loopback: str, neighbors: list[dict]) -> tuple[dict | None, list[dict]]:
    """BGP where the device has eBGP neighbours, and the blackhole statics of what it announces."""
    if not neighbors:
        return None, []
    network = index.network
    exports = index.province_blocks(site) if site.tier == "province" else [network.addressing.national.supernet]
    bgp = {"asn": index.asn(site), "router_id": loopback, "neighbors": neighbors, "networks": exports}
    statics = [{"prefix": p, "blackhole": True, "reason": "aggregate announced in BGP"} for p in exports]
    return bgp, statics


def management_users(policy) -> list[dict[str, Any]]:
    """The named accounts for people, with a device's privilege level (admins 15, auditors 1)."""
    return [{"name": u.name, "role": u.role, "level": 15 if u.role == "admin" else 1} for u in policy.admin_users]


def _management(network, names: dict, addresses: dict, plane: dict) -> dict[str, Any]:
    policy = network.policy
    _, mgmt_len = to_int(network.addressing.management.supernet)
    users = management_users(policy)
    return {
        "interface": names["management"],
        "address": f"{addresses['management']}/{mgmt_len}",
        "acl": plane["network"],
        "users": users,
        "idle_timeout": policy.idle_timeout_minutes,
        "lockout": {"attempts": policy.login_lockout.attempts, "minutes": policy.login_lockout.block_minutes},
        "snmp": {"user": policy.snmp.user, "group": policy.snmp.group},
        "managers": plane["managers"],
    }


def _area_sort(area: str) -> tuple[int, ...]:
    return tuple(int(x) for x in area.split("."))
