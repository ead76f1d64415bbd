"""The one flow compiler: a flow of zones.yml becomes, in one DC, the addresses it runs from and
to, its protocol and its ports. Every consumer of the policy starts from these rules and only
selects and shapes them: a firewall layer the rules that cross it (zones.layers), a host's own
ACL the sources of the rules that reach it (zones.acl), a cloud security group the rules that
start or end at its hosts (pulumi/jinbao_cloud/plan.py)."""

from __future__ import annotations

from dataclasses import dataclass

from network.zones.endpoints import endpoint_addresses, sort_key
from network.zones.schema import PolicySpec, names_hosts_of


@dataclass(frozen=True)
class FlowRule:
    """One IP flow made concrete in one DC."""

    flow: str  # its id
    source: str  # its ends as zones.yml names them: zone, zone/role or any
    to: str
    service: str  # the service's name in zones.yml (`any`: waived)
    sources: tuple[str, ...]  # CIDRs in address order; () = any address (the internet, `any`)
    dests: tuple[str, ...]
    proto: str | None  # None: any service (waived)
    ports: tuple[int, ...]  # () with any service

    def starts_at(self, zone: str, role: str) -> bool:
        """The rule leaves from the hosts of zone/role (its source names them)."""
        return names_hosts_of(self.source, zone, role)

    def ends_at(self, zone: str, role: str) -> bool:
        """The rule reaches the hosts of zone/role (its destination names them)."""
        return names_hosts_of(self.to, zone, role)


def flows_to_rules(policy: PolicySpec, dc: str, network, allocations) -> list[FlowRule]:
    """The IP flows of zones.yml in one DC site, in flow order. A gatekeeper's ferry is no IP
    path, so none of it is here; nor is a flow one of whose ends this DC lacks (a DR site
    mirrors part of the DC)."""
    rules = []
    for flow in policy.flows:
        if flow.via != "firewall":
            continue
        sources = endpoint_addresses(policy, flow.source, dc, network, allocations)
        dests = endpoint_addresses(policy, flow.to, dc, network, allocations)
        if sources is None or dests is None:
            continue
        service = policy.services.get(flow.service)
        rules.append(
            FlowRule(
                flow.id,
                flow.source,
                flow.to,
                flow.service,
                tuple(sorted(sources, key=sort_key)),
                tuple(sorted(dests, key=sort_key)),
                service.proto if service else None,
                service.ports if service else (),
            )
        )
    return rules
