"""The protection rules zones.yml must keep (see the package's docstring), each a small check
that names what it refuses: per flow, per ferry, per layer, and the flow ends sites.yml must
place. Every problem is reported at once, in the order of the file."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from network.errors import Problem
from network.zones.compile import wan_zone
from network.zones.paths import inside_one_zone, path
from network.zones.schema import (
    ANY,
    CHECKED_CONTENT,
    DATABASE_CLIENTS,
    DATABASE_SERVICE,
    FILE,
    UNTRUSTED,
    FlowSpec,
    PolicySpec,
    ZoneSpec,
    role_of,
    where,
    zone_of,
)

Finding = tuple[str, str]  # the flow's field, and what is wrong with it


@dataclass(frozen=True)
class _Case:
    """One flow as the checks see it: its declared end zones (None: `any`, or undeclared)."""

    policy: PolicySpec
    flow: FlowSpec
    src: ZoneSpec | None
    dst: ZoneSpec | None
    today: dt.date

    @property
    def src_kind(self) -> str | None:
        return self.src.kind if self.src else ("internet" if self.flow.source == ANY else None)

    @property
    def dst_kind(self) -> str | None:
        return self.dst.kind if self.dst else None

    @property
    def inside(self) -> bool:
        return inside_one_zone(self.flow.source, self.flow.to) and not self.flow.across

    @property
    def to_core(self) -> bool:
        return self.dst_kind == "core" or self.flow.to == ANY


def validate(policy: PolicySpec, today: dt.date | None = None) -> list[Problem]:
    today = today or dt.date.today()
    problems: list[Problem] = []
    ids = Counter(f.id for f in policy.flows)
    for i, flow in enumerate(policy.flows):
        found: list[Finding] = [("id", "is used by another flow")] if ids[flow.id] > 1 else []
        ends = {field: _declared_zone(policy, endpoint) for field, endpoint in (("from", flow.source), ("to", flow.to))}
        found += [(field, message) for field, (_, message) in ends.items() if message]
        case = _Case(policy, flow, ends["from"][0], ends["to"][0], today)
        for check in FLOW_CHECKS:
            found += check(case)
        problems += [Problem(FILE, where(i, flow), field, message) for field, message in found]
    return problems + _unchecked_ferries(policy) + _layer_problems(policy)


def _declared_zone(policy: PolicySpec, endpoint: str) -> tuple[ZoneSpec | None, str | None]:
    """The zone a flow end names, or why it names none (`any` names none, rightly)."""
    if endpoint == ANY:
        return None, None
    zone = zone_of(endpoint)
    if zone not in policy.zones:
        return None, f"zone {zone!r} is not declared under zones:"
    return policy.zones[zone], None


def _declared_service(case: _Case) -> Iterator[Finding]:
    flow = case.flow
    section = "ferries" if flow.via == "gatekeeper" else "services"
    known = case.policy.ferries if flow.via == "gatekeeper" else case.policy.services
    if flow.service != ANY and flow.service not in known:
        yield "service", f"{flow.service!r} is not declared under {section}:"


def _inside_one_zone(case: _Case) -> Iterator[Finding]:
    flow = case.flow
    if case.inside and not (role_of(flow.source) and role_of(flow.to) and flow.source != flow.to):
        yield "to", "a flow inside one zone runs between two of its roles: name both ends as zone/role"
    if case.inside and flow.via == "gatekeeper":
        yield "via", "the gatekeeper stands between zones, not inside one"


def _waived_wildcards(case: _Case) -> Iterator[Finding]:
    flow = case.flow
    wildcard = [f for f, v in (("from", flow.source), ("to", flow.to), ("service", flow.service)) if v == ANY]
    if wildcard and flow.waiver is None:
        yield ", ".join(wildcard), "is `any`: it needs a waiver (reason, approved_by, expires)"
    elif wildcard and flow.waiver.expires < case.today:
        yield "waiver.expires", f"the waiver expired on {flow.waiver.expires}"


def _core_database(case: _Case) -> Iterator[Finding]:
    """Nothing untrusted reaches the core database; its database service only its clients."""
    if case.src_kind in UNTRUSTED and case.to_core:
        yield "to", f"nothing from the {case.src_kind} zone may reach the core database"
    elif case.to_core and _is_database_service(case.policy, case.flow):
        clients = _database_clients(case.policy)
        replication = case.flow.across is not None and case.flow.source == case.flow.to and "/" in case.flow.to
        if case.flow.source not in clients and not replication:
            yield (
                "from",
                f"the core database's database service is reached only by {' and '.join(clients)} "
                "(the middleware; audited maintenance from the operations zone's bastion, which records "
                "sessions) "
                "and, across a DR pair, by its own replica; by nothing else (B/S three tiers, level 3)",
            )


def _internet_to_the_dmz_only(case: _Case) -> Iterator[Finding]:
    if case.src_kind == "internet" and case.dst_kind not in ("dmz", None) and case.flow.to != ANY:
        yield "to", "the internet reaches the DMZ only; inward it goes through the gatekeeper"


def _dmz_inward_through_the_gatekeeper(case: _Case) -> Iterator[Finding]:
    inward = case.dst_kind in ("core", "internal", "ops", "external", "wan")
    if case.src_kind == "dmz" and inward and case.flow.via != "gatekeeper":
        yield "via", "the DMZ reaches the internal network only through the gatekeeper (via: gatekeeper)"


def _gatekeeper_between_the_dmz_and_hosts(case: _Case) -> Iterator[Finding]:
    flow = case.flow
    if flow.via != "gatekeeper":
        return
    if not (case.src_kind == "dmz" or case.dst_kind == "dmz"):
        yield "via", "the gatekeeper stands between the DMZ and the internal network only"
    if ANY in (flow.source, flow.to):
        yield "from" if flow.source == ANY else "to", "a ferry runs between hosts: name a zone or zone/role"


def _crosses_a_layer(case: _Case) -> Iterator[Finding]:
    flow = case.flow
    crossing = flow.via == "firewall" and case.src and case.dst and not case.inside
    if crossing and flow.across:
        return  # checked by _across_the_wan: each end meets the WAN
    if crossing and not path(case.policy, flow.source, flow.to):
        yield "from", f"no firewall layer stands between {zone_of(flow.source)} and {zone_of(flow.to)}"


def _across_the_wan(case: _Case) -> Iterator[Finding]:
    """A flow across a DR pair leaves one DC for the WAN and enters the other from it: between
    hosts (not `any`), as an IP flow, with a firewall layer between each end and the WAN."""
    flow = case.flow
    if not flow.across:
        return
    wan = wan_zone(case.policy)
    if flow.via != "firewall":
        yield "via", "a flow across sites is an IP flow over the WAN; the gatekeeper stands inside one DC"
    elif ANY in (flow.source, flow.to):
        yield "from" if flow.source == ANY else "to", "a flow across sites runs between hosts: name a zone or zone/role"
    elif wan is None:
        yield "across", "no zone of kind wan is declared for the flow to cross between the sites"
    else:
        for field, a, b in (("from", flow.source, wan), ("to", wan, flow.to)):
            if case.src and case.dst and not path(case.policy, a, b):
                between = f"{zone_of(a)} and {zone_of(b)}"
                yield field, f"no firewall layer stands between {between} (the WAN between the sites)"


FLOW_CHECKS = (
    _declared_service,
    _inside_one_zone,
    _waived_wildcards,
    _core_database,
    _internet_to_the_dmz_only,
    _dmz_inward_through_the_gatekeeper,
    _gatekeeper_between_the_dmz_and_hosts,
    _crosses_a_layer,
    _across_the_wan,
)


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


def _unchecked_ferries(policy: PolicySpec) -> list[Problem]:
    """A ferry carries only content the gatekeeper can check."""
    problems = []
    for name, ferry in policy.ferries.items():
        unchecked = [c for c in ferry.content if c not in CHECKED_CONTENT]
        if unchecked:
            message = f"{', '.join(unchecked)}: the gatekeeper checks only {', '.join(CHECKED_CONTENT)}"
            problems.append(Problem(FILE, f"ferries[{name}]", "content", message))
    return problems


def _layer_problems(policy: PolicySpec) -> list[Problem]:
    """A layer separates declared zones; adjacent layers (sharing a zone) differ in vendor."""
    problems = []
    for i, layer in enumerate(policy.layers):
        where_ = f"layers[{i}] ({layer.name})"
        undeclared = [z for z in layer.zones if z not in policy.zones]
        problems += [Problem(FILE, where_, "zones", f"{z!r} is not a zone") for z in undeclared]
        for other in policy.layers[i + 1 :]:
            shared = set(layer.zones) & set(other.zones)
            if shared and layer.vendor == other.vendor:
                message = (
                    f"adjacent to {other.name} (they share {', '.join(sorted(shared))}) and of the same vendor "
                    f"{layer.vendor}: adjacent layers must differ"
                )
                problems.append(Problem(FILE, where_, "vendor", message))
    return problems


def unplaced_roles(policy: PolicySpec, network) -> list[Problem]:
    """Flow ends `zone/role` with no such host in any DC of the environment: they would
    compile to nothing, silently (a typo, or a role renamed in sites.yml)."""
    placed = {(h.zone, h.role) for site in network.sites.values() for h in site.hosts}
    problems = []
    for i, flow in enumerate(policy.flows):
        if flow.across and not network.dr_pairs():
            message = f"no site of {network.name} is a DR site (sites.yml dr_for): the flow would compile to nothing"
            problems.append(Problem(FILE, where(i, flow), "across", message))
        for field, endpoint in (("from", flow.source), ("to", flow.to)):
            zone, _, role = endpoint.partition("/")
            if role and (zone, role) not in placed:
                message = (
                    f"no DC of {network.name} has a host of role {role!r} in zone {zone!r} (sites.yml "
                    "hosts): the flow would compile to nothing"
                )
                problems.append(Problem(FILE, where(i, flow), field, message))
    return problems


def overdue(policy: PolicySpec, today: dt.date | None = None) -> list[FlowSpec]:
    """Flows past their review date: still compiled, listed for the periodic cleanup."""
    today = today or dt.date.today()
    return [f for f in policy.flows if f.review < today]
