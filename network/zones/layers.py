"""The firewall layers: the compiled flows that cross a layer, as that layer sees them, in its
vendor's syntax (templates <vendor>/zones.j2), and the files of every layer of every DC."""

from __future__ import annotations

from dataclasses import dataclass

from network.errors import JinbaoError, Problem
from network.zones.compile import flows_to_rules, wan_zone
from network.zones.paths import hop_on
from network.zones.schema import ANY, FILE, LayerSpec, PolicySpec

SUFFIX = {"nftables": "nft", "huawei_usg": "cfg"}


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
    name: str = ""  # its name on a device (USG): the flow id; `<id>-out`/`<id>-in` for a flow across sites


def _layer(policy: PolicySpec, layer: str) -> LayerSpec:
    spec = next((x for x in policy.layers if x.name == layer), None)
    if spec is None:
        raise JinbaoError(Problem(FILE, "", "layers", f"no layer named {layer}"))
    return spec


def compile_rules(policy: PolicySpec, network, allocations, dc: str, layer: str) -> list[Rule]:
    """The permits of one firewall layer of one DC site, in flow order."""
    spec = _layer(policy, layer)
    across = {f.id for f in policy.flows if f.across}
    wan = wan_zone(policy)
    rules = []
    for rule in flows_to_rules(policy, dc, network, allocations):
        hop = hop_on(policy, rule.source, rule.to, spec)
        if hop is None:
            continue
        comment = f"{rule.flow} {rule.source}->{rule.to} {rule.service}"[:120]
        name = rule.flow if rule.flow not in across else f"{rule.flow}-{'out' if rule.to == wan else 'in'}"
        rules.append(
            Rule(rule.flow, *hop, rule.sources, rule.dests, rule.service, rule.proto, rule.ports, comment, name)
        )
    return rules


def zones_of(policy: PolicySpec, layer: str, dc: str, allocations) -> dict[str, str | None]:
    """The zones one layer separates in a DC, with their subnets (None: the internet)."""
    spec = _layer(policy, layer)
    return {
        z: (None if policy.zones[z].kind == "internet" else allocations.zones.get(f"{dc}/{z}"))
        for z in spec.zones
        if policy.zones[z].kind == "internet" or f"{dc}/{z}" in allocations.zones
    }


def render(
    policy: PolicySpec, network, allocations, dc: str, layer: str, vendor: str | None = None, extra: tuple = ()
) -> str:
    """The layer's configuration in its vendor's syntax (`vendor`: another one, e.g. the lab
    runs every layer as nftables; `extra`: permits of other layers it also carries there)."""
    from network.render.engine import environment

    spec = _layer(policy, layer)
    rules = [*compile_rules(policy, network, allocations, dc, layer), *extra]
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
