"""The rulesets of the lab's zone firewalls: each layer as nftables, the way production renders
it, plus what the lab's shape asks of it.

In the lab every zone hangs off the DC's border router (the hub), each behind the firewall of
the first layer that lists it (topology.guards). The zone the WAN enters by in production
(kind `internal`) sits between two layers there: the inner one towards the WAN, the core
database and operations, the outer one towards the external and partner zones. In the lab
it is bridged by one of them only, so that firewall also carries the other layers' permits
into and out of the zones it guards (external -> internal/middleware, F11): traffic a flow
allows crosses, and the rest of what reaches the hub is dropped there as in production.
Every permit names its addresses, so one borrowed here matches only its own flow's traffic.
"""

from __future__ import annotations

from network import zones
from network.lab.topology import Topology


def borrowed(policy, network, allocations, dc: str, layer: str, guarded: list[str]) -> tuple[zones.Rule, ...]:
    """Other layers' permits into or out of the zones `layer`'s lab firewall guards in `dc`,
    for flows the layer does not carry itself."""
    own = {r.flow for r in zones.compile_rules(policy, network, allocations, dc, layer)}
    found, seen = [], set(own)
    for other in policy.layers:
        if other.name == layer:
            continue
        for rule in zones.compile_rules(policy, network, allocations, dc, other.name):
            if rule.flow not in seen and guarded and {rule.source_zone, rule.dest_zone} & set(guarded):
                seen.add(rule.flow)
                found.append(rule)
    return tuple(found)


def rulesets(topology: Topology, policy, network, allocations) -> dict[str, str]:
    """`<dc>-<layer>.nft` → ruleset, for every firewall of the lab."""
    found = {}
    for node in topology.nodes.values():
        if node.kind != "firewall":
            continue
        guarded = [zone for zone, _, _ in node.bridges]
        extra = borrowed(policy, network, allocations, node.site, node.layer, guarded)
        found[f"{node.site}-{node.layer}.nft"] = zones.render(
            policy, network, allocations, node.site, node.layer, "nftables", extra
        )
    return found
