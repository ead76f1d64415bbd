"""The lab as the model says it: nodes, the networks between them, and how they attach.

Pure: model and allocations in, a Topology out; Docker is the business of ``runtime``.
Routers attach with the interface names their platform gives (port n is eth<n>, the LAN
lan0, DC zones zone<vlan>), exactly the names their rendered config speaks of, so the
config the lab runs is the config production gets. Every node also joins the
out-of-band management network on eth0 with its management address from IPAM.

The zone firewalls of zones.yml stand in the DCs as transparent bridges, the way they are
often deployed: each routed zone is guarded by the first layer that lists it. Its hosts keep
their segment (`zone:`), the border router's leg moves to the firewall's other side
(`uplink:`), and the firewall of that layer bridges the two (o-<zone> towards the router,
i-<zone> towards the hosts), filtering what crosses with the layer's rules. Addresses and
routing stay exactly as rendered. The border router is the lab's hub: the WAN enters there,
so the zone it enters by in production (kind `internal`, between the inner and the outer
layer) is guarded too, by the first layer listing it, with the permits of every layer that
touches it (network/lab/firewalls.py).

A zone the WAN never routes (the DMZ) is reached from the internet instead. When the layer
that lists it also lists the internet, its firewall bridges the zone's segment to an
internet-side segment (`uplink:`), where a probe node stands for the internet as the DMZ sees
it, on the address the internet edge router would hold there (`zones.internet_edge_of`). The
gatekeeper of a DC stands inside, with a leg in each zone it ferries between.
Firewalls are lab stand-ins (production renders its vendor's config), so their management
addresses come from the top of the management network, below anything IPAM hands out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from network import zones
from network.errors import LabError, Problem
from network.ipam import Allocations
from network.ipam.conventions import ip_of
from network.ipam.pools import to_int, to_ip
from network.model import Network
from network.render.context import device_context
from network.render.design import RenderIndex

# Docker insists on a subnet for each network; the lab's links carry the model's own
# addresses, which the routers configure themselves. So Docker is given throwaway subnets
# from the benchmarking range (RFC 2544, never routed) and its addresses are removed again.
PLUMBING = "198.18.0.0/15"
HOST_PORT = "eth1"  # a server's leg in its zone


@dataclass(frozen=True)
class Attachment:
    network: str  # Topology.networks key
    ifname: str
    address: str | None = None  # set by the lab (servers); None: the node configures it (routers)


@dataclass(frozen=True)
class Node:
    name: str  # the inventory hostname, also the container's hostname
    kind: str  # "router" | "server" | "firewall" | "gatekeeper" | "probe"
    site: str
    management: str  # address on the management network
    attachments: tuple[Attachment, ...]
    gateway: str | None = None  # servers: default route via the zone gateway
    device: str = ""  # the device or host name within its site (allocations key <site>/<device>)
    layer: str = ""  # firewalls: the zones.yml layer it enforces
    bridges: tuple[tuple[str, str, str], ...] = ()  # firewalls: (zone, outside ifname, inside ifname)
    legs: tuple[tuple[str, str, str], ...] = ()  # gatekeepers: (zone, ifname, address with prefix)


@dataclass(frozen=True)
class Net:
    name: str  # "mgmt", "line:<site>:<line>", "lan:<site>", "zone:<site>/<zone>", "uplink:<site>/<zone>"
    kind: str  # "management" | "line" | "lan" | "zone" | "uplink"
    subnet: str  # the model's subnet (the management one is also Docker's)
    description: str


@dataclass(frozen=True)
class Topology:
    environment: str
    management: str  # the management supernet
    management_gateway: str  # the control node's address on it (Ansible, tests)
    nodes: dict[str, Node]
    networks: dict[str, Net]
    # the environment's network hardening (HostHardening.sysctls): Docker sets them at creation
    hardening: tuple[tuple[str, int], ...] = ()

    def members(self, network: str) -> list[tuple[Node, Attachment]]:
        return [(n, a) for n in self.nodes.values() for a in n.attachments if a.network == network]

    def digest(self, node: Node) -> str:
        """Changes when a node must be recreated: what Docker fixes at creation (its kind, its
        management address, its kernel settings)."""
        return hashlib.sha256(json.dumps([node.kind, node.management, self.sysctls(node)]).encode()).hexdigest()[:12]

    def sysctls(self, node: Node) -> dict[str, str]:
        """The kernel settings a node is created with: its kind's and the hardening's."""
        return {**{k: str(v) for k, v in self.hardening}, **sysctls(node)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "management": self.management,
            "nodes": [asdict(n) for n in self.nodes.values()],
            "networks": [asdict(n) for n in self.networks.values()],
        }


def sysctls(node: Node) -> dict[str, str]:
    """Kernel settings a node of this kind is created with (Docker mounts /proc/sys read-only
    inside): only routers forward; a new network namespace would otherwise inherit the host's
    forwarding. Topology.sysctls adds the environment's hardening."""
    return {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv4.ip_forward": "1" if node.kind == "router" else "0"}


def _lab_platform_check(network: Network) -> None:
    problems = [
        Problem(
            network.site_files.get(site.id, "sites.yml"),
            network.path(site),
            f"devices[{d.name}].platform",
            f"is {d.platform}; the lab runs only frr routers (render {d.platform} configs with `jinbao render`)",
        )
        for site, d in network.iter_devices()
        if d.platform != "frr"
    ]
    if problems:
        raise LabError(problems)


def guards(policy, zones: list[str]) -> dict[str, str]:
    """Zone → the layer whose firewall guards it, for the routed zones of one DC."""
    if policy is None:
        return {}
    found = {}
    for zone in zones:
        spec = policy.zones.get(zone)
        if spec is None:
            continue
        layer = next((x for x in policy.layers if zone in x.zones), None)
        if layer is not None:
            found[zone] = layer.name
    return found


def _internet_layer(policy, zone: str) -> str | None:
    """The layer guarding an unrouted zone against the internet: the first that lists both."""
    if policy is None:
        return None
    internet = {name for name, spec in policy.zones.items() if spec.kind == "internet"}
    return next((x.name for x in policy.layers if zone in x.zones and internet & set(x.zones)), None)


def _port(prefix: str, zone: str, site_path: str) -> str:
    name = f"{prefix}-{zone}"
    if len(name) > 15:
        raise LabError(
            Problem("zones.yml", site_path, f"zones[{zone}]", "is too long for a lab bridge port (13 chars)")
        )
    return name


@dataclass
class _Draft:
    """What build() gathers on its way: nodes, networks, and what the stand-ins need."""

    network: Network
    allocations: Allocations
    policy: object
    nodes: dict[str, Node] = field(default_factory=dict)
    nets: dict[str, Net] = field(default_factory=dict)
    zone_gateways: dict[str, str] = field(default_factory=dict)
    firewalls: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (site, layer) → zones guarded
    probes: list[tuple[str, str, str]] = field(default_factory=list)  # (site, zone, address)


def build(network: Network, allocations: Allocations, policy=None, gatekeepers=None) -> Topology:
    """The lab of `network`; with `policy` (zones.yml) its DCs get their zone firewalls and
    gatekeepers (`gatekeepers`: zones.gatekeepers() when the caller has worked it out already)."""
    _lab_platform_check(network)
    supernet = network.addressing.management.supernet
    start, _ = to_int(supernet)
    draft = _Draft(network, allocations, policy)
    draft.nets["mgmt"] = Net("mgmt", "management", supernet, "out-of-band management")
    _add_routers(draft)
    _add_servers(draft)
    _add_internet_sides(draft)
    if gatekeepers is None:
        gatekeepers = zones.gatekeepers(policy, network, allocations) if policy is not None else {}
    _add_stand_ins(draft, gatekeepers)
    hardening = tuple(sorted(network.policy.host_hardening.sysctls.items()))
    return Topology(network.name, supernet, to_ip(start + 1), draft.nodes, draft.nets, hardening)


def _router_attachments(draft: _Draft, site, ctx: dict) -> list[Attachment]:
    """A router's links, LAN and zone interfaces as networks of the lab (made on first sight)."""
    allocations, nets = draft.allocations, draft.nets
    attachments = [Attachment("mgmt", ctx["management"]["interface"])]
    for intf in ctx["interfaces"]:
        if intf["kind"] == "link":
            name = f"line:{intf['link']}"
            subnet = allocations.links[intf["link"]]["subnet"]
            nets.setdefault(name, Net(name, "line", subnet, f"line {intf['link']}"))
        elif intf["kind"] == "lan":
            name = f"lan:{site.id}"
            nets[name] = Net(name, "lan", allocations.sites[site.id]["lan"], f"LAN of {site.id}")
        elif intf["kind"] == "zone":
            name = f"zone:{site.id}/{intf['zone']}"
            nets[name] = Net(
                name, "zone", allocations.zones[f"{site.id}/{intf['zone']}"], f"zone {intf['zone']} of {site.id}"
            )
            draft.zone_gateways[name] = ip_of(intf["address"])
        else:
            continue
        attachments.append(Attachment(name, intf["name"]))
    return attachments


def _add_routers(draft: _Draft) -> None:
    """Every device of the model; a zone a firewall layer guards hangs off an uplink network."""
    index = RenderIndex.build(draft.network, draft.allocations)
    for site, device in draft.network.iter_devices():
        ctx = device_context(index, site, device)
        attachments = _router_attachments(draft, site, ctx)
        guarded = guards(draft.policy, [i["zone"] for i in ctx["interfaces"] if i["kind"] == "zone"])
        for n, attachment in enumerate(attachments):
            zone = attachment.network.split("/", 1)[1] if attachment.network.startswith("zone:") else None
            if zone in guarded:
                uplink = f"uplink:{site.id}/{zone}"
                draft.nets[uplink] = Net(
                    uplink, "uplink", draft.nets[attachment.network].subnet, f"zone {zone} of {site.id}, router side"
                )
                attachments[n] = Attachment(uplink, attachment.ifname)
                draft.firewalls.setdefault((site.id, guarded[zone]), []).append(zone)
        hostname = ctx["hostname"]
        draft.nodes[hostname] = Node(
            hostname, "router", site.id, ip_of(ctx["management"]["address"]), tuple(attachments), device=device.name
        )


def _add_servers(draft: _Draft) -> None:
    """Every DC host of the model, in its zone's network, routed by the zone's gateway."""
    network, allocations = draft.network, draft.allocations
    for site in network.sites.values():
        for host in site.hosts:
            key = f"{site.id}/{host.name}"
            entry = allocations.hosts.get(key)
            subnet = allocations.zones.get(f"{site.id}/{host.zone}")
            if entry is None or subnet is None:
                raise LabError(
                    Problem(
                        "allocations.yml",
                        network.path(site),
                        f"hosts[{host.name}]",
                        "has no allocation: run `jinbao plan` for this environment first",
                    )
                )
            name = f"zone:{site.id}/{host.zone}"
            draft.nets.setdefault(name, Net(name, "zone", subnet, f"zone {host.zone} of {site.id}"))
            _, length = to_int(subnet)
            hostname = network.hostname(site, host.name)
            draft.nodes[hostname] = Node(
                hostname,
                "server",
                site.id,
                entry["management"],
                (Attachment("mgmt", "eth0"), Attachment(name, HOST_PORT, f"{entry['address']}/{length}")),
                draft.zone_gateways.get(name),  # unrouted zones (the DMZ) have none: the WAN never reaches them
                device=host.name,
            )


def _add_internet_sides(draft: _Draft) -> None:
    """The internet side of the zones the WAN never routes (the DMZ), where an edge layer guards them."""
    for key, subnet in sorted(draft.allocations.zones.items()):
        site_id, zone = key.split("/", 1)
        layer = _internet_layer(draft.policy, zone) if zone in draft.network.policy.unrouted_zones else None
        if layer is None or f"zone:{key}" not in draft.nets:
            continue
        uplink = f"uplink:{key}"
        draft.nets[uplink] = Net(uplink, "uplink", subnet, f"zone {zone} of {site_id}, internet side")
        draft.firewalls.setdefault((site_id, layer), []).append(zone)
        draft.probes.append((site_id, zone, zones.internet_edge_of(site_id, zone, subnet, draft.allocations)))


def _add_stand_ins(draft: _Draft, gatekeepers: dict) -> None:
    """The lab's stand-ins (firewalls, internet probes, gatekeepers), management from the top down."""
    network, nodes = draft.network, draft.nodes
    supernet = network.addressing.management.supernet
    start, length = to_int(supernet)
    taken = {n.management for n in nodes.values()}
    stand_ins = iter(range(start + 2 ** (32 - length) - 2, start, -1))  # the last usable address, then down

    def stand_in(site, device: str, kind: str, attachments: list[Attachment], **extra) -> None:
        management = to_ip(next(stand_ins))
        if management in taken:
            raise LabError(
                Problem(
                    "addressing.yml", "", "management.supernet", f"too small for the lab's stand-ins ({management})"
                )
            )
        name = network.hostname(site, device)
        attached = (Attachment("mgmt", "eth0"), *attachments)
        nodes[name] = Node(name, kind, site.id, management, attached, device=device, **extra)

    layers = [x.name for x in draft.policy.layers] if draft.policy is not None else []
    for (site_id, layer), guarded in sorted(draft.firewalls.items(), key=lambda i: (i[0][0], layers.index(i[0][1]))):
        site = network.sites[site_id]
        bridges = tuple(
            (z, _port("o", z, network.path(site)), _port("i", z, network.path(site))) for z in sorted(guarded)
        )
        attachments = []
        for zone, outside, inside in bridges:
            attachments += [
                Attachment(f"uplink:{site_id}/{zone}", outside),
                Attachment(f"zone:{site_id}/{zone}", inside),
            ]
        stand_in(site, f"fw-{layer}", "firewall", attachments, layer=layer, bridges=bridges)
    # the internet, as a DMZ sees it: a probe on the firewall's outside, no route beyond
    for site_id, zone, address in draft.probes:
        uplink = Attachment(f"uplink:{site_id}/{zone}", HOST_PORT, address)
        stand_in(network.sites[site_id], f"internet-{zone}", "probe", [uplink])
    # the gatekeeper of a DC: a leg in each zone it ferries between, no route, no forwarding
    for site_id, gk in sorted(gatekeepers.items()):
        site = network.sites[site_id]
        legs = tuple((z, _port("g", z, network.path(site)), leg) for z, leg in sorted(gk.legs.items()))
        attached = [Attachment(f"zone:{site_id}/{z}", port, leg) for z, port, leg in legs]
        stand_in(site, "gatekeeper", "gatekeeper", attached, legs=legs)
