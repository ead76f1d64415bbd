"""`jinbao capacity`: every line against the need of the sites whose traffic crosses it.

A site's need comes from the rule (network.model.capacity: business posts and insured
population). Its traffic goes to the data centre that serves it: the first site up its
chain (itself included) with a data centre hanging under it (a DR site does not serve);
it crosses the primary uplink of every site on the way and that data centre's uplink.
Where no data centre serves, it runs up to the ministry. A township's 4G/VPN backup must
carry the township's minimum. Pure: model in, report out; also what `jinbao generate`
sizes its lines by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from network.model import Site
from network.model.capacity import CapacityRule, spread_insured
from network.model.network import Network, children_of, site_path

OK, BELOW, NOT_SIZED = "ok", "below need", "not sized"


class LineLoad(NamedTuple):
    """One uplink: what crosses it, what the rule asks of it, and what it has."""

    site: str
    path: str
    tier: str
    line: str
    parent: str | None
    type: str
    backup: bool  # a 4G/VPN line after the primary: checked against the township's minimum
    bandwidth_kbps: int
    carried_kbps: int | None  # the traffic routed over it; None on a backup
    need_kbps: int | None  # None: the rule does not size it (a DR site's replication, other backups)

    @property
    def status(self) -> str:
        if self.need_kbps is None:
            return NOT_SIZED
        return OK if self.bandwidth_kbps >= self.need_kbps else BELOW

    def as_dict(self) -> dict:
        return {**self._asdict(), "status": self.status}


class SiteNeed(NamedTuple):
    id: str
    path: str
    tier: str
    posts: int
    insured: int
    need_kbps: int


@dataclass(frozen=True)
class CapacityReport:
    environment: str
    rule: CapacityRule
    sites: list[SiteNeed]
    lines: list[LineLoad]

    @property
    def below(self) -> list[LineLoad]:
        return [line for line in self.lines if line.status == BELOW]

    def as_dict(self) -> dict:
        return {
            "ok": not self.below,
            "environment": self.environment,
            "rule": self.rule.model_dump(),
            "summary": {
                "sites": len(self.sites),
                "lines": len(self.lines),
                "below": len([line for line in self.below if not line.backup]),
                "backups_below": len([line for line in self.below if line.backup]),
                "insured": sum(s.insured for s in self.sites),
                "need_kbps": sum(s.need_kbps for s in self.sites),
            },
            "sites": [s._asdict() for s in self.sites],
            "lines": [line.as_dict() for line in self.lines],
        }


def site_needs(sites: Mapping[str, Site], children: Mapping[str, list[str]], rule: CapacityRule) -> dict[str, int]:
    """Site id -> its own need in kbit/s (data centres and DR sites need nothing of their own)."""
    insured = spread_insured(sites, children)
    return {sid: rule.site_need_kbps(site.posts, insured.get(sid, 0)) for sid, site in sites.items()}


def carried(sites: Mapping[str, Site], children: Mapping[str, list[str]], needs: Mapping[str, int]) -> dict[str, int]:
    """Site id -> the traffic its primary uplink carries: its own and that of the sites it relays."""
    serving = {
        parent: next((c for c in kids if sites[c].tier == "datacenter" and sites[c].dr_for is None), None)
        for parent, kids in children.items()
    }
    load = dict.fromkeys(sites, 0)
    for sid, need in needs.items():
        if not need:
            continue
        current: str | None = sid
        seen: set[str] = set()
        while current in sites and current not in seen:
            seen.add(current)
            dc = serving.get(current)
            if dc is not None:
                load[dc] += need
                break
            load[current] += need
            current = sites[current].parent
    return load


def line_loads(sites: Mapping[str, Site], rule: CapacityRule) -> list[LineLoad]:
    """Every uplink of every site, in file order, with what crosses it and what it needs."""
    children = children_of(dict(sites))
    needs = site_needs(sites, children, rule)
    load = carried(sites, children, needs)
    lines = []
    for site in sites.values():
        for index, line in enumerate(site.uplinks):
            backup = index > 0 and line.backup
            if backup:
                need = rule.backup_need_kbps(site.tier, site.posts)
            elif site.dr_for is not None:
                need = None  # replication, not the counters' traffic
            else:
                need = rule.line_need_kbps(site.tier, load[site.id])
            lines.append(
                LineLoad(
                    site.id,
                    site_path(sites, site),
                    site.tier,
                    line.key,
                    line.parent,
                    line.type,
                    backup,
                    line.bandwidth_kbps,
                    None if backup else load[site.id],
                    need,
                )
            )
    return lines


def capacity_report(network: Network) -> CapacityReport:
    rule = network.policy.capacity
    insured = spread_insured(network.sites, network.children)
    needs = site_needs(network.sites, network.children, rule)
    sites = [
        SiteNeed(s.id, network.path(s), s.tier, s.posts, insured.get(s.id, 0), needs[s.id])
        for s in network.sites.values()
        if s.tier != "datacenter"
    ]
    return CapacityReport(network.name, rule, sites, line_loads(network.sites, rule))
