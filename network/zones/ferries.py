"""The gatekeepers: for `via: gatekeeper` flows, each DC's gatekeeper, its legs (a zone's last
usable address) and the ferries it runs between the hosts at both ends, and the logins each
ferry end admits from it. A ferry carries files, one way: no IP path, so no flow rule."""

from __future__ import annotations

from dataclasses import dataclass

from network.ipam.conventions import gatekeeper_leg_of, ip_of
from network.zones.endpoints import endpoint_hosts, untaken
from network.zones.schema import ANY, FERRY_ACCOUNT, SPOOLS, FlowSpec, PolicySpec, zone_of


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
        return ip_of(self.legs[zone])

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


def _ferry_ends(endpoint: str, dc: str, network, allocations) -> tuple[FerryEnd, ...]:
    return tuple(FerryEnd(host, address) for host, address in endpoint_hosts(endpoint, dc, network, allocations))


def _ferry(policy: PolicySpec, flow: FlowSpec, dc: str, network, allocations) -> Ferry | None:
    """The ferry of a `via: gatekeeper` flow in one DC; None when the DC lacks hosts at an end
    (a DR site mirrors part of the DC)."""
    sources = _ferry_ends(flow.source, dc, network, allocations)
    destinations = _ferry_ends(flow.to, dc, network, allocations)
    if not sources or not destinations:
        return None
    spec = policy.ferries[flow.service]
    return Ferry(
        flow.id,
        flow.service,
        zone_of(flow.source),
        zone_of(flow.to),
        sources,
        destinations,
        spec.content,
        spec.max_bytes,
    )


def gatekeepers(policy: PolicySpec, network, allocations) -> dict[str, Gatekeeper]:
    """The gatekeeper of each DC site where a `via: gatekeeper` flow has hosts at both ends: a
    leg in each zone its ferries touch, on the zone's last usable address, and what it ferries.
    An address some host or the zone's router already holds is refused, naming the zone."""
    ferried = [f for f in policy.flows if f.via == "gatekeeper" and ANY not in (f.source, f.to)]
    found: dict[str, Gatekeeper] = {}
    for dc in network.sites:
        ferries = [x for x in (_ferry(policy, f, dc, network, allocations) for f in ferried) if x is not None]
        if not ferries:
            continue
        legs = {}
        for zone in sorted({z for f in ferries for z in (f.source_zone, f.to_zone)}):
            subnet = allocations.zones[f"{dc}/{zone}"]
            what = "the gatekeeper's leg (the zone's last usable address)"
            legs[zone] = untaken(gatekeeper_leg_of(subnet), what, dc, zone, subnet, allocations)
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
