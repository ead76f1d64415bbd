"""Security zones as code: inventories/<env>/zones.yml, validated against the level-3 rules
and compiled into firewall rules (nftables for Linux firewalls, Huawei USG security-policy).

A flow names a source and a destination (a zone, or ``zone/role`` for the hosts of one role
in it), a service, why it exists, who owns it and when it is reviewed next. Validation refuses
what the protection rules forbid, naming the flow:

- nothing from the internet or a partner zone to the core database;
- the core database's database service only from the middleware, and for audited maintenance
  from the operations zone's administration hosts (B/S three tiers, level 3);
- a ``zone/role`` end that no DC of the environment has (it would compile to nothing);
- the internet reaches only the DMZ; the DMZ reaches the internal network only through the
  gatekeeper (``via: gatekeeper``: a ferry of files, never an IP path);
- ``any`` as a service or an address only with a waiver (reason, approver, expiry);
- every firewall flow crosses a declared firewall layer, and adjacent layers (sharing a zone)
  are of different vendors.

Addresses are never written here: a zone's subnet and its hosts come from allocations.yml.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from network.errors import JinbaoError, ModelError, Problem
from network.model.schema import Slug, Strict

FILE = "zones.yml"
ANY = "any"
Kind = Literal["core", "internal", "ops", "external", "partner", "dmz", "internet", "wan"]
UNTRUSTED = ("internet", "partner")
# The core database's database service (PostgreSQL, by name or by its port under another
# name) is reached by the middleware of an internal zone, and for maintenance by the
# administration hosts of the operations zone (ops/ops), and by nothing else.
DATABASE_SERVICE = ("postgresql", "tcp", 5432)
DATABASE_CLIENTS = {"internal": ("middleware",), "ops": ("ops",)}  # zone kind -> roles
# content types the gatekeeper can check (well-formed, no DTD or entities, size): a ferry
# may carry only these
CHECKED_CONTENT = ("application/xml", "application/json")
FERRY_ACCOUNT = "jinbao-ferry"  # the account a ferry end keeps for its gatekeeper, and nothing else
SPOOLS = "/var/spool/jinbao"  # a ferry's spool on each end: <SPOOLS>/<ferry>


class ZoneSpec(Strict):
    title: str = Field(min_length=1)
    kind: Kind


class ServiceSpec(Strict):
    proto: Literal["tcp", "udp"]
    ports: tuple[int, ...] = Field(min_length=1)

    def model_post_init(self, _context) -> None:
        if not all(1 <= p <= 65535 for p in self.ports):
            raise ValueError("ports are 1-65535")


class WaiverSpec(Strict):
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    expires: dt.date


class FerrySpec(Strict):
    """What the gatekeeper carries for a `via: gatekeeper` flow: files, checked, one way."""

    content: tuple[str, ...] = Field(min_length=1)  # accepted content types, e.g. application/xml
    max_bytes: int = Field(gt=0)


class FlowSpec(Strict):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,31}$")
    source: str = Field(alias="from")
    to: str
    service: str
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    review: dt.date
    via: Literal["firewall", "gatekeeper"] = "firewall"
    waiver: WaiverSpec | None = None


class LayerSpec(Strict):
    name: Slug
    vendor: Literal["nftables", "huawei_usg"]
    zones: tuple[Slug, ...] = Field(min_length=2)


class PolicySpec(Strict):
    zones: dict[Slug, ZoneSpec]
    services: dict[Slug, ServiceSpec]
    ferries: dict[Slug, FerrySpec] = Field(default_factory=dict)
    layers: tuple[LayerSpec, ...] = ()
    flows: tuple[FlowSpec, ...] = ()


@dataclass(frozen=True)
class Rule:
    """One compiled permit: a flow in one DC, on one firewall layer."""

    flow: str
    source_zone: str  # the zones as this layer sees them: where the flow enters and leaves it
    dest_zone: str
    sources: tuple[str, ...]  # CIDRs; () = any
    dests: tuple[str, ...]
    service: str  # the service's name in zones.yml (`any`: waived)
    proto: str | None  # None: any service (waived)
    ports: tuple[int, ...]
    comment: str


def _where(i: int, flow: FlowSpec | dict) -> str:
    if isinstance(flow, FlowSpec):
        return f"flows[{i}] ({flow.id}: {flow.source} → {flow.to} {flow.service})"
    return f"flows[{i}]" + (f" ({flow.get('id')})" if isinstance(flow, dict) and flow.get("id") else "")


def _zone_of(endpoint: str) -> str:
    return endpoint.split("/", 1)[0]


def _role_of(endpoint: str) -> str:
    return endpoint.partition("/")[2]


def _inside_one_zone(flow: FlowSpec) -> bool:
    """A flow between two roles of one zone (web -> middleware in `internal`): no firewall layer
    stands there, so no layer compiles it; the cloud's per-role security groups do."""
    return ANY not in (flow.source, flow.to) and _zone_of(flow.source) == _zone_of(flow.to)


def load(env: Path, today: dt.date | None = None, network=None) -> PolicySpec:
    """Read and validate inventories/<env>/zones.yml; every problem at once, naming the flow.
    `network`: the environment's model, when the caller has it (else sites.yml is read here,
    without writing a cache): a flow end `zone/role` must name hosts some DC has."""
    from network.model.load import read_yaml

    path = Path(env) / FILE
    if not path.exists():
        raise ModelError(Problem(FILE, "", "", f"does not exist in {env}"))
    raw = read_yaml(path, FILE) or {}
    try:
        policy = PolicySpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = ""
            if loc and loc[0] == "flows" and len(loc) > 1 and isinstance(loc[1], int):
                flows = raw.get("flows") or []
                where = _where(loc[1], flows[loc[1]] if loc[1] < len(flows) else {})
                loc = loc[2:]
            problems.append(Problem(FILE, where, ".".join(str(x) for x in loc), err["msg"]))
        raise ModelError(problems) from None
    if network is None:
        from network.model import load as load_model

        network = load_model(env, cache=False)
    problems = validate(policy, today) + unplaced_roles(policy, network)
    if problems:
        raise ModelError(problems)
    return policy


def unplaced_roles(policy: PolicySpec, network) -> list[Problem]:
    """Flow ends `zone/role` with no such host in any DC of the environment: they would
    compile to nothing, silently (a typo, or a role renamed in sites.yml)."""
    placed = {(h.zone, h.role) for site in network.sites.values() for h in site.hosts}
    problems = []
    for i, flow in enumerate(policy.flows):
        for field, endpoint in (("from", flow.source), ("to", flow.to)):
            zone, _, role = endpoint.partition("/")
            if role and (zone, role) not in placed:
                problems.append(
                    Problem(
                        FILE,
                        _where(i, flow),
                        field,
                        f"no DC of {network.name} has a host of role {role!r} in zone {zone!r} (sites.yml "
                        "hosts): the flow would compile to nothing",
                    )
                )
    return problems


def load_if_any(env: Path, network=None) -> PolicySpec | None:
    """The environment's zone policy, or None when it has no zones.yml. `network`: the model,
    when the caller has it (it is not loaded again)."""
    return load(env, network=network) if (Path(env) / FILE).exists() else None


def validate(policy: PolicySpec, today: dt.date | None = None) -> list[Problem]:
    today = today or dt.date.today()
    problems: list[Problem] = []
    ids = [f.id for f in policy.flows]
    for i, flow in enumerate(policy.flows):
        where = _where(i, flow)

        def refuse(field: str, message: str, where=where) -> None:
            problems.append(Problem(FILE, where, field, message))

        if ids.count(flow.id) > 1:
            refuse("id", "is used by another flow")
        ends = {}
        for field, endpoint in (("from", flow.source), ("to", flow.to)):
            if endpoint == ANY:
                ends[field] = None
                continue
            zone = _zone_of(endpoint)
            if zone not in policy.zones:
                refuse(field, f"zone {zone!r} is not declared under zones:")
            else:
                ends[field] = policy.zones[zone]
        known = policy.ferries if flow.via == "gatekeeper" else policy.services
        if flow.service != ANY and flow.service not in known:
            section = "ferries" if flow.via == "gatekeeper" else "services"
            refuse("service", f"{flow.service!r} is not declared under {section}:")
        inside = _inside_one_zone(flow)
        if inside and not (_role_of(flow.source) and _role_of(flow.to) and flow.source != flow.to):
            refuse("to", "a flow inside one zone runs between two of its roles: name both ends as zone/role")
        if inside and flow.via == "gatekeeper":
            refuse("via", "the gatekeeper stands between zones, not inside one")
        wildcard = [f for f, v in (("from", flow.source), ("to", flow.to), ("service", flow.service)) if v == ANY]
        if wildcard:
            if flow.waiver is None:
                refuse(", ".join(wildcard), "is `any`: it needs a waiver (reason, approved_by, expires)")
            elif flow.waiver.expires < today:
                refuse("waiver.expires", f"the waiver expired on {flow.waiver.expires}")
        src, dst = ends.get("from"), ends.get("to")
        src_kind = src.kind if src else ("internet" if flow.source == ANY else None)
        dst_kind = dst.kind if dst else None
        if src_kind in UNTRUSTED and (dst_kind == "core" or flow.to == ANY):
            refuse("to", f"nothing from the {src_kind} zone may reach the core database")
        elif (dst_kind == "core" or flow.to == ANY) and _is_database_service(policy, flow):
            clients = _database_clients(policy)
            if flow.source not in clients:
                refuse(
                    "from",
                    f"the core database's database service is reached only by {' and '.join(clients)} "
                    "(the middleware; audited maintenance from the operations zone's administration hosts), "
                    "by nothing else (B/S three tiers, level 3)",
                )
        if src_kind == "internet" and dst_kind not in ("dmz", None) and flow.to != ANY:
            refuse("to", "the internet reaches the DMZ only; inward it goes through the gatekeeper")
        if (
            src_kind == "dmz"
            and dst_kind in ("core", "internal", "ops", "external", "wan")
            and flow.via != "gatekeeper"
        ):
            refuse("via", "the DMZ reaches the internal network only through the gatekeeper (via: gatekeeper)")
        if flow.via == "gatekeeper" and not (src_kind == "dmz" or dst_kind == "dmz"):
            refuse("via", "the gatekeeper stands between the DMZ and the internal network only")
        if flow.via == "gatekeeper" and ANY in (flow.source, flow.to):
            refuse("from" if flow.source == ANY else "to", "a ferry runs between hosts: name a zone or zone/role")
        if flow.via == "firewall" and src and dst and not inside and not _layers_for(policy, flow):
            refuse("from", f"no firewall layer stands between {_zone_of(flow.source)} and {_zone_of(flow.to)}")
    for name, ferry in policy.ferries.items():
        unchecked = [c for c in ferry.content if c not in CHECKED_CONTENT]
        if unchecked:
            problems.append(
                Problem(
                    FILE,
                    f"ferries[{name}]",
                    "content",
                    f"{', '.join(unchecked)}: the gatekeeper checks only {', '.join(CHECKED_CONTENT)}",
                )
            )
    for i, layer in enumerate(policy.layers):
        for zone in layer.zones:
            if zone not in policy.zones:
                problems.append(Problem(FILE, f"layers[{i}] ({layer.name})", "zones", f"{zone!r} is not a zone"))
        for other in policy.layers[i + 1 :]:
            if set(layer.zones) & set(other.zones) and layer.vendor == other.vendor:
                problems.append(
                    Problem(
                        FILE,
                        f"layers[{i}] ({layer.name})",
                        "vendor",
                        f"adjacent to {other.name} (they share {', '.join(sorted(set(layer.zones) & set(other.zones)))}"
                        f") and of the same vendor {layer.vendor}: adjacent layers must differ",
                    )
                )
    return problems


def _is_database_service(policy: PolicySpec, flow: FlowSpec) -> bool:
    """The flow opens the core database's database service: by name, by its port under
    another name, or as `any` service. A gatekeeper's ferry carries files, no IP service."""
    name, proto, port = DATABASE_SERVICE
    if flow.via != "firewall":
        return False
    if flow.service in (ANY, name):
        return True
    spec = policy.services.get(flow.service)
    return spec is not None and spec.proto == proto and port in spec.ports


def _database_clients(policy: PolicySpec) -> list[str]:
    """The only sources the core database's database service admits, as flow ends."""
    return [f"{zone}/{role}" for zone, spec in policy.zones.items() for role in DATABASE_CLIENTS.get(spec.kind, ())]


def _path(policy: PolicySpec, flow: FlowSpec) -> list[tuple[LayerSpec, str, str]]:
    """The firewall layers a flow crosses, in order, each with the zones it enters from and
    leaves to as that layer sees them: zones attach to layers, and a flow goes along the
    shortest chain of layers between its two zones (`any` at one end: each layer that
    touches the other end's zone, seen from that zone)."""
    a, b = _zone_of(flow.source), _zone_of(flow.to)
    if _inside_one_zone(flow):
        return []
    if ANY in (a, b):
        zone = b if a == ANY else a
        return [
            (layer, ANY, zone) if a == ANY else (layer, zone, ANY) for layer in policy.layers if zone in layer.zones
        ]
    frontier, seen = [(a, [])], {a}
    while frontier:
        following = []
        for zone, path in frontier:
            for layer in policy.layers:
                if zone not in layer.zones:
                    continue
                for neighbour in layer.zones:
                    if neighbour == b:
                        return [*path, (layer, zone, neighbour)]
                    if neighbour not in seen:
                        seen.add(neighbour)
                        following.append((neighbour, [*path, (layer, zone, neighbour)]))
        frontier = following
    return []


def _layers_for(policy: PolicySpec, flow: FlowSpec) -> list[LayerSpec]:
    return [layer for layer, _, _ in _path(policy, flow)]


def overdue(policy: PolicySpec, today: dt.date | None = None) -> list[FlowSpec]:
    """Flows past their review date: still compiled, listed for the periodic cleanup."""
    today = today or dt.date.today()
    return [f for f in policy.flows if f.review < today]


# --- compiling ------------------------------------------------------------------------
def _addresses(endpoint: str, dc: str, network, allocations) -> tuple[str, ...] | None:
    """CIDRs of an endpoint in one DC; None when the zone (or role) has nothing there."""
    if endpoint == ANY:
        return ()
    zone, _, role = endpoint.partition("/")
    if not role:
        subnet = allocations.zones.get(f"{dc}/{zone}")
        return (subnet,) if subnet else None
    found = tuple(f"{address}/32" for _, address in _endpoint_hosts(endpoint, dc, network, allocations))
    return found or None


def _endpoint_hosts(endpoint: str, dc: str, network, allocations) -> list[tuple[str, str]]:
    """(inventory hostname, address) of the hosts of a `zone` or `zone/role` endpoint in one DC."""
    zone, _, role = endpoint.partition("/")
    site = network.sites[dc]
    return [
        (network.hostname(site, h.name), allocations.hosts[f"{dc}/{h.name}"]["address"])
        for h in site.hosts
        if h.zone == zone and role in ("", h.role) and f"{dc}/{h.name}" in allocations.hosts
    ]


def wan_addresses(network, allocations) -> tuple[str, ...]:
    """The private WAN as the DC's firewalls see it: every site LAN, line and router loopback
    IPAM handed out, and the DC routers' own legs in the routed zones (the first address of
    each: what a DC router speaks from to a host of the zone, its syslog and NTP), collapsed
    (the pools are contiguous, so the list stays short)."""
    from network.render.context import gateway_of

    nets = [ipaddress.ip_network(s["lan"]) for s in allocations.sites.values() if s.get("lan")]
    nets += [ipaddress.ip_network(link["subnet"]) for link in allocations.links.values()]
    nets += [ipaddress.ip_network(f"{d['loopback']}/32") for d in allocations.devices.values() if d.get("loopback")]
    unrouted = set(network.policy.unrouted_zones)
    nets += [
        ipaddress.ip_network(ipaddress.ip_interface(gateway_of(subnet)).ip)
        for key, subnet in allocations.zones.items()
        if key.split("/", 1)[1] not in unrouted
    ]
    return tuple(str(n) for n in ipaddress.collapse_addresses(nets))


def endpoint_addresses(policy: PolicySpec, endpoint: str, dc: str, network, allocations) -> tuple[str, ...] | None:
    """CIDRs of a flow end in one DC: () for the internet or `any`; None when the DC lacks it."""
    zone = policy.zones.get(_zone_of(endpoint))
    if zone is not None and zone.kind == "internet":
        return ()  # the internet has no subnet of its own: any address, on the layer's outside
    if zone is not None and zone.kind == "wan":
        return wan_addresses(network, allocations)  # the routers and sites of the WAN, wherever they are
    return _addresses(endpoint, dc, network, allocations)


def admitted(policy: PolicySpec, service: str, dc: str, zone: str, role: str, network, allocations) -> tuple[str, ...]:
    """CIDRs that firewall flows let reach `service` on a host of zone/role in one DC: what the
    host's own ACL admits besides the management network (ssh from the operations host). A
    flow from the internet or `any` widens nothing here: the host stays the stricter layer."""
    found: set[str] = set()
    for flow in policy.flows:
        to_zone, _, to_role = flow.to.partition("/")
        if flow.via != "firewall" or flow.service != service or to_zone != zone or to_role not in ("", role):
            continue
        found |= set(endpoint_addresses(policy, flow.source, dc, network, allocations) or ())
    return tuple(sorted(found, key=_sort_key))


@dataclass(frozen=True)
class FerryEnd:
    host: str  # inventory hostname
    address: str  # its address in its zone


@dataclass(frozen=True)
class Ferry:
    """One `via: gatekeeper` flow in one DC: files from the sources' spools to the destinations'."""

    flow: str
    name: str  # the ferries: entry, also the spool's name on both ends
    source_zone: str
    to_zone: str
    sources: tuple[FerryEnd, ...]
    destinations: tuple[FerryEnd, ...]
    content: tuple[str, ...]
    max_bytes: int

    @property
    def spool(self) -> str:
        return f"{SPOOLS}/{self.name}"

    def ends(self):
        """(side, zone, end) for every host at either end: sources first."""
        for side, zone, members in (
            ("source", self.source_zone, self.sources),
            ("destination", self.to_zone, self.destinations),
        ):
            for end in members:
                yield side, zone, end


@dataclass(frozen=True)
class Gatekeeper:
    site: str
    legs: dict[str, str]  # zone → the gatekeeper's address in it (with the zone's prefix)
    ferries: tuple[Ferry, ...]

    def leg_towards(self, zone: str) -> str:
        return self.legs[zone].split("/", 1)[0]

    def ends(self) -> list[dict]:
        """Each host the gatekeeper logs in to: its address, the leg it is reached from, and the
        ferries it serves there (side and size limit); one login per host, so one key line."""
        hosts: dict[str, dict] = {}
        for ferry in self.ferries:
            for side, zone, end in ferry.ends():
                leg = self.leg_towards(zone)
                entry = hosts.setdefault(
                    end.host, {"host": end.host, "address": end.address, "leg": leg, "ferries": {}}
                )
                entry["ferries"][ferry.name] = {"side": side, "max_bytes": ferry.max_bytes, "spool": ferry.spool}
        return sorted(hosts.values(), key=lambda e: e["host"])


def internet_edge_of(dc: str, zone: str, subnet: str, allocations) -> str:
    """Where the internet meets a zone the WAN never routes (the DMZ): the address its edge
    router holds there (render.context.internet_edge_of). An address a host holds is refused,
    naming the zone."""
    from network.render.context import internet_edge_of as edge

    what = "the internet edge's address (second-last usable)"
    return _untaken(edge(subnet), what, dc, zone, subnet, allocations)


def _untaken(address: str, what: str, dc: str, zone: str, subnet: str, allocations) -> str:
    """`address` (with its prefix), unless the zone's router or a host of the DC holds it."""
    from network.render.context import gateway_of, ip_of

    holders = {ip_of(gateway_of(subnet)): "the zone's router"} | {
        e["address"]: key for key, e in allocations.hosts.items() if key.startswith(f"{dc}/")
    }
    holder = holders.get(ip_of(address))
    if holder:
        raise JinbaoError(
            Problem("allocations.yml", dc, f"zones[{dc}/{zone}]", f"{what} {ip_of(address)} is taken by {holder}")
        )
    return address


def _ferry_ends(endpoint: str, dc: str, network, allocations) -> tuple[FerryEnd, ...]:
    return tuple(FerryEnd(host, address) for host, address in _endpoint_hosts(endpoint, dc, network, allocations))


def gatekeepers(policy: PolicySpec, network, allocations) -> dict[str, Gatekeeper]:
    """The gatekeeper of each DC site where a `via: gatekeeper` flow has hosts at both ends: a
    leg in each zone its ferries touch, on the zone's last usable address, and what it ferries.
    An address some host or the zone's router already holds is refused, naming the zone."""
    from network.render.context import gatekeeper_leg_of

    found: dict[str, Gatekeeper] = {}
    for dc in network.sites:
        ferries = []
        for flow in policy.flows:
            if flow.via != "gatekeeper" or ANY in (flow.source, flow.to):
                continue
            sources = _ferry_ends(flow.source, dc, network, allocations)
            destinations = _ferry_ends(flow.to, dc, network, allocations)
            if not sources or not destinations:
                continue  # this DC has no such hosts (a DR site mirrors part of the DC)
            spec = policy.ferries[flow.service]
            ferries.append(
                Ferry(
                    flow.id,
                    flow.service,
                    _zone_of(flow.source),
                    _zone_of(flow.to),
                    sources,
                    destinations,
                    spec.content,
                    spec.max_bytes,
                )
            )
        if not ferries:
            continue
        legs = {}
        for zone in sorted({z for f in ferries for z in (f.source_zone, f.to_zone)}):
            subnet = allocations.zones[f"{dc}/{zone}"]
            what = "the gatekeeper's leg (the zone's last usable address)"
            legs[zone] = _untaken(gatekeeper_leg_of(subnet), what, dc, zone, subnet, allocations)
        found[dc] = Gatekeeper(dc, legs, tuple(ferries))
    return found


def ferry_logins(gatekeeper_map: dict[str, Gatekeeper]) -> dict[str, list[dict]]:
    """Host → the ferry ends it serves: which ferry, which side, and the gatekeeper's address
    that alone may log in for it (its leg in the host's zone)."""
    ends: dict[str, list[dict]] = {}
    for gk in gatekeeper_map.values():
        for ferry in gk.ferries:
            for side, zone, end in ferry.ends():
                leg = gk.leg_towards(zone)
                ends.setdefault(end.host, []).append(
                    {
                        "ferry": ferry.name,
                        "flow": ferry.flow,
                        "side": side,
                        "gatekeeper": leg,
                        "login": f"{FERRY_ACCOUNT}@{leg}",  # sshd's AllowUsers form
                        "content": list(ferry.content),  # what a producer may queue
                        "max_bytes": ferry.max_bytes,
                        "spool": ferry.spool,
                    }
                )
    return ends


def compile_rules(policy: PolicySpec, network, allocations, dc: str, layer: str) -> list[Rule]:
    """The permits of one firewall layer of one DC site, in flow order."""
    spec = next((x for x in policy.layers if x.name == layer), None)
    if spec is None:
        raise JinbaoError(Problem(FILE, "", "layers", f"no layer named {layer}"))
    rules = []
    for flow in policy.flows:
        hop = next(((i, o) for x, i, o in _path(policy, flow) if x == spec), None) if flow.via == "firewall" else None
        if hop is None:
            continue
        sources = endpoint_addresses(policy, flow.source, dc, network, allocations)
        dests = endpoint_addresses(policy, flow.to, dc, network, allocations)
        if sources is None or dests is None:
            continue  # this DC has no such zone or role (a DR site mirrors part of the DC)
        service = policy.services.get(flow.service)
        rules.append(
            Rule(
                flow.id,
                hop[0],
                hop[1],
                tuple(sorted(sources, key=_sort_key)),
                tuple(sorted(dests, key=_sort_key)),
                flow.service,
                service.proto if service else None,
                service.ports if service else (),
                f"{flow.id} {flow.source}->{flow.to} {flow.service}"[:120],
            )
        )
    return rules


def _sort_key(cidr: str):
    return ipaddress.ip_network(cidr)


def zones_of(policy: PolicySpec, layer: str, dc: str, allocations) -> dict[str, str | None]:
    """The zones one layer separates in a DC, with their subnets (None: the internet)."""
    spec = next(x for x in policy.layers if x.name == layer)
    return {
        z: (None if policy.zones[z].kind == "internet" else allocations.zones.get(f"{dc}/{z}"))
        for z in spec.zones
        if policy.zones[z].kind == "internet" or f"{dc}/{z}" in allocations.zones
    }


def render(policy: PolicySpec, network, allocations, dc: str, layer: str, vendor: str | None = None) -> str:
    """The layer's configuration in its vendor's syntax (`vendor`: another one, e.g. the lab
    runs every layer as nftables)."""
    from network.render.engine import environment

    spec = next((x for x in policy.layers if x.name == layer), None)
    if spec is None:
        raise JinbaoError(Problem(FILE, "", "layers", f"no layer named {layer}"))
    rules = compile_rules(policy, network, allocations, dc, layer)
    used = sorted({f.service for f in policy.flows if f.service != ANY and f.id in {r.flow for r in rules}})
    template = environment().get_template(f"{vendor or spec.vendor}/zones.j2")
    return template.render(
        site=dc,
        layer=spec,
        zones=zones_of(policy, layer, dc, allocations),
        kinds={z: policy.zones[z].kind for z in policy.zones},
        rules=rules,
        services={name: policy.services[name] for name in used},
    )


# --- files and the stale-rule report ---------------------------------------------------
SUFFIX = {"nftables": "nft", "huawei_usg": "cfg"}


def render_all(policy: PolicySpec, network, allocations, vendor: str | None = None) -> dict[str, str]:
    """`<dc>-<layer>.<nft|cfg>` → text, for every DC site and every layer with a zone there
    (`vendor`: every layer in that syntax)."""
    found = {}
    for site in network.sites.values():
        if site.tier != "datacenter" or not site.hosts:
            continue
        for layer in policy.layers:
            if len(zones_of(policy, layer.name, site.id, allocations)) < 2:
                continue  # a layer with one zone (or none) in this DC separates nothing here
            text = render(policy, network, allocations, site.id, layer.name, vendor)
            found[f"{site.id}-{layer.name}.{SUFFIX[vendor or layer.vendor]}"] = text
    return found


def stale_usg(display_output: str, since: dt.datetime | dt.date | str) -> list[dict]:
    """The same report from a Huawei USG: `display security-policy rule all` lists each rule
    with its hit count (since the counters were last cleared: `since`)."""
    found = []
    for line in display_output.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit() and fields[-2] in ("permit", "deny") and fields[-1].isdigit():
            name, action, hits = fields[1], fields[-2], int(fields[-1])
            if action == "permit" and hits == 0:
                found.append({"flow": name, "comment": name, "packets": 0, "since": str(since)})
    return found


def stale(ruleset_json: str, loaded: dt.datetime | dt.date | str) -> list[dict]:
    """Permits of a loaded nftables ruleset (`nft -j list table inet jinbao_zones`) that
    matched nothing since it was loaded: flow id, comment, packets. nftables counters start
    at zero when the table is (re)loaded, so "since" is the load time."""
    import json

    rules = []
    for item in json.loads(ruleset_json).get("nftables", []):
        rule = item.get("rule")
        if not rule or rule.get("table") != "jinbao_zones":
            continue
        comment = rule.get("comment", "")
        verdict = any("accept" in expr for expr in rule.get("expr", []))
        counter = next((expr["counter"] for expr in rule.get("expr", []) if "counter" in expr), None)
        if not verdict or counter is None:
            continue
        flow = comment.split(" ", 1)[0]
        rules.append({"flow": flow, "comment": comment, "packets": counter.get("packets", 0), "since": str(loaded)})
    return [r for r in rules if r["packets"] == 0]
