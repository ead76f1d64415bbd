"""Address pools: carving region blocks into pools, and allocating aligned blocks from a pool.

Pure integer arithmetic on IPv4 addresses; the national inventory makes ~200,000
allocations, so this stays free of per-address objects.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from bisect import insort
from dataclasses import dataclass, field

from network.errors import IpamError, Problem
from network.model.schema import LanSizing, RegionPlan


def parse_ip(text: str) -> int:
    """'10.0.0.1' -> int. inet_pton is C-fast and strict (four decimal parts, no leading zeros)."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, TypeError):
        raise ValueError(f"{text!r} is not an IPv4 address") from None


def to_int(cidr: str) -> tuple[int, int]:
    """'10.0.0.0/30' -> (start, prefixlen); refuses host bits, like ipaddress with strict=True."""
    address, _, length = cidr.partition("/")
    if not length.isdigit() or int(length) > 32:
        raise ValueError(f"{cidr!r} is not an IPv4 network like 10.0.0.0/30")
    start, prefixlen = parse_ip(address), int(length)
    if start & (size_of(prefixlen) - 1):
        raise ValueError(f"{cidr!r} has host bits set")
    return start, prefixlen


def to_ip(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def to_cidr(start: int, prefixlen: int) -> str:
    return f"{to_ip(start)}/{prefixlen}"


def size_of(prefixlen: int) -> int:
    return 1 << (32 - prefixlen)


@dataclass
class Pool:
    """One pool; hands out aligned blocks first-fit, so freed space is reused."""

    name: str
    start: int
    prefixlen: int
    reserved: int = 0  # addresses kept back at the start (e.g. a management gateway)
    used: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, owner), sorted
    _gaps: list[list[int]] | None = None

    @property
    def end(self) -> int:
        return self.start + size_of(self.prefixlen)

    @property
    def cidr(self) -> str:
        return to_cidr(self.start, self.prefixlen)

    def contains(self, start: int, prefixlen: int) -> bool:
        return self.start + self.reserved <= start and start + size_of(prefixlen) <= self.end

    def claim(self, start: int, prefixlen: int, owner: str) -> None:
        """Record an existing allocation (from allocations.yml)."""
        insort(self.used, (start, start + size_of(prefixlen), owner))
        self._gaps = None

    def claim_many(self, entries: list[tuple[int, int, str]]) -> None:
        """Record many (start, prefixlen, owner) at once: one sort instead of many inserts."""
        self.used = sorted(self.used + [(start, start + size_of(length), owner) for start, length, owner in entries])
        self._gaps = None

    def check_overlaps(self) -> list[Problem]:
        problems = []
        for (a_start, a_end, a_owner), (b_start, _b_end, b_owner) in zip(self.used, self.used[1:], strict=False):
            if b_start < a_end:
                problems.append(
                    Problem(
                        "allocations.yml",
                        a_owner,
                        "",
                        f"overlaps '{b_owner}' in pool {self.name}"
                        f" ({to_ip(a_start)}); was the file edited by hand? Restore it from git",
                    )
                )
        return problems

    def _build_gaps(self) -> list[list[int]]:
        gaps, cursor = [], self.start + self.reserved
        for start, end, _owner in self.used:
            if start > cursor:
                gaps.append([cursor, start])
            cursor = max(cursor, end)
        if cursor < self.end:
            gaps.append([cursor, self.end])
        return gaps

    def allocate(self, prefixlen: int, owner: str, site_path: str) -> int:
        if self._gaps is None:
            self._gaps = self._build_gaps()
        size = size_of(prefixlen)
        for index, (gap_start, gap_end) in enumerate(self._gaps):
            aligned = -(-gap_start // size) * size
            if aligned + size <= gap_end:
                pieces = [p for p in ([gap_start, aligned], [aligned + size, gap_end]) if p[1] > p[0]]
                self._gaps[index : index + 1] = pieces
                insort(self.used, (aligned, aligned + size, owner))
                return aligned
        free = sum(end - start for start, end in self._gaps)
        why = f"{free} addresses free, fragmented" if free >= size else f"{free} addresses free"
        raise IpamError(
            Problem(
                "addressing.yml",
                site_path,
                "",
                f"pool {self.name} ({self.cidr}) is full: no /{prefixlen} left for '{owner}' "
                f"({why}); enlarge the pool in addressing.yml",
            )
        )


@dataclass
class VillagePool:
    """A province's village LANs: its own `lan-village` pool first, then blocks of the national
    villages supernet, taken one at a time as the province needs them and never given back while
    the province exists (allocations.yml records them under regions as <province>/villages-<n>).
    Offers what the planner asks of a Pool: contains, claim, check_overlaps, allocate."""

    name: str  # the province
    members: list[Pool]
    supernet: Pool | None  # shared by every province; None: addressing.yml has no villages plan
    block_len: int = 17
    taken: dict[str, str] = field(default_factory=dict)  # region key -> block, of blocks taken in this run
    _open: int = 0  # members before this one have no room left for a village

    def contains(self, start: int, prefixlen: int) -> bool:
        return any(member.contains(start, prefixlen) for member in self.members)

    def claim(self, start: int, prefixlen: int, owner: str) -> None:
        next(m for m in self.members if m.contains(start, prefixlen)).claim(start, prefixlen, owner)

    def check_overlaps(self) -> list[Problem]:
        return [problem for member in self.members for problem in member.check_overlaps()]

    def allocate(self, prefixlen: int, owner: str, site_path: str) -> int:
        full: IpamError | None = None
        while self._open < len(self.members):
            try:
                return self.members[self._open].allocate(prefixlen, owner, site_path)
            except IpamError as exc:  # every village LAN is the same size: a full member stays full
                full, self._open = exc, self._open + 1
        if self.supernet is None:
            raise full or IpamError(Problem("addressing.yml", site_path, "provinces.pools", "has no lan-village pool"))
        numbers = [int(m.name.rpartition("-")[2]) for m in self.members if m.name.startswith(f"{self.name}/villages-")]
        key = f"{self.name}/villages-{max(numbers, default=0) + 1}"
        try:
            start = self.supernet.allocate(self.block_len, key, site_path)
        except IpamError:
            raise IpamError(
                Problem(
                    "addressing.yml",
                    site_path,
                    "villages.supernet",
                    f"{self.supernet.cidr} has no /{self.block_len} left for the villages of '{self.name}' "
                    f"({len(numbers)} block(s) of theirs are full); enlarge villages.supernet",
                )
            ) from None
        self.members.append(Pool(key, start, self.block_len))
        self.taken[key] = to_cidr(start, self.block_len)
        return self.members[-1].allocate(prefixlen, owner, site_path)


def layout(region: str, block_start: int, block_prefixlen: int, plan: RegionPlan, where: str) -> dict[str, Pool]:
    """Carve a region's block into its pools, in the order addressing.yml lists them."""
    pools: dict[str, Pool] = {}
    cursor = block_start
    for pool in plan.pools:
        size = size_of(pool.prefixlen)
        cursor = -(-cursor // size) * size
        # /32 pools skip their first address: x.x.x.0 router ids confuse people and some tools
        reserved = 1 if pool.allocate == 32 else 0
        pools[pool.name] = Pool(f"{region}/{pool.name}", cursor, pool.prefixlen, reserved)
        cursor += size
    if cursor > block_start + size_of(block_prefixlen):
        need = cursor - block_start
        raise IpamError(
            Problem(
                "addressing.yml",
                where,
                "pools",
                f"need {need} addresses but a block of /{block_prefixlen} has "
                f"{size_of(block_prefixlen)}; shrink the pools or enlarge the block",
            )
        )
    return pools


def lan_prefixlen(hosts: int, sizing: LanSizing) -> int:
    """Smallest LAN that holds ``hosts`` with growth head-room, network and broadcast."""
    need = math.ceil(hosts * sizing.growth) + 2
    prefixlen = 32 - max(0, math.ceil(math.log2(need)))
    return min(prefixlen, sizing.min_prefixlen)


def check_disjoint(named: dict[str, str]) -> None:
    """Refuse supernets that overlap: each tier's space must be its own."""
    nets = {name: ipaddress.IPv4Network(cidr) for name, cidr in named.items()}
    problems = []
    names = list(nets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if nets[a].overlaps(nets[b]):
                problems.append(
                    Problem(
                        "addressing.yml",
                        "",
                        f"{a}.supernet",
                        f"{nets[a]} overlaps {b}.supernet {nets[b]}; supernets must be disjoint",
                    )
                )
    if problems:
        raise IpamError(problems)


def check_assigned(assigned: dict[str, str]) -> None:
    """Refuse provinces pinned to the same or overlapping blocks (addressing.yml provinces.assigned).

    Caught here, before any block is claimed, so the error names addressing.yml and both
    provinces instead of reading like a hand-edited allocations.yml.
    """
    problems, seen = [], []
    for province, block in assigned.items():
        try:
            net = ipaddress.IPv4Network(block)
        except ValueError:
            continue  # the planner says it is not a block of the provinces' supernet
        for other_net, other in seen:
            if net.overlaps(other_net):
                same = "is" if net == other_net else f"overlaps {other_net},"
                problems.append(
                    Problem(
                        "addressing.yml",
                        "",
                        f"provinces.assigned.{province}",
                        f"{block} {same} the block assigned to '{other}'; each province has a block of "
                        "its own: take both from the national plan",
                    )
                )
        seen.append((net, province))
    if problems:
        raise IpamError(problems)
