"""What a DC site needs on the cloud, computed from the jinbao model alone (no Pulumi here).

Zones and their subnets come from allocations.yml, hosts and their roles from sites.yml,
security-group rules from the flows of zones.yml as the zone policy's one compiler makes them
(zones.flows_to_rules, as for the firewall layers and the hosts' own ACLs): one security group
per (zone, role) of the site, holding exactly the rules that end or start at those hosts.
Nothing here is typed twice: a Pulumi stack config only adds sizing and the cloud's names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from network import zones
from network.errors import JinbaoError, Problem
from network.ipam.conventions import gateway_of, ip_of
from network.planned import planned

INTERNET = "0.0.0.0/0"


@dataclass(frozen=True, order=True)
class SgRule:
    group: str  # "<zone>-<role>"
    direction: str  # ingress | egress
    protocol: str
    port: int
    remote: str  # CIDR
    flow: str


@dataclass(frozen=True)
class Host:
    hostname: str  # as the Ansible inventory names it
    name: str
    role: str
    zone: str
    address: str
    group: str  # its security group


@dataclass(frozen=True)
class SitePlan:
    site: str
    tier: str
    zones: dict[str, str]  # zone -> subnet
    gateways: dict[str, str]  # zone -> gateway address (the subnet's first host)
    hosts: tuple[Host, ...]
    rules: tuple[SgRule, ...]
    kinds: dict[str, str]  # zone -> kind (dmz, core, ...)


def _group_rules(compiled: list[zones.FlowRule], hosts: tuple[Host, ...]) -> set[SgRule]:
    """The compiled flows as security-group rules: a group admits (ingress) the sources of the
    rules that reach its hosts and sends (egress) to the destinations of those that leave them,
    one rule per remote CIDR and port (the internet or `any`: 0.0.0.0/0). The gatekeeper's
    ferry is no IP path (not compiled); `any` service is never a cloud rule."""
    found = set()
    for zone, role, group in {(h.zone, h.role, h.group) for h in hosts}:
        for rule in compiled:
            if rule.proto is None:
                continue
            for direction, here, remotes in (
                ("ingress", rule.ends_at, rule.sources),
                ("egress", rule.starts_at, rule.dests),
            ):
                if here(zone, role):
                    found |= {
                        SgRule(group, direction, rule.proto, port, remote, rule.flow)
                        for remote in remotes or (INTERNET,)
                        for port in rule.ports
                    }
    return found


def site_plan(env: str | Path, site_id: str) -> SitePlan:
    network, allocations = planned(Path(env))
    policy = zones.load(Path(env), network=network)
    site = network.sites.get(site_id)
    if site is None or site.tier != "datacenter" or not site.hosts:
        raise JinbaoError(Problem("sites.yml", site_id, "site", "is not a data-centre site with hosts"))
    subnets = {h.zone: allocations.zones[f"{site.id}/{h.zone}"] for h in site.hosts}
    hosts = tuple(
        Host(
            network.hostname(site, h.name),
            h.name,
            h.role,
            h.zone,
            allocations.hosts[f"{site.id}/{h.name}"]["address"],
            f"{h.zone}-{h.role}",
        )
        for h in site.hosts
    )
    rules = tuple(sorted(_group_rules(zones.flows_to_rules(policy, site.id, network, allocations), hosts)))
    return SitePlan(
        site.id,
        site.tier,
        subnets,
        {z: ip_of(gateway_of(c)) for z, c in subnets.items()},
        hosts,
        rules,
        {z: policy.zones[z].kind for z in subnets},
    )
