"""The policy pack's checks, as plain functions (tested directly with violating and
compliant resources in tests/pulumi/test_policy.py).

- no ingress from anywhere except to the declaration DMZ's web ports, and no egress to
  anywhere at all. "Anywhere" is a rule with no remote (OpenStack reads a missing
  remoteIpPrefix as any source or destination) or a prefix that reaches beyond private
  address space (0.0.0.0/1 is as open as 0.0.0.0/0: the business network is private);
- the core database's groups admit single hosts only, never a range (a stack check);
- database volumes encrypted (an encrypted volume type);
- no floating IP outside the DMZ;
- every instance in a zone network (a port of a zone, with its zone in the metadata).

Zones are read from the marks the components put where no id has to be resolved:
`zone=<zone>` in a security-group rule's description and in a floating IP's tags. Such a
mark is the resource's own word, so it may only narrow: a rule open to anywhere must also
sit in a group whose ports are all on the DMZ's network (a stack check: `zone=dmz` on the
network SecurityZone builds for the model's DMZ), never merely say `zone=dmz` of itself.
"""

from __future__ import annotations

import ipaddress
import re

SECGROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
VOLUME = "openstack:blockstorage/volume:Volume"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
INSTANCE = "openstack:compute/instance:Instance"
PORT = "openstack:networking/port:Port"
NETWORK = "openstack:networking/network:Network"
# the only address space a rule may name without being open to anywhere (RFC 1918, RFC 4193)
PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
WEB_PORTS = (80, 443)
DMZ = "dmz"
CORE_DB = "core-db"  # the core database's zone, as SecurityZone tags its network
ENCRYPTED = re.compile(r"(luks|encrypt)", re.I)


def _zone(text: str | None) -> str | None:
    match = re.search(r"\bzone=([a-z0-9-]+)", text or "")
    return match.group(1) if match else None


def anywhere(props) -> str | None:
    """How a security-group rule's remote stands for anywhere, or None when it is a private
    prefix (or another security group's members)."""
    if props.get("remoteGroupId"):
        return None
    prefix = props.get("remoteIpPrefix")
    if not prefix:
        return "anywhere (no remoteIpPrefix)"
    try:
        network = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return f"{prefix!r} (not a prefix)"
    inside = any(network.version == p.version and network.subnet_of(p) for p in PRIVATE)
    return None if inside else prefix


def _web(props) -> bool:
    low, high = props.get("portRangeMin"), props.get("portRangeMax")
    return low is not None and low == high and low in WEB_PORTS and props.get("protocol") == "tcp"


def no_open_ingress(args, report_violation) -> None:
    if args.resource_type != SECGROUP_RULE:
        return
    props = args.props
    source = anywhere(props)
    if props.get("direction") != "ingress" or source is None:
        return
    low, high = props.get("portRangeMin"), props.get("portRangeMax")
    if _zone(props.get("description")) != DMZ or not _web(props):
        report_violation(
            f"{args.name}: ingress from {source} is allowed only to the declaration DMZ's "
            f"web ports (tcp {', '.join(map(str, WEB_PORTS))}); this rule opens "
            f"{props.get('protocol') or 'any protocol'} {low or 'any'}-{high or 'any'} "
            f"in zone {_zone(props.get('description')) or 'unknown'}",
            None,
        )


def no_open_egress(args, report_violation) -> None:
    if args.resource_type != SECGROUP_RULE or args.props.get("direction") != "egress":
        return
    destination = anywhere(args.props)
    if destination is not None:
        report_violation(
            f"{args.name}: egress to {destination}: a group sends only what a flow of zones.yml sends, "
            "to that flow's hosts (in zone "
            f"{_zone(args.props.get('description')) or 'unknown'})",
            None,
        )


def open_ingress_only_on_the_dmz_network(args, report_violation) -> None:
    """A stack check: a rule open to anywhere is in a security group whose ports are all on
    the DMZ's network, and it has some (a group on no port, or on another zone's, is not in
    the DMZ whatever its rules say)."""
    ports = [r for r in args.resources if r.resource_type == PORT]
    for rule in args.resources:
        props = rule.props
        if rule.resource_type != SECGROUP_RULE or props.get("direction") != "ingress" or anywhere(props) is None:
            continue
        networks = _networks_of_group(rule, ports)
        found = sorted({_zone(" ".join(n.props.get("tags") or [])) or f"untagged {n.name}" for n in networks.values()})
        if found != [DMZ]:
            report_violation(
                f"{rule.name}: ingress from {anywhere(props)} is allowed only on the DMZ's network; the group's "
                f"ports are on {', '.join(found) or 'no network'} (a rule's own zone={DMZ} does not make it so)",
                rule.urn,
            )


def _networks_of_group(rule, ports) -> dict:
    """The networks the ports of a rule's security group are on, by urn."""
    groups = {g.urn for g in rule.property_dependencies.get("securityGroupId", [])}
    return {
        network.urn: network
        for port in ports
        if groups & {g.urn for g in port.property_dependencies.get("securityGroupIds", [])}
        for network in port.property_dependencies.get("networkId", [])
    }


def core_database_ingress_from_hosts_only(args, report_violation) -> None:
    """A stack check: a group with a port on the core database's network admits single hosts
    (a /32 or /128, or another group's members), never a range: `10.0.0.0/8` is private, yet it
    is the whole national WAN."""
    ports = [r for r in args.resources if r.resource_type == PORT]
    for rule in args.resources:
        props = rule.props
        if rule.resource_type != SECGROUP_RULE or props.get("direction") != "ingress" or props.get("remoteGroupId"):
            continue
        zones = {_zone(" ".join(n.props.get("tags") or [])) for n in _networks_of_group(rule, ports).values()}
        if CORE_DB not in zones:
            continue
        prefix = props.get("remoteIpPrefix") or ""
        try:
            single = ipaddress.ip_network(prefix, strict=False).num_addresses == 1
        except ValueError:
            single = False
        if not single:
            report_violation(
                f"{rule.name}: the core database admits single hosts only (the middleware, the maintenance "
                f"hosts); this rule admits {prefix or 'anywhere (no remoteIpPrefix)'}",
                rule.urn,
            )


def database_volumes_encrypted(args, report_violation) -> None:
    if args.resource_type != VOLUME:
        return
    metadata = args.props.get("metadata") or {}
    if metadata.get("jinbao_role") != "database":
        return
    kind = args.props.get("volumeType") or ""
    if not ENCRYPTED.search(kind):
        message = f"{args.name}: a database volume must use an encrypted volume type (got {kind or 'none'})"
        report_violation(message, None)


def floating_ips_only_in_the_dmz(args, report_violation) -> None:
    if args.resource_type != FLOATING_IP:
        return
    zones = {_zone(tag) for tag in args.props.get("tags") or []} - {None}
    if zones != {DMZ}:
        report_violation(
            f"{args.name}: floating IPs are for the DMZ only (tagged zone={DMZ}); this one is in "
            f"{', '.join(sorted(zones)) or 'no zone'}",
            None,
        )


def instances_in_zone_networks(args, report_violation) -> None:
    if args.resource_type != INSTANCE:
        return
    metadata = args.props.get("metadata") or {}
    networks = args.props.get("networks") or []
    if not metadata.get("jinbao_zone"):
        report_violation(f"{args.name}: an instance belongs to a security zone (metadata jinbao_zone)", None)
    if not networks or not all(n.get("port") for n in networks):
        report_violation(
            f"{args.name}: an instance is attached through ports of its zone's network only "
            "(no network by name or uuid, no default network)",
            None,
        )


CHECKS = {
    "no-open-ingress": ("Ingress from anywhere only to the DMZ's web ports", no_open_ingress),
    "no-open-egress": ("No egress to anywhere", no_open_egress),
    "database-volumes-encrypted": ("Database volumes use an encrypted volume type", database_volumes_encrypted),
    "floating-ips-only-in-dmz": ("No floating IP outside the DMZ", floating_ips_only_in_the_dmz),
    "instances-in-zone-networks": ("Every instance is in a zone network", instances_in_zone_networks),
}
STACK_CHECKS = {
    "open-ingress-only-on-the-dmz-network": (
        "Ingress from anywhere only to groups whose ports are on the DMZ's network",
        open_ingress_only_on_the_dmz_network,
    ),
    "core-database-ingress-from-hosts-only": (
        "Ingress to the core database's network from single hosts only",
        core_database_ingress_from_hosts_only,
    ),
}
