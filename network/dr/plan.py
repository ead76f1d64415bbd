"""What a drill acts on, from the model: the business site and its DR site, the clerk's township
router and LAN address, the name servers, the web, database and middleware hosts by hostname
(the lab's nodes are named so), and the service name `web.<zone>`."""

from __future__ import annotations

from dataclasses import dataclass, field

from network.errors import JinbaoError, Problem
from network.ipam import Allocations
from network.ipam.conventions import gateway_of, ip_of
from network.model import Network

CLERK_SITE = "choucheng"  # the township the business tests' clerk works at


@dataclass(frozen=True)
class DrillPlan:
    environment: str
    business_site: str
    dr_sites: tuple[str, ...]
    zone: str  # the service zone: web.<zone>, db.<zone>
    db_name: str
    clerk: str  # the township router's hostname (a lab node)
    clerk_source: str  # its LAN address, which every write leaves from
    township: str
    name_servers: tuple[str, ...]  # addresses: the business site's first, then the DR site's
    web_hosts: tuple[str, ...]  # hostnames: their certificates are the clerk's trust
    db_hosts: tuple[str, ...]  # hostnames, business site first
    lost_in_failover: tuple[str, ...]  # the business site's database and middleware hostnames
    hosts_by_address: dict[str, str] = field(default_factory=dict)  # in-band address → hostname

    @property
    def web_name(self) -> str:
        return f"web.{self.zone}"


def _dr_sites(network: Network, business: str) -> tuple[str, ...]:
    """The sites sites.yml names as DR for the business site (`dr_for`)."""
    return tuple(network.dr_peers(business))


def _hosts(network: Network, site_ids, role: str) -> tuple[str, ...]:
    return tuple(
        network.hostname(network.sites[s], h.name) for s in site_ids for h in network.sites[s].hosts if h.role == role
    )


def _business_site(network: Network) -> str:
    business = network.policy.business_site
    if not business or business not in network.sites:
        raise JinbaoError(
            Problem("group_vars/all", "", "jinbao_business_site", f"is {business!r}: no site runs the business system")
        )
    return business


def _clerk(network: Network, allocations: Allocations, township: str) -> tuple[str, str]:
    site = network.sites.get(township)
    if site is None or not site.devices or township not in allocations.sites:
        raise JinbaoError(f"{township}: no such site with a router and a LAN in {network.name}; pick a township")
    return network.hostname(site, site.devices[0].name), ip_of(gateway_of(allocations.sites[township]["lan"]))


def drill_plan(network: Network, allocations: Allocations, township: str = CLERK_SITE) -> DrillPlan:
    business = _business_site(network)
    sites = (business, *_dr_sites(network, business))
    province = network.province_of(network.sites[business])
    roles = network.policy.service_names
    clerk, source = _clerk(network, allocations, township)
    address = {
        network.hostname(network.sites[s], h.name): allocations.hosts[f"{s}/{h.name}"]["address"]
        for s in sites
        for h in network.sites[s].hosts
        if f"{s}/{h.name}" in allocations.hosts
    }
    servers = [
        address[network.hostname(network.sites[s], h.name)]
        for s in sites
        for h in network.sites[s].hosts
        if "dns" in h.provides and network.hostname(network.sites[s], h.name) in address
    ]
    return DrillPlan(
        environment=network.name,
        business_site=business,
        dr_sites=sites[1:],
        zone=f"{province.slug if province else 'national'}.{network.policy.domain}",
        db_name=network.policy.db_name,
        clerk=clerk,
        clerk_source=source,
        township=township,
        name_servers=tuple(servers),
        web_hosts=_hosts(network, sites, roles["web"]),
        db_hosts=_hosts(network, sites, roles["db"]),
        lost_in_failover=(*_hosts(network, [business], roles["db"]), *_hosts(network, [business], roles["app"])),
        hosts_by_address={a: h for h, a in address.items()},
    )
