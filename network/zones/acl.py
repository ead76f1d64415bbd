"""What a host's own ACL admits, from the compiled flows: the host stays a layer of its own
behind the firewalls."""

from __future__ import annotations

from network.zones.compile import flows_to_rules
from network.zones.endpoints import sort_key
from network.zones.schema import PolicySpec


def admitted(policy: PolicySpec, service: str, dc: str, zone: str, role: str, network, allocations) -> tuple[str, ...]:
    """CIDRs that firewall flows let reach `service` on a host of zone/role in one DC: what the
    host's own ACL admits besides the management network (ssh from the operations host). A
    flow from the internet or `any` widens nothing here: the host stays the stricter layer."""
    found = {
        cidr
        for rule in flows_to_rules(policy, dc, network, allocations)
        if rule.service == service and rule.ends_at(zone, role)
        for cidr in rule.sources
    }
    return tuple(sorted(found, key=sort_key))
