"""How much bandwidth a site needs: the reference plan's sizing rule, in one place.

The reference plan (2009) sizes lines from the business posts and the insured population at
50 % participation. The rate per post and per participant and the smallest line of each
tier are this project's planning figures (the plan's own are not in our sources): change
them here, or per environment in group_vars (`jinbao_capacity`), never elsewhere.
`jinbao capacity` checks lines against the rule, `jinbao generate` sizes lines by it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import Field, field_validator

from network.model.schema import Site, Strict, parse_bandwidth


class CapacityRule(Strict):
    """Need of a site = posts x post_kbps + insured x participation x participant_bps / 1000;
    a line carries the need of every site whose traffic crosses it, and is never smaller than
    its tier's minimum. A township's backup must carry its minimum (docs/capacity.md)."""

    participation: float = Field(default=0.5, gt=0, le=1)  # the reference plan: estimate at 50 %
    post_kbps: int = Field(default=256, gt=0)  # a clerk's B/S client and printer at the busy hour
    participant_bps: int = Field(default=100, ge=0)  # a participant's queries, payments, 12333, busy hour
    # the smallest line of a tier (a township's also bounds what its 4G/VPN backup must carry)
    minimum_kbps: dict[str, int] = Field(
        default_factory=lambda: {"province": 1_000_000, "city": 100_000, "county": 20_000, "township": 2_000}
    )
    # the leased-line products the generator picks from, smallest first
    line_sizes_kbps: tuple[int, ...] = tuple(
        parse_bandwidth(size)
        for size in ("2M", "4M", "10M", "20M", "50M", "100M", "200M", "500M", "1G", "2G", "10G", "20G", "40G")
    )

    @field_validator("minimum_kbps", mode="before")
    @classmethod
    def _minimums(cls, value: object) -> object:
        if isinstance(value, dict):
            return {tier: parse_bandwidth(size) for tier, size in value.items()}
        return value

    @field_validator("line_sizes_kbps", mode="before")
    @classmethod
    def _sizes(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(sorted(parse_bandwidth(size) for size in value))
        return value

    def site_need_kbps(self, posts: int, insured: int) -> int:
        """What one site's own counters and participants need, in kbit/s (rounded up)."""
        return posts * self.post_kbps + math.ceil(insured * self.participation * self.participant_bps / 1000)

    def line_need_kbps(self, tier: str, carried_kbps: int) -> int:
        """What a primary line of a site of this tier must carry: its load, at least the tier's minimum."""
        return max(carried_kbps, self.minimum_kbps.get(tier, 0))

    def backup_need_kbps(self, tier: str, posts: int) -> int | None:
        """What a township's 4G/VPN backup must carry: its counters, at least the township's minimum.
        None for other tiers: the rule does not size their backups."""
        if tier != "township":
            return None
        return max(posts * self.post_kbps, self.minimum_kbps.get(tier, 0))

    def line_size_kbps(self, need_kbps: int) -> int:
        """The smallest leased-line product that carries need_kbps (the largest when none does)."""
        return next((size for size in self.line_sizes_kbps if size >= need_kbps), self.line_sizes_kbps[-1])


def spread_insured(sites: Mapping[str, Site], children: Mapping[str, list[str]]) -> dict[str, int]:
    """Site id -> its insured population, a county's figure spread over its townships that state
    none, in proportion to their business posts (evenly when they have none); the remainder of
    the rounding goes to the first. A county without townships keeps its own figure."""
    insured = {site.id: site.insured for site in sites.values() if site.insured is not None}
    for county in sites.values():
        if county.tier != "county" or county.insured is None:
            continue
        townships = [sites[c] for c in children.get(county.id, ()) if sites[c].tier == "township"]
        unstated = [t for t in townships if t.insured is None]
        if not townships:
            continue
        del insured[county.id]  # the total over its townships, not the county office's own
        if not unstated:
            continue  # they state it all (network.model.rules refuses a county total that differs)
        left = max(0, county.insured - sum(t.insured or 0 for t in townships))
        weights = [t.posts for t in unstated] if any(t.posts for t in unstated) else [1] * len(unstated)
        shares = [left * w // sum(weights) for w in weights]
        shares[0] += left - sum(shares)
        insured.update({t.id: share for t, share in zip(unstated, shares, strict=True)})
    return insured
