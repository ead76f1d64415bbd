"""Addressing conventions: which address of a subnet goes to whom.

Written once, here, and read by IPAM (where hosts start), the renderer (the router's
addresses), the zones (the gatekeeper's legs, the internet edge), Pulumi (a zone's gateway)
and the lab's tests. Addresses carry their subnet's prefix unless the name says otherwise.

- a site LAN or a DC zone: the router (gateway) has the first host; hosts are handed out
  from HOST_OFFSET up; the gatekeeper has the last usable address and the internet edge
  router the one below it;
- a point-to-point line: the parent end first, then the child end (a /31 uses both
  addresses, a /30 its two usable ones).
"""

from __future__ import annotations

from network.ipam.pools import to_int, to_ip

HOST_OFFSET = 10  # first host address in a zone subnet; below it: gateway, firewall pair, reserve


def host_in(cidr: str, index: int) -> str:
    """The index-th address of a subnet, with the subnet's prefix: ('10.0.0.0/30', 1) -> '10.0.0.1/30'."""
    start, length = to_int(cidr)
    return f"{to_ip(start + index)}/{length}"


def gateway_of(subnet: str) -> str:
    """The router's address on a site LAN or a DC zone (the subnet's first host), with its prefix."""
    return host_in(subnet, 1)


def gatekeeper_leg_of(subnet: str) -> str:
    """The gatekeeper's leg in a DC zone (the subnet's last usable address), with its prefix:
    IPAM hands hosts out from the bottom of a zone, the router takes the first address."""
    _, length = to_int(subnet)
    return host_in(subnet, 2 ** (32 - length) - 2)


def internet_edge_of(subnet: str) -> str:
    """Where the internet edge router meets a zone the WAN never routes (the DMZ): the
    subnet's second-last usable address (the gatekeeper has the last), with its prefix."""
    _, length = to_int(subnet)
    return host_in(subnet, 2 ** (32 - length) - 3)


def link_addresses(subnet: str) -> tuple[str, str]:
    """(parent end, child end). A /31 uses both addresses, a /30 the two usable ones."""
    _, length = to_int(subnet)
    return (host_in(subnet, 0), host_in(subnet, 1)) if length == 31 else (host_in(subnet, 1), host_in(subnet, 2))


def ip_of(address: str) -> str:
    """'10.0.0.1/30' -> '10.0.0.1'."""
    return address.split("/", 1)[0]
