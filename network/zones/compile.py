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
    mirrors part of the DC). A flow `across` a DR pair runs over the WAN: in this DC it leaves
    a zone for the WAN towards the peer's hosts, or arrives from the WAN at a zone here."""
    rules = []
    for flow in policy.flows:
        if flow.via != "firewall":
            continue
        ends = _ends_across(policy, flow, dc, network) if flow.across else [(flow.source, dc, flow.to, dc)]
        for source, source_dc, to, to_dc in ends:
            sources = endpoint_addresses(policy, flow.source, source_dc, network, allocations)
            dests = endpoint_addresses(policy, flow.to, to_dc, network, allocations)
            if sources is None or dests is None:
                continue
            service = policy.services.get(flow.service)
            rules.append(
                FlowRule(
                    flow.id,
                    source,
                    to,
                    flow.service,
                    tuple(sorted(sources, key=sort_key)),
                    tuple(sorted(dests, key=sort_key)),
                    service.proto if service else None,
                    service.ports if service else (),
                )
            )
    return rules


def wan_zone(policy: PolicySpec) -> str | None:
    """The zone that stands for the private WAN (kind wan): where a flow across sites leaves and arrives."""
    return next((name for name, zone in policy.zones.items() if zone.kind == "wan"), None)


def _ends_across(policy: PolicySpec, flow, dc: str, network) -> list[tuple[str, str, str, str]]:
    """(source end as this DC sees it, the DC its hosts are in, destination end, its DC) for a
    flow across a DR pair that starts or ends in `dc`: the far end is the WAN zone here."""
    wan = wan_zone(policy)
    if wan is None:
        return []  # validation refuses it: nothing to leave by
    found = []
    for primary, standby in network.dr_pairs():
        ways = {"dr": [(primary, standby), (standby, primary)], "dc-to-dr": [(primary, standby)]}
        for source_dc, to_dc in ways.get(flow.across, [(standby, primary)]):
            if source_dc == dc:
                found.append((flow.source, source_dc, wan, to_dc))
            if to_dc == dc:
                found.append((wan, source_dc, flow.to, to_dc))
    return found
