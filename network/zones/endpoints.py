"""The addresses behind a flow end in one DC: a zone's subnet, a role's hosts, the private WAN,
the internet (any address); and the addresses the zone policy claims for itself at a zone's
edge (the internet edge), refused when a host already holds them."""

from __future__ import annotations

import ipaddress

from network.errors import JinbaoError, Problem
from network.ipam import conventions
from network.ipam.conventions import gateway_of, ip_of
from network.zones.schema import ANY, PolicySpec, zone_of


def sort_key(cidr: str):
    return ipaddress.ip_network(cidr)


def _addresses(endpoint: str, dc: str, network, allocations) -> tuple[str, ...] | None:
    """CIDRs of an endpoint in one DC; None when the zone (or role) has nothing there."""
    if endpoint == ANY:
        return ()
    zone, _, role = endpoint.partition("/")
    if not role:
        subnet = allocations.zones.get(f"{dc}/{zone}")
        return (subnet,) if subnet else None
    found = tuple(f"{address}/32" for _, address in endpoint_hosts(endpoint, dc, network, allocations))
    return found or None


def endpoint_hosts(endpoint: str, dc: str, network, allocations) -> list[tuple[str, str]]:
    """(inventory hostname, address) of the hosts of a `zone` or `zone/role` endpoint in one DC."""
    zone, _, role = endpoint.partition("/")
    site = network.sites[dc]
    return [
        (network.hostname(site, h.name), allocations.hosts[f"{dc}/{h.name}"]["address"])
        for h in site.hosts
        if h.zone == zone and role in ("", h.role) and f"{dc}/{h.name}" in allocations.hosts
    ]


def wan_addresses(network, allocations) -> tuple[str, ...]:
    """The private WAN as the DC's firewalls see it: every site LAN, line and router loopback
    IPAM handed out, and the DC routers' own legs in the routed zones (the first address of
    each: what a DC router speaks from to a host of the zone, its syslog and NTP), collapsed
    (the pools are contiguous, so the list stays short)."""
    nets = [ipaddress.ip_network(s["lan"]) for s in allocations.sites.values() if s.get("lan")]
    nets += [ipaddress.ip_network(link["subnet"]) for link in allocations.links.values()]
    nets += [ipaddress.ip_network(f"{d['loopback']}/32") for d in allocations.devices.values() if d.get("loopback")]
    unrouted = set(network.policy.unrouted_zones)
    nets += [
        ipaddress.ip_network(ipaddress.ip_interface(gateway_of(subnet)).ip)
        for key, subnet in allocations.zones.items()
        if key.split("/", 1)[1] not in unrouted
    ]
    return tuple(str(n) for n in ipaddress.collapse_addresses(nets))


def endpoint_addresses(policy: PolicySpec, endpoint: str, dc: str, network, allocations) -> tuple[str, ...] | None:
    """CIDRs of a flow end in one DC: () for the internet or `any`; None when the DC lacks it."""
    zone = policy.zones.get(zone_of(endpoint))
    if zone is not None and zone.kind == "internet":
        return ()  # the internet has no subnet of its own: any address, on the layer's outside
    if zone is not None and zone.kind == "wan":
        return wan_addresses(network, allocations)  # the routers and sites of the WAN, wherever they are
    return _addresses(endpoint, dc, network, allocations)


def internet_edge_of(dc: str, zone: str, subnet: str, allocations) -> str:
    """Where the internet meets a zone the WAN never routes (the DMZ): the address its edge
    router holds there (ipam.conventions.internet_edge_of). An address a host holds is refused,
    naming the zone."""
    what = "the internet edge's address (second-last usable)"
    return untaken(conventions.internet_edge_of(subnet), what, dc, zone, subnet, allocations)


def untaken(address: str, what: str, dc: str, zone: str, subnet: str, allocations) -> str:
    """`address` (with its prefix), unless the zone's router or a host of the DC holds it."""
    holders = {ip_of(gateway_of(subnet)): "the zone's router"} | {
        e["address"]: key for key, e in allocations.hosts.items() if key.startswith(f"{dc}/")
    }
    holder = holders.get(ip_of(address))
    if holder:
        raise JinbaoError(
            Problem("allocations.yml", dc, f"zones[{dc}/{zone}]", f"{what} {ip_of(address)} is taken by {holder}")
        )
    return address
