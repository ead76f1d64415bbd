"""Ansible inventory plugin: the jinbao-net model as hosts, groups and variables.

Every address comes from IPAM (allocations.yml); nothing is typed twice.
"""

from __future__ import annotations

import ipaddress

DOCUMENTATION = r"""
name: jinbao
short_description: jinbao-net source of truth (sites.yml + allocations.yml) as an inventory
description:
  - Reads the environment next to the config file (sites.yml or sites/*.yml, addressing.yml,
    allocations.yml) with the same code as the jinbao CLI.
  - Routers become hosts named <site slug>-<device>, grouped by tier, platform, role and
    province; data-centre servers become hosts named <dc slug>-<host>, grouped by zone and role.
  - ansible_host is the management address from IPAM.
options:
  plugin:
    description: Marks the file as a jinbao inventory source.
    required: true
    choices: [jinbao]
  require_current_allocations:
    description: Refuse to build the inventory when allocations.yml lags behind sites.yml
      (run jinbao plan first), so that no host gets an address that IPAM would change.
    type: bool
    default: true
  lab_firewalls:
    description: Also list the lab's zone firewalls (group C(firewalls)) and gatekeepers (group
      C(gatekeepers)), the Linux stand-ins the lab runs for each layer of zones.yml and each
      DC's ferries (network.lab.topology). Production firewalls and gatekeepers are vendor
      devices configured from C(jinbao zones render), not Ansible hosts.
    type: bool
    default: false
"""

EXAMPLES = r"""
# inventories/lab/jinbao.yml
plugin: jinbao
"""

from pathlib import Path

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

try:
    from network import ipam, zones
    from network.errors import JinbaoError
    from network.model import load
    from network.platforms import platform
    from network.render.design import RenderIndex
except ImportError as exc:  # pragma: no cover - shown by ansible-inventory
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None


class InventoryModule(BaseInventoryPlugin):
    NAME = "jinbao"
    # The values come from the project's own reviewed files, not from a remote source, so
    # they are trusted like a static inventory (ansible-core >= 2.19 marks plugin data unsafe).
    trusted_by_default = True

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and Path(path).name in ("jinbao.yml", "jinbao.yaml")

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        if IMPORT_ERROR is not None:
            raise AnsibleParserError(
                f"jinbao inventory needs the jinbao-net package (pip install -e .): {IMPORT_ERROR}"
            )
        self._read_config_data(path)
        root = Path(path).parent
        try:
            network = load(root)
            previous = ipam.read(root)
            plan = ipam.allocate(network, previous)
        except JinbaoError as exc:
            raise AnsibleParserError(f"jinbao: {exc}") from None
        if plan.changes and self.get_option("require_current_allocations"):
            raise AnsibleParserError(
                f"jinbao: {root}/allocations.yml is out of date ({len(plan.changes)} change(s)); "
                f"run `jinbao plan {root}`"
            )
        # every device reached over the management network: routers and servers (not localhost)
        self._group("routers", "managed")
        self._group("servers", "managed")
        index = RenderIndex.build(network, plan.allocations)
        # the private network's address space: the national and the provincial blocks
        space = [network.addressing.national.supernet, network.addressing.provinces.supernet]
        self.inventory.set_variable("all", "jinbao_private_networks", space)
        # the audited consoles (role bastion): every other node admits operators from them only
        self.inventory.set_variable("all", "jinbao_bastions", _bastions(network, plan.allocations))
        # a Linux node's own level-3 rules, group_vars' jinbao_host_hardening over the defaults
        self.inventory.set_variable("all", "jinbao_hardening", network.policy.host_hardening.model_dump(mode="json"))
        self._add_routers(network, plan.allocations, index)
        try:
            policy = zones.load_if_any(root, network)  # zones.yml: the hosts' own ACLs, the lab's firewalls
            gatekeepers = zones.gatekeepers(policy, network, plan.allocations) if policy else {}
            self._add_servers(network, plan.allocations, index, policy, gatekeepers)
            self._group("firewalls", "managed")
            self._group("gatekeepers", "managed")
            if self.get_option("lab_firewalls"):
                self._add_lab_firewalls(network, plan.allocations, index, policy, gatekeepers)
        except JinbaoError as exc:
            raise AnsibleParserError(f"jinbao: {exc}") from None

    def _group(self, name: str, parent: str | None = None) -> str:
        self.inventory.add_group(name)
        if parent:
            self.inventory.add_group(parent)
            self.inventory.add_child(parent, name)
        return name

    def _add_routers(self, network, allocations, index) -> None:
        for site, device in network.iter_devices():
            host = network.hostname(site, device.name)
            addresses = allocations.devices[f"{site.id}/{device.name}"]
            province = network.province_of(site)
            groups = [
                self._group(site.tier, "routers"),
                self._group(f"platform_{device.platform}"),
                self._group(f"role_{device.role}"),
                self._group(f"province_{province.slug}" if province else "national"),
            ]
            self.inventory.add_host(host, group=groups[0])
            for group in groups[1:]:
                self.inventory.add_host(host, group=group)
            data = platform(device.platform)
            variables = {
                "ansible_host": addresses["management"],
                "jinbao_site": site.id,
                "jinbao_site_name": site.name,
                "jinbao_site_path": network.path(site),
                "jinbao_tier": site.tier,
                "jinbao_device": device.name,
                "jinbao_role": device.role,
                "jinbao_platform": device.platform,
                "jinbao_netmiko_device_type": data["netmiko"],
                "jinbao_loopback": addresses["loopback"],
                "jinbao_lan": allocations.sites.get(site.id, {}).get("lan"),
                "jinbao_config_file": data["config_file"].format(hostname=host),
                **_plane(index, site),
            }
            for key, value in variables.items():
                self.inventory.set_variable(host, key, value)

    def _add_servers(self, network, allocations, index, policy, gatekeepers) -> None:
        # the ferry ends a server serves: the gatekeeper logs in from its leg in the server's zone
        ferries = zones.ferry_logins(gatekeepers)
        for site in network.sites.values():
            province = network.province_of(site)
            for server in site.hosts:
                host = network.hostname(site, server.name)
                addresses = allocations.hosts[f"{site.id}/{server.name}"]
                groups = [
                    self._group(f"zone_{server.zone.replace('-', '_')}", "servers"),
                    self._group(f"server_{server.role.replace('-', '_')}"),
                    self._group(f"dc_{site.slug.replace('-', '_')}", "datacenters"),
                    self._group(f"province_{province.slug}" if province else "national"),
                ]
                self.inventory.add_host(host, group=groups[0])
                for group in groups[1:]:
                    self.inventory.add_host(host, group=group)
                variables = {
                    "ansible_host": addresses["management"],
                    "jinbao_site": site.id,
                    "jinbao_zone": server.zone,
                    "jinbao_role": server.role,
                    "jinbao_address": addresses["address"],
                    "jinbao_zone_subnet": allocations.zones[f"{site.id}/{server.zone}"],
                    "jinbao_provides": list(server.provides),
                    # in-band SSH: only the sources zones.yml sends it (the operations host) and
                    # the gatekeeper of the ferries it serves
                    "jinbao_ssh_sources": list(
                        zones.admitted(policy, "ssh", site.id, server.zone, server.role, network, allocations)
                    )
                    + sorted({f"{end['gatekeeper']}/32" for end in ferries.get(host, [])})
                    if policy
                    else [],
                    "jinbao_ferry_ends": ferries.get(host, []),
                    # the DR site standing in for the business site (sites.yml dr_for; "" without one)
                    "jinbao_dr_site": next(iter(network.dr_peers(network.policy.business_site or "")), ""),
                    "jinbao_dns": _name_servers(network, allocations, index, policy, site, server),
                    # a name server's records: the service names of the DC that runs the business system
                    **(
                        {"jinbao_service_records": _service_records(network, allocations)}
                        if "dns" in server.provides
                        else {}
                    ),
                    **_plane(index, site),
                }
                for key, value in variables.items():
                    self.inventory.set_variable(host, key, value)

    def _add_lab_firewalls(self, network, allocations, index, policy, gatekeepers) -> None:
        from network.lab import topology

        lab = topology.build(network, allocations, policy, gatekeepers)
        for node in lab.nodes.values():
            if node.kind == "gatekeeper":
                self._add_gatekeeper(node, gatekeepers[node.site], network.sites[node.site], index)
            if node.kind != "firewall":
                continue
            site = network.sites[node.site]
            self.inventory.add_host(node.name, group="firewalls")
            variables = {
                "ansible_host": node.management,
                "jinbao_site": site.id,
                "jinbao_layer": node.layer,
                "jinbao_bridges": [list(b) for b in node.bridges],
                **_plane(index, site),
            }
            for key, value in variables.items():
                self.inventory.set_variable(node.name, key, value)

    def _add_gatekeeper(self, node, gatekeeper, site, index) -> None:
        self.inventory.add_host(node.name, group="gatekeepers")
        variables = {
            "ansible_host": node.management,
            "jinbao_site": site.id,
            "jinbao_legs": [{"zone": z, "ifname": port, "address": leg} for z, port, leg in node.legs],
            "jinbao_ferries": [
                {
                    "flow": f.flow,
                    "name": f.name,
                    "from": f.source_zone,
                    "to": f.to_zone,
                    "sources": [{"host": e.host, "address": e.address} for e in f.sources],
                    "destinations": [{"host": e.host, "address": e.address} for e in f.destinations],
                    "content": list(f.content),
                    "max_bytes": f.max_bytes,
                }
                for f in gatekeeper.ferries
            ],
            "jinbao_ferry_hosts": gatekeeper.ends(),
            "jinbao_ferry_account": zones.FERRY_ACCOUNT,
            **_plane(index, site),
        }
        for key, value in variables.items():
            self.inventory.set_variable(node.name, key, value)


def _service_records(network, allocations) -> dict[str, str]:
    """db, app, web -> the address of the business site's host of the role each names."""
    site = network.sites.get(network.policy.business_site or "")
    if site is None:
        return {}
    by_role = {}
    for host in site.hosts:
        by_role.setdefault(host.role, allocations.hosts[f"{site.id}/{host.name}"]["address"])
    return {name: by_role[role] for name, role in network.policy.service_names.items() if role in by_role}


def _name_servers(network, allocations, index, policy, site, server) -> list[str]:
    """The name servers a server may ask: the nearest DC's, then those of that DC's DR pair (the
    names survive the loss of either site), each only where its own zone or zones.yml lets the
    server's address reach it on dns (a DMZ host asks none). Routers resolve nothing."""
    address = ipaddress.ip_address(allocations.hosts[f"{site.id}/{server.name}"]["address"])
    by_address = {
        allocations.hosts[f"{s.id}/{h.name}"]["address"]: (s, h)
        for s in network.sites.values()
        for h in s.hosts
        if f"{s.id}/{h.name}" in allocations.hosts
    }
    nearest = list(index.service_hosts(site, "dns"))
    owners = dict.fromkeys(by_address[a][0].id for a in nearest)
    paired = [
        allocations.hosts[f"{peer}/{h.name}"]["address"]
        for owner in owners
        for peer in network.dr_peers(owner)
        for h in network.sites[peer].hosts
        if "dns" in h.provides and f"{peer}/{h.name}" in allocations.hosts
    ]
    found = []
    for candidate in dict.fromkeys(nearest + paired):
        owner, host = by_address[candidate]
        if (owner.id, host.zone) == (site.id, server.zone) or (
            policy
            and any(
                address in ipaddress.ip_network(cidr)
                for cidr in zones.admitted(policy, "dns", owner.id, host.zone, host.role, network, allocations)
            )
        ):
            found.append(candidate)
    return found


def _bastions(network, allocations) -> list[dict]:
    """Every bastion of the environment, with the addresses it connects from: its in-band
    address (to the DC's zones, through the firewalls) and its management address (to the
    routers and every node's out-of-band sshd)."""
    return [
        {"host": network.hostname(site, server.name), **allocations.hosts[f"{site.id}/{server.name}"]}
        for site in network.sites.values()
        for server in site.hosts
        if server.role == zones.CONSOLE_ROLE
    ]


def _plane(index, site) -> dict:
    """jinbao_syslog, jinbao_ntp, jinbao_snmp_managers, jinbao_management_network: the same
    values a router's rendered config carries (RenderIndex.management_plane); jinbao_syslog_peers,
    each collector's address -> its hostname (the name its TLS certificate carries); jinbao_province,
    whose service names (db, app, web) a node resolves (group_vars' jinbao_service_zone is
    made of it)."""
    plane = index.management_plane(site)
    province = index.network.province_of(site)
    return {
        "jinbao_syslog": plane["syslog"],
        "jinbao_syslog_peers": index.service_peers(site, "syslog"),
        "jinbao_ntp": plane["ntp"],
        "jinbao_snmp_managers": plane["managers"],
        "jinbao_management_network": plane["network"],
        "jinbao_province": province.slug if province else "national",
    }
