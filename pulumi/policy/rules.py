"""The policy pack's checks, as plain functions (tested directly with violating and
compliant resources in tests/pulumi/test_policy.py).

- no ingress from 0.0.0.0/0 except to the declaration DMZ's web ports;
- database volumes encrypted (an encrypted volume type);
- no floating IP outside the DMZ;
- every instance in a zone network (a port of a zone, with its zone in the metadata).

Zones are read from the marks the components put where no id has to be resolved:
`zone=<zone>` in a security-group rule's description and in a floating IP's tags.
"""

from __future__ import annotations

import re

SECGROUP_RULE = "openstack:networking/secGroupRule:SecGroupRule"
VOLUME = "openstack:blockstorage/volume:Volume"
FLOATING_IP = "openstack:networking/floatingIp:FloatingIp"
INSTANCE = "openstack:compute/instance:Instance"
OPEN = ("0.0.0.0/0", "::/0")
WEB_PORTS = (80, 443)
DMZ = "dmz"
ENCRYPTED = re.compile(r"(luks|encrypt)", re.I)


def _zone(text: str | None) -> str | None:
    match = re.search(r"\bzone=([a-z0-9-]+)", text or "")
    return match.group(1) if match else None


def no_open_ingress(args, report_violation) -> None:
    if args.resource_type != SECGROUP_RULE:
        return
    props = args.props
    if props.get("direction") != "ingress" or props.get("remoteIpPrefix") not in OPEN:
        return
    low, high = props.get("portRangeMin"), props.get("portRangeMax")
    web = low is not None and low == high and low in WEB_PORTS and props.get("protocol") == "tcp"
    if _zone(props.get("description")) != DMZ or not web:
        report_violation(
            f"{args.name}: ingress from {props.get('remoteIpPrefix')} is allowed only to the declaration DMZ's "
            f"web ports (tcp {', '.join(map(str, WEB_PORTS))}); this rule opens "
            f"{props.get('protocol') or 'any protocol'} {low or 'any'}-{high or 'any'} "
            f"in zone {_zone(props.get('description')) or 'unknown'}",
            None,
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
    "database-volumes-encrypted": ("Database volumes use an encrypted volume type", database_volumes_encrypted),
    "floating-ips-only-in-dmz": ("No floating IP outside the DMZ", floating_ips_only_in_the_dmz),
    "instances-in-zone-networks": ("Every instance is in a zone network", instances_in_zone_networks),
}
