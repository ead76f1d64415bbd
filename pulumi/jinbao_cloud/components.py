"""Pulumi components: SecurityZone (network, subnet, router interface) and DataCenter (all
zones of a DC site, security groups compiled from zones.yml, anti-affinity server groups per
role, instances on fixed ports, encrypted volumes for the database and its backups)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi_openstack as openstack

import pulumi
from jinbao_cloud.plan import SitePlan

# Security-group rules and floating IPs carry their zone where the policy pack can read it
# without resolving ids (`zone=<zone>` in the description or the tags); a zone's network
# carries it too, and that one the pack trusts: ports are on it because the model put their
# hosts in the zone.
ZONE_MARK = "zone={}"


@dataclass(frozen=True)
class Sizing:
    """What the model does not hold: this cloud's names and the instance sizes per role."""

    image: str
    external_network_id: str
    flavors: dict[str, str]
    volumes: dict[str, dict] = field(default_factory=dict)  # database / backup: {size, type}


class SecurityZone(pulumi.ComponentResource):
    """A zone of a DC: its network, its subnet (from IPAM) and its leg on the DC's router."""

    def __init__(self, name: str, zone: str, cidr: str, gateway: str, router_id, opts=None):
        super().__init__("jinbao:cloud:SecurityZone", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.network = openstack.networking.Network(
            name, name=name, admin_state_up=True, tags=[ZONE_MARK.format(zone)], opts=child
        )
        self.subnet = openstack.networking.Subnet(
            name,
            name=name,
            network_id=self.network.id,
            cidr=cidr,
            gateway_ip=gateway,
            ip_version=4,
            enable_dhcp=False,  # addresses are the model's, set on the ports
            opts=child,
        )
        self.interface = openstack.networking.RouterInterface(
            name, router_id=router_id, subnet_id=self.subnet.id, opts=child
        )
        self.register_outputs({"network_id": self.network.id, "subnet_id": self.subnet.id, "cidr": cidr})


class DataCenter(pulumi.ComponentResource):
    def __init__(self, name: str, plan: SitePlan, sizing: Sizing, opts=None):
        super().__init__("jinbao:cloud:DataCenter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        missing = sorted({h.role for h in plan.hosts} - set(sizing.flavors))
        if missing:
            raise ValueError(f"{plan.site}: no flavor for role(s) {', '.join(missing)} in the stack config")
        self.router = openstack.networking.Router(
            f"{name}-router", name=f"{name}-router", external_network_id=sizing.external_network_id, opts=child
        )
        self.zones = {
            zone: SecurityZone(f"{name}-{zone}", zone, cidr, plan.gateways[zone], self.router.id, opts=child)
            for zone, cidr in plan.zones.items()
        }
        self.security_groups = {}
        for group in sorted({h.group for h in plan.hosts}):
            zone = _zone_of_group(group, plan)
            self.security_groups[group] = openstack.networking.SecGroup(
                f"{name}-{group}",
                name=f"{name}-{group}",
                description=f"{ZONE_MARK.format(zone)}: flows of zones.yml only",
                delete_default_rules=True,  # no allow-all egress: every rule comes from a flow
                tags=[ZONE_MARK.format(zone)],
                opts=child,
            )
        self.rules = []
        for rule in plan.rules:
            zone = _zone_of_group(rule.group, plan)
            self.rules.append(
                openstack.networking.SecGroupRule(
                    f"{name}-{rule.group}-{rule.direction}-{rule.flow}-{rule.protocol}{rule.port}-{rule.remote}",
                    security_group_id=self.security_groups[rule.group].id,
                    direction=rule.direction,
                    ethertype="IPv4",
                    protocol=rule.protocol,
                    port_range_min=rule.port,
                    port_range_max=rule.port,
                    remote_ip_prefix=rule.remote,
                    description=f"{ZONE_MARK.format(zone)} {rule.flow}",
                    opts=pulumi.ResourceOptions(parent=self.security_groups[rule.group]),
                )
            )
        self.server_groups = {
            role: openstack.compute.ServerGroup(
                f"{name}-{role}", name=f"{name}-{role}", policies="anti-affinity", opts=child
            )
            for role in sorted({h.role for h in plan.hosts})
        }
        self.instances, self.volumes, self.floating_ips = {}, [], []
        for host in plan.hosts:
            zone = self.zones[host.zone]
            port = openstack.networking.Port(
                f"{name}-{host.name}",
                name=host.hostname,
                network_id=zone.network.id,
                fixed_ips=[{"subnet_id": zone.subnet.id, "ip_address": host.address}],
                security_group_ids=[self.security_groups[host.group].id],
                opts=child,
            )
            instance = openstack.compute.Instance(
                f"{name}-{host.name}",
                name=host.hostname,
                flavor_name=sizing.flavors[host.role],
                image_name=sizing.image,
                networks=[{"port": port.id}],
                scheduler_hints=[{"group": self.server_groups[host.role].id}],
                metadata={"jinbao_site": plan.site, "jinbao_zone": host.zone, "jinbao_role": host.role},
                opts=child,
            )
            self.instances[host.hostname] = instance
            for purpose in _volumes_of(host.role, {h.role for h in plan.hosts}):
                spec = sizing.volumes.get(purpose)
                if not spec:
                    raise ValueError(f"{plan.site}: no `volumes.{purpose}` in the stack config")
                volume = openstack.blockstorage.Volume(
                    f"{name}-{host.name}-{purpose}",
                    name=f"{host.hostname}-{purpose}",
                    size=int(spec["size"]),
                    volume_type=spec["type"],
                    metadata={"jinbao_role": host.role, "jinbao_purpose": purpose},
                    opts=child,
                )
                openstack.compute.VolumeAttach(
                    f"{name}-{host.name}-{purpose}", instance_id=instance.id, volume_id=volume.id, opts=child
                )
                self.volumes.append(volume)
            if plan.kinds[host.zone] == "dmz" and host.role == "declaration-web":
                self.floating_ips.append(
                    openstack.networking.FloatingIp(
                        f"{name}-{host.name}",
                        pool=sizing.external_network_id,
                        port_id=port.id,
                        tags=[ZONE_MARK.format(host.zone)],
                        opts=child,
                    )
                )
        self.register_outputs({})


def _zone_of_group(group: str, plan: SitePlan) -> str:
    """`<zone>-<role>` → zone (zones and roles may both contain hyphens: match the zones)."""
    return max((z for z in plan.zones if group.startswith(f"{z}-")), key=len)


def _volumes_of(role: str, roles: set[str]) -> tuple[str, ...]:
    """The encrypted volumes a host of `role` gets: the database its data, and the backups on
    the site's backup host (pgBackRest's repository) or, where there is none, beside the data."""
    if role == "database":
        return ("database",) if "backup" in roles else ("database", "backup")
    return ("backup",) if role == "backup" else ()
