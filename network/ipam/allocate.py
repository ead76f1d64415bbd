"""Stable allocation: keep every valid allocation, allocate only what is new.

The rule that matters to operators: adding or removing a site never changes any
other site's addresses or ports. Existing allocations are claimed first, exactly
as recorded; only entities with no valid allocation get one, first-fit.

Longer than most modules on purpose: the Planner is one algorithm (per section, claim
what is recorded, then allocate what is new), and incremental.AddingPlanner overrides
its steps; split, its steps would be read apart from the order they run in.
"""

from __future__ import annotations

from dataclasses import dataclass

from network.errors import IpamError, Problem
from network.ipam.conventions import HOST_OFFSET
from network.ipam.pools import (
    Pool,
    VillagePool,
    check_assigned,
    check_disjoint,
    lan_prefixlen,
    layout,
    parse_ip,
    size_of,
    to_cidr,
    to_int,
    to_ip,
)
from network.ipam.store import SECTIONS, Allocations
from network.model import Network, Site

NATIONAL = "national"


@dataclass(frozen=True)
class Change:
    action: str  # added | released | changed
    section: str
    key: str
    old: object = None
    new: object = None


@dataclass
class Plan:
    allocations: Allocations
    changes: list[Change]
    # allocations.yml as it says these allocations, when known without formatting them all
    # (network.ipam.incremental); None: store.dumps(allocations) it is
    text: str | None = None
    # the digest of the allocations.yml text the plan was made from (None: there was none)
    base: str | None = None


def region_of(network: Network, site: Site) -> str:
    province = network.province_of(site)
    return province.id if province else NATIONAL


def line_ends(network: Network, site: Site, line) -> tuple[Site, str, Site, str]:
    """(child site, child device, parent site, parent device) of an uplink."""
    parent = network.sites[line.parent]
    child_dev = line.device or site.devices[0].name
    parent_dev = line.parent_device or parent.devices[0].name
    return site, child_dev, parent, parent_dev


class Planner:
    def __init__(self, network: Network, previous: Allocations):
        self.network = network
        self.previous = previous
        self.plan = network.addressing
        self.result = Allocations()
        self.pools: dict[str, dict[str, Pool]] = {}
        self.problems: list[Problem] = []
        self._alloc_lens: dict[tuple[bool, str], int] = {}
        self._host_management: dict[str, str] = {}
        self.villages: dict[str, VillagePool] = {}  # province -> its village pool
        self.sites: list[Site] = list(network.sites.values())  # the sites this run allocates for

    # --- regions -------------------------------------------------------------------
    def _regions(self) -> None:
        plan = self.plan
        supernets = {
            "national": plan.national.supernet,
            "provinces": plan.provinces.supernet,
            "management": plan.management.supernet,
        }
        check_disjoint(supernets | ({"villages": plan.villages.supernet} if plan.villages else {}))
        nat_start, nat_len = to_int(plan.national.supernet)
        self.result.regions[NATIONAL] = plan.national.supernet
        self.pools[NATIONAL] = layout(NATIONAL, nat_start, nat_len, plan.national, "national")
        sup_start, sup_len = to_int(plan.provinces.supernet)
        block_len = plan.provinces.prefixlen or sup_len
        provinces = Pool("provinces", sup_start, sup_len)
        wanted = [s for s in self.network.sites.values() if s.tier == "province"]
        fresh = []
        assigned = plan.provinces.assigned
        check_assigned(assigned)
        for site in wanted:
            old = self.previous.regions.get(site.id)
            if site.id in assigned:  # pinned by the national plan: a province kept in its own inventory
                block = assigned[site.id]
                if not self._fits(provinces, block, block_len):
                    raise IpamError(
                        Problem(
                            "addressing.yml",
                            "",
                            f"provinces.assigned.{site.id}",
                            f"{block} is not a /{block_len} inside {plan.provinces.supernet}",
                        )
                    )
                provinces.claim(*to_int(block), site.id)
                self.result.regions[site.id] = block
            elif old and self._fits(provinces, old, block_len):
                provinces.claim(*to_int(old), site.id)
                self.result.regions[site.id] = old
            else:
                fresh.append(site)
        self.problems += provinces.check_overlaps()
        if self.problems:
            raise IpamError(self.problems)
        for site in fresh:
            start = provinces.allocate(block_len, site.id, self.network.path(site))
            self.result.regions[site.id] = to_cidr(start, block_len)
        for site in wanted:
            start, _ = to_int(self.result.regions[site.id])
            self.pools[site.id] = layout(site.id, start, block_len, plan.provinces, "provinces")
        self._village_pools([site.id for site in wanted])

    def _village_pools(self, provinces: list[str]) -> None:
        """Each province's village pool: its lan-village pool, then the villages blocks recorded
        for it (kept while the province exists; a block of a province that left is released)."""
        plan = self.plan.villages
        supernet = Pool("villages", *to_int(plan.supernet)) if plan else None
        recorded: dict[str, list[tuple[int, str, str]]] = {}
        present = set(provinces)
        for key, block in self.previous.regions.items():
            province, _, number = key.partition("/villages-")
            if number.isdigit() and province in present and plan and self._fits(supernet, block, plan.prefixlen):
                supernet.claim(*to_int(block), key)
                recorded.setdefault(province, []).append((int(number), key, block))
        if supernet is not None:
            self.problems += supernet.check_overlaps()
        if self.problems:
            raise IpamError(self.problems)
        for province in provinces:
            members = [self.pools[province]["lan-village"]] if "lan-village" in self.pools[province] else []
            for _number, key, block in sorted(recorded.get(province, [])):
                members.append(Pool(key, to_int(block)[0], plan.prefixlen))  # type: ignore[union-attr]
                self.result.regions[key] = block
            self.villages[province] = VillagePool(province, members, supernet, plan.prefixlen if plan else 17)

    def _village_pool(self, site: Site) -> VillagePool:
        return self.villages[region_of(self.network, site)]

    @staticmethod
    def _fits(pool: Pool, cidr: str, prefixlen: int) -> bool:
        try:
            start, length = to_int(cidr)
        except ValueError:
            return False
        return length == prefixlen and pool.contains(start, length)

    def _pool(self, site: Site, name: str) -> Pool:
        region = region_of(self.network, site)
        pool = self.pools[region].get(name)
        if pool is None:
            raise IpamError(
                Problem(
                    "addressing.yml",
                    self.network.path(site),
                    f"{'national' if region == NATIONAL else 'provinces'}.pools",
                    f"has no pool '{name}', which a {site.tier} site needs",
                )
            )
        return pool

    # --- generic keep-or-allocate ------------------------------------------------------
    def _run(self, section: str, wanted: list[tuple[str, Site, Pool, int, str | None]]) -> dict[str, str]:
        """wanted: (key, site, pool, prefixlen, field). Returns key -> allocation text."""
        result, fresh = self._claim(section, wanted)
        return self._allocate(wanted, result, fresh)

    def _claim(self, section: str, wanted: list) -> tuple[dict[str, str], list]:
        """Claim every recorded allocation that is still valid; return them and what needs allocating.

        A kept allocation is returned as the very string recorded, so nothing is re-formatted.
        """
        old_section = self.previous.section(section)
        result: dict[str, str] = {}
        fresh = []
        for key, site, pool, prefixlen, fld in wanted:
            old = old_section.get(key)
            if fld:
                old = old.get(fld) if isinstance(old, dict) else None
            if isinstance(old, str) and self._keep(old, pool, prefixlen, key):
                result[key] = old
            else:
                fresh.append((key, site, pool, prefixlen))
        return result, fresh

    def _allocate(self, wanted: list, result: dict[str, str], fresh: list) -> dict[str, str]:
        """Allocate the fresh ones, after every pool involved holds all its claims.

        /32 allocations are written as bare addresses, others as CIDR.
        """
        for pool in {id(p): p for _k, _s, p, _l, _f in wanted}.values():
            self.problems += pool.check_overlaps()
        if self.problems:
            raise IpamError(self.problems)
        # Bigger blocks first packs tighter; ties keep file order, so runs are deterministic.
        for key, site, pool, prefixlen in sorted(fresh, key=lambda item: item[3]):
            start = pool.allocate(prefixlen, key, self.network.path(site))
            result[key] = to_ip(start) if prefixlen == 32 else to_cidr(start, prefixlen)
        return result

    @staticmethod
    def _keep(old: str, pool: Pool, prefixlen: int, key: str) -> bool:
        """An old allocation is kept if it is in the right pool and at least as big as needed.

        Larger than needed today is kept too: addresses never shrink under people.
        """
        try:
            start, length = to_int(old) if "/" in old else (parse_ip(old), 32)
        except ValueError:
            return False
        if length > prefixlen or not pool.contains(start, length):
            return False
        pool.claim(start, length, key)
        return True

    # --- the sections --------------------------------------------------------------------
    def _site_lans(self) -> None:
        sizing = self.plan.lan_sizing
        wanted = []
        for site in self.sites:
            if site.tier == "datacenter":
                continue
            if site.tier == "village":
                wanted.append(self._village_lan(site))
                continue
            hosts = 2 * site.posts + site.laptop_count + len(site.devices) + 1
            prefixlen = lan_prefixlen(hosts, sizing)
            if prefixlen < sizing.max_prefixlen:
                self._refuse_posts(
                    site,
                    f"{site.posts} posts need a /{prefixlen} LAN, larger than "
                    f"lan_sizing.max_prefixlen /{sizing.max_prefixlen}",
                )
            wanted.append((site.id, site, self._pool(site, f"lan-{site.tier}"), prefixlen, "lan"))
        for key, lan in self._run("sites", wanted).items():
            self.result.sites[key] = {"lan": lan}
        for pool in self.villages.values():
            self.result.regions.update(pool.taken)

    def _village_lan(self, site: Site) -> tuple[str, Site, VillagePool, int, str]:
        """A village access point's LAN (docs/addressing.md): the gateway on its township's router,
        the clerk's PC (the printer hangs on it) and any laptop it states; a fixed size, not sized."""
        prefixlen = self.plan.villages.allocate if self.plan.villages else 30
        hosts = site.posts + site.laptop_count + 1
        if hosts > size_of(prefixlen) - 2:
            self._refuse_posts(
                site,
                f"{site.posts} post(s) and {site.laptop_count} laptop(s) do not fit a village's /{prefixlen} "
                f"(the gateway and {size_of(prefixlen) - 3} terminal(s)); a village access point has one clerk",
            )
        return (site.id, site, self._village_pool(site), prefixlen, "lan")

    def _refuse_posts(self, site: Site, message: str) -> None:
        raise IpamError(Problem(self.network.site_files[site.id], self.network.path(site), "posts", message))

    def _devices(self) -> None:
        mgmt = self._management_pool()
        loops, mgmts, host_mgmts = [], [], []
        for site in self.sites:
            for device in site.devices:
                key = f"{site.id}/{device.name}"
                loops.append((key, site, self._pool(site, "loopback"), 32, "loopback"))
                mgmts.append((key, site, mgmt, 32, "management"))
        for site in self.sites:
            host_mgmts.extend((f"{site.id}/{h.name}", site, mgmt, 32, "management") for h in site.hosts)
        loop_addrs = self._run("devices", loops)
        # routers and servers share the management network: claim both before allocating either
        mgmt_addrs, fresh = self._claim("devices", mgmts)
        host_addrs, host_fresh = self._claim("hosts", host_mgmts)
        self._allocate(mgmts, mgmt_addrs, fresh)
        self._allocate(host_mgmts, host_addrs, host_fresh)
        for key, *_ in loops:
            self.result.devices[key] = {"loopback": loop_addrs[key], "management": mgmt_addrs[key]}
        self._host_management = host_addrs

    def _management_pool(self) -> Pool:
        start, length = to_int(self.plan.management.supernet)
        return Pool("management", start, length, reserved=2)  # network address + gateway

    def _links(self) -> None:
        wanted, ends = [], {}
        for site in self.sites:
            for line in site.uplinks:
                child, child_dev, parent, parent_dev = line_ends(self.network, site, line)
                key = f"{site.id}:{line.key}"
                pool = self._pool(parent, "p2p")
                prefixlen = self._alloc_len(parent, "p2p", 30)
                wanted.append((key, site, pool, prefixlen, "subnet"))
                ends[key] = (f"{child.id}/{child_dev}", f"{parent.id}/{parent_dev}")
        subnets = self._run("links", wanted)
        ports = self._ports(ends)
        for key, *_ in wanted:
            self.result.links[key] = {"subnet": subnets[key], "ports": ports[key], "ends": list(ends[key])}

    def _alloc_len(self, site: Site, pool_name: str, default: int) -> int:
        national = region_of(self.network, site) == NATIONAL
        cached = self._alloc_lens.get((national, pool_name))
        if cached is None:
            region = self.plan.national if national else self.plan.provinces
            pool = next((p for p in region.pools if p.name == pool_name), None)
            cached = pool.allocate if pool and isinstance(pool.allocate, int) else default
            self._alloc_lens[(national, pool_name)] = cached
        return cached

    def _ports(self, ends: dict[str, tuple[str, str]]) -> dict[str, list[int]]:
        """Port numbers on both ends of every line, stable like addresses.

        A port is a number on one device, so a recorded port is kept only while the line still
        ends on the device the record names (`ends`): a township that moves to another county
        keeps its own uplink port, but its old port on the old county means nothing on the new
        one. Every kept port is claimed before any new one is numbered, so a line that moved in
        never takes a bystander's port, wherever it sits in the file.
        """
        taken = self._ports_taken(ends)
        result: dict[str, list[int | None]] = {}
        for key, pair in ends.items():
            result[key] = kept = [None, None]
            old = self.previous.links.get(key)
            old_ports = old.get("ports") if isinstance(old, dict) else None
            if not (isinstance(old_ports, list) and len(old_ports) == 2):
                continue
            old_ends = old.get("ends")  # absent in files written before ends were recorded: same ends
            for end, device in enumerate(pair):
                port, used = old_ports[end], taken.setdefault(device, set())
                if (old_ends is None or old_ends[end] == device) and isinstance(port, int) and port not in used:
                    used.add(port)
                    kept[end] = port
        for key, pair in ends.items():  # file order: deterministic
            for end, device in enumerate(pair):
                if result[key][end] is None:
                    used = taken.setdefault(device, set())
                    result[key][end] = port = next(n for n in range(1, len(used) + 2) if n not in used)
                    used.add(port)
        return result  # type: ignore[return-value]

    def _ports_taken(self, ends: dict[str, tuple[str, str]]) -> dict[str, set[int]]:
        """Ports in use before this run's lines are numbered: none, when every line is in the run."""
        return {}

    def _zones(self) -> None:
        wanted = []
        for site in self.sites:
            zones = dict.fromkeys(h.zone for h in site.hosts)
            for zone in zones:
                pool = self._pool(site, "datacenter")
                wanted.append((f"{site.id}/{zone}", site, pool, self._alloc_len(site, "datacenter", 24), None))
        self.result.zones.update(self._run("zones", wanted))
        self._hosts()

    def _hosts(self) -> None:
        for site in self.sites:
            if not site.hosts:
                continue
            by_zone: dict[str, Pool] = {}
            for zone in dict.fromkeys(h.zone for h in site.hosts):
                start, length = to_int(self.result.zones[f"{site.id}/{zone}"])
                by_zone[zone] = Pool(f"{site.id}/{zone}", start, length, reserved=HOST_OFFSET)
            wanted = [(f"{site.id}/{h.name}", site, by_zone[h.zone], 32, "address") for h in site.hosts]
            for key, address in self._run("hosts", wanted).items():
                self.result.hosts[key] = {"address": address, "management": self._host_management[key]}

    def run(self) -> Plan:
        self._regions()
        self._site_lans()
        self._devices()
        self._links()
        self._zones()
        return Plan(self.result, self._changes())

    def _changes(self) -> list[Change]:
        return diff(self.previous, self.result)


def diff(old: Allocations, new: Allocations) -> list[Change]:
    changes = []
    for section in SECTIONS:
        before, after = old.section(section), new.section(section)
        for key in after.keys() - before.keys():
            changes.append(Change("added", section, key, None, after[key]))
        for key in before.keys() - after.keys():
            changes.append(Change("released", section, key, before[key], None))
        for key in after.keys() & before.keys():
            if after[key] != before[key]:
                changes.append(Change("changed", section, key, before[key], after[key]))
    order = {"changed": 0, "released": 1, "added": 2}
    return sorted(changes, key=lambda c: (order[c.action], SECTIONS.index(c.section), c.key))


def allocate(network: Network, previous: Allocations) -> Plan:
    """Pure: the model and the previous state in, the new state and its changes out."""
    if network.addressing is None:  # load() has reported it already
        raise IpamError("addressing.yml is missing")
    return Planner(network, previous).run()


__all__ = ["Change", "Plan", "allocate", "diff", "line_ends", "region_of", "size_of"]
