"""What a DC site needs on the cloud, computed from the jinbao model alone (no Pulumi here).

Zones and their subnets come from allocations.yml, hosts and their roles from sites.yml,
security-group rules from the flows of zones.yml: one security group per (zone, role) of
the site, holding exactly the flows that end or start at those hosts. Nothing here is
typed twice: a Pulumi stack config only adds sizing and the cloud's names.
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


def _matches(endpoint: str, zone: str, role: str) -> bool:
    return endpoint == zone or endpoint == f"{zone}/{role}"


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
    rules = set()
    for group_zone, group_role, group in {(h.zone, h.role, h.group) for h in hosts}:
        for flow in policy.flows:
            if flow.via != "firewall" or flow.service == zones.ANY:
                continue  # the gatekeeper's ferry is no IP path; `any` is never a cloud rule
            service = policy.services[flow.service]
            for direction, here, there in (("ingress", flow.to, flow.source), ("egress", flow.source, flow.to)):
                if not _matches(here, group_zone, group_role):
                    continue
                remotes = zones.endpoint_addresses(policy, there, site.id, network, allocations)
                if remotes is None:
                    continue  # the other end is not at this site
                for remote in remotes or (INTERNET,):
                    for port in service.ports:
                        rules.add(SgRule(group, direction, service.proto, port, remote, flow.id))
    return SitePlan(
        site.id,
        site.tier,
        subnets,
        {z: ip_of(gateway_of(c)) for z, c in subnets.items()},
        hosts,
        tuple(sorted(rules)),
        {z: policy.zones[z].kind for z in subnets},
    )
