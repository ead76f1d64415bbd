"""Which firewall layers a flow crosses: zones attach to layers, and a flow goes along the
shortest chain of layers between its two zones."""

from __future__ import annotations

from network.zones.schema import ANY, LayerSpec, PolicySpec, zone_of

Hop = tuple[LayerSpec, str, str]  # a layer, and the zones the flow enters it from and leaves it to


def inside_one_zone(source: str, to: str) -> bool:
    """A flow between two roles of one zone (web -> middleware in `internal`): no firewall layer
    stands there, so no layer compiles it; the cloud's per-role security groups do."""
    return ANY not in (source, to) and zone_of(source) == zone_of(to)


def path(policy: PolicySpec, source: str, to: str) -> list[Hop]:
    """The firewall layers a flow from `source` to `to` crosses, in order, each with the zones it
    enters from and leaves to as that layer sees them (`any` at one end: each layer that
    touches the other end's zone, seen from that zone)."""
    a, b = zone_of(source), zone_of(to)
    if inside_one_zone(source, to):
        return []
    if ANY in (a, b):
        zone = b if a == ANY else a
        return [
            (layer, ANY, zone) if a == ANY else (layer, zone, ANY) for layer in policy.layers if zone in layer.zones
        ]
    return _shortest(policy, a, b)


def _shortest(policy: PolicySpec, a: str, b: str) -> list[Hop]:
    """Breadth first from zone a, one layer at a time, until a layer holds zone b."""
    frontier, seen = [(a, [])], {a}
    while frontier:
        following = []
        for zone, hops in frontier:
            for layer in (x for x in policy.layers if zone in x.zones):
                for neighbour in layer.zones:
                    if neighbour == b:
                        return [*hops, (layer, zone, neighbour)]
                    if neighbour not in seen:
                        seen.add(neighbour)
                        following.append((neighbour, [*hops, (layer, zone, neighbour)]))
        frontier = following
    return []


def hop_on(policy: PolicySpec, source: str, to: str, layer: LayerSpec) -> tuple[str, str] | None:
    """The zones a flow enters `layer` from and leaves it to; None when it does not cross it."""
    return next(((entered, left) for x, entered, left in path(policy, source, to) if x == layer), None)
