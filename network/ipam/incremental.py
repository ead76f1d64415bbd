"""Incremental planning: when sites were only added, allocate for those alone.

The full planner re-claims every recorded allocation (~180,000 in the national inventory)
before it allocates anything new; that is the price of checking a hand-edited file.
After a plan that jinbao itself wrote, nothing needs re-checking: the state file
``<env>/.cache/plan-state.json`` remembers the digest of the allocations.yml that plan
produced, of the address plan, and of every sites file. If all match except for files
where sites were only *added*, the new sites are planned against pools primed from
allocations.yml, which gives exactly what the full planner would (a test compares both).
Anything else (a site removed or edited, a new province, a changed plan, a hand edit, another
version of the file's format)
falls back to the full planner.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from network.fileio import write_cache
from network.ipam import store
from network.ipam.allocate import NATIONAL, Change, Plan, Planner, allocate, line_ends
from network.ipam.pools import Pool, VillagePool, layout, parse_ip, to_int, to_ip
from network.ipam.store import SECTIONS, Allocations, dumps_added
from network.model import Network, Site
from network.model.cache import PLAN_RECORD
from network.model.checked import added_between

STATE_FILE = PLAN_RECORD  # the model's cache keeps the sites-file versions it names
STATE_VERSION = 2  # 2: links record their ends

# which allocations live in a pool of that name: (section, field or None for plain values)
POOL_SOURCES = {"loopback": [("devices", "loopback")], "p2p": [("links", "subnet")], "datacenter": [("zones", None)]}


def digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def _addressing_digest(network: Network) -> str:
    return digest(network.addressing.model_dump_json())


@functools.cache
def _format_digest() -> str:
    """How allocations.yml is written (network/ipam/store.py): an incremental plan puts its new
    lines into the text the last plan wrote, so after another version of that the file is written whole."""
    return digest(Path(store.__file__ or "").read_bytes())


def remember(network: Network, allocations_text: str) -> None:
    """Record that allocations.yml (this text) is the plan of this network."""
    if network.root is None:
        return
    state = {
        "version": STATE_VERSION,
        "allocations": digest(allocations_text),
        "addressing": _addressing_digest(network),
        "format": _format_digest(),
        "files": network.file_digests,
    }
    write_cache(Path(network.root) / ".cache" / STATE_FILE, json.dumps(state).encode())


def plan(network: Network, previous: Allocations) -> tuple[Plan, str]:
    """The plan of this network and how it was made: "unchanged" (allocations.yml is this plan,
    as jinbao wrote it), "incremental" or "full"."""
    added = added_sites(network, previous)
    if added is None:
        result, how = allocate(network, previous), "full"
    elif not added:
        result, how = Plan(previous, []), "unchanged"
    else:
        result, how = AddingPlanner(network, previous, added).run(), "incremental"
        if previous.source is not None:  # only additions: their lines go into the text planned from
            new: dict[str, dict] = {}
            for change in result.changes:
                new.setdefault(change.section, {})[change.key] = change.new
            result.text = dumps_added(previous.source.decode("utf-8"), new)
    result.base = previous.digest
    return result, how


def added_sites(network: Network, previous: Allocations) -> list[Site] | None:
    """The sites added since the remembered plan, in file order; None if anything else changed
    (network.model.checked.added_between), or a province was added (a new address region)."""
    state = _remembered(Path(network.root), network, previous)
    added = added_between(network, state["files"]) if state is not None else None
    if added is None or any(site.tier == "province" for site in added):
        return None
    return added


def _remembered(root: Path, network: Network, previous: Allocations) -> dict | None:
    """The state of the last plan, if allocations.yml, the address plan and the set of sites
    files are still what that plan saw."""
    try:
        state = json.loads((root / ".cache" / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if (
        state.get("version") != STATE_VERSION
        or previous.digest is None
        or state.get("allocations") != previous.digest
        or state.get("addressing") != _addressing_digest(network)
        or state.get("format") != _format_digest()
        or set(state.get("files", {})) != set(network.file_digests)
    ):
        return None
    return state


class AddingPlanner(Planner):
    """The full planner's rules, run for the added sites only, against pools primed from allocations.yml."""

    def __init__(self, network: Network, previous: Allocations, added: list[Site]):
        super().__init__(network, previous)
        self.sites = added
        self.result = Allocations(**{name: dict(previous.section(name)) for name in SECTIONS})
        self._primed: set[int] = set()

    def _regions(self) -> None:
        plan = self.plan
        nat_start, nat_len = to_int(plan.national.supernet)
        self.pools[NATIONAL] = layout(NATIONAL, nat_start, nat_len, plan.national, "national")
        block_len = plan.provinces.prefixlen or to_int(plan.provinces.supernet)[1]
        provinces = [region for region in self.previous.regions if region != NATIONAL and "/" not in region]
        for region in provinces:  # <province>/villages-<n> are its village blocks, laid out by _village_pools
            start = to_int(self.previous.regions[region])[0]
            self.pools[region] = layout(region, start, block_len, plan.provinces, "provinces")
        self._village_pools(provinces)

    def _pool(self, site: Site, name: str) -> Pool:
        pool = super()._pool(site, name)
        if id(pool) not in self._primed:
            self._primed.add(id(pool))
            sources = [("sites", "lan")] if name.startswith("lan-") else POOL_SOURCES.get(name, [])
            self._prime(pool, sources)
        return pool

    def _village_pool(self, site: Site) -> VillagePool:
        pool = super()._village_pool(site)
        if id(pool) not in self._primed:
            self._primed.add(id(pool))
            for member in pool.members:
                self._prime(member, [("sites", "lan")])
        return pool

    def _management_pool(self) -> Pool:
        pool = super()._management_pool()
        self._prime(pool, [("devices", "management"), ("hosts", "management")])
        return pool

    def _prime(self, pool: Pool, sources: list[tuple[str, str | None]]) -> None:
        """Claim what allocations.yml holds inside this pool (it was checked when it was written).

        Only addresses that share the pool's leading text ('10.24' for 10.240.0.0/14) are parsed.
        """
        low, high = pool.start, pool.end
        first, last = to_ip(low), to_ip(high - 1)
        prefix = first[: next((i for i, (a, b) in enumerate(zip(first, last, strict=True)) if a != b), len(first))]
        claims = []
        for section, fld in sources:
            for key, value in self.previous.section(section).items():
                text = value.get(fld) if fld else value
                if not text.startswith(prefix):
                    continue
                start, length = to_int(text) if "/" in text else (parse_ip(text), 32)
                if low <= start < high:
                    claims.append((start, length, key))
        pool.claim_many(claims)

    def _ports_taken(self, ends: dict[str, tuple[str, str]]) -> dict[str, set[int]]:
        """Ports already used on the devices the new lines land on.

        A line lands on its site's parent or on another ancestor, so the lines that end at a
        site are its own uplinks and lines from its subtree.
        """
        sites = {device.split("/", 1)[0] for pair in ends.values() for device in pair}
        owners: dict[str, Site] = {}
        for site_id in sites:
            if site_id not in self.network.sites:
                continue
            stack = [site_id]
            while stack:
                current = stack.pop()
                owners[current] = self.network.sites[current]
                stack.extend(self.network.children.get(current, ()))
        taken: dict[str, set[int]] = {}
        for owner in owners.values():
            for line in owner.uplinks:
                key = f"{owner.id}:{line.key}"
                if key in ends or key not in self.previous.links:
                    continue
                if owner.id not in sites and line.parent not in sites:
                    continue
                child, child_dev, parent, parent_dev = line_ends(self.network, owner, line)
                child_port, parent_port = self.previous.links[key]["ports"]
                taken.setdefault(f"{child.id}/{child_dev}", set()).add(child_port)
                taken.setdefault(f"{parent.id}/{parent_dev}", set()).add(parent_port)
        return taken

    def _changes(self) -> list[Change]:
        # only additions are possible here: no need to compare the ~180,000 kept entries
        changes = [
            Change("added", section, key, None, self.result.section(section)[key])
            for section in SECTIONS
            for key in self.result.section(section).keys() - self.previous.section(section).keys()
        ]
        return sorted(changes, key=lambda c: (SECTIONS.index(c.section), c.key))
