"""Rules that span sites: one root, parents one tier up, unique hostnames, lines that land.

Checks only: the indexes the model is read by (Network.children) are built by load.
"""

from __future__ import annotations

from collections.abc import Collection

from network.errors import Problem
from network.model.network import Network
from network.model.schema import DC_PARENT_TIERS, TIERS, Site

TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}
# (site tier, tier of the site a line lands on) allowed besides the parent, docs/routing.md:
# "a township's backup may land on its county or its city". Nothing lands on a province or
# the ministry except from the tier right below.
LINE_ABOVE_PARENT = frozenset({("township", "city")})
INSURED_TIERS = ("county", "township")  # who states an insured population (docs/capacity.md)


def check_tree(network: Network, added: Collection[str] | None = None) -> list[Problem]:
    """Rules that span sites: one root, parents one tier up, unique hostnames, lines that land.

    `added`: the ids of sites added to a network that passed these rules, nothing else changed
    (network.model.checked knows when): only the sites those can break are checked again (they,
    their parents, and the sites whose slug or hostnames they share), which finds the same
    problems, in the same order, as a check of every site (a test compares the two)."""
    problems: list[Problem] = []
    sites, files = network.sites, network.site_files

    def bad(site: Site, field_name: str, message: str) -> None:
        problems.append(Problem(files[site.id], network.path(site), field_name, message))

    roots = [s for s in sites.values() if s.tier == "ministry"]
    if len(roots) > 1:
        for site in roots[1:]:
            bad(site, "tier", f"a second ministry; '{roots[0].id}' is the root already")
    by_slug: dict[str, list[Site]] = {}  # in the model's order: the first of a slug keeps it
    for site in sites.values():
        by_slug.setdefault(site.slug, []).append(site)
    if added is None:
        focus = list(sites.values())
    else:
        wanted = _reach_of(network, added, by_slug)
        focus = [site for site in sites.values() if site.id in wanted]
    in_loops = _check_parent_loops(network, bad, focus)
    _check_sites(network, focus, in_loops, by_slug, bad)
    _check_hostnames(network, focus, bad)
    for site in focus:
        if site.id not in in_loops:
            _check_uplinks(network, site, bad)
    problems += _check_business_site(network)
    return problems


def _check_sites(network: Network, focus: list[Site], in_loops: set[str], by_slug: dict[str, list[Site]], bad) -> None:
    """The rules of one site against the rest: its slug, parent, devices, DR target, insured."""
    for site in focus:
        first = by_slug[site.slug][0]
        if first is not site:
            bad(
                site,
                "slug",
                f"'{site.slug}' is the slug of '{first.id}' too; "
                "hostnames are built from it, make it unique (e.g. add the county)",
            )
        if site.id not in in_loops:
            _check_parent(network, site, bad)
        _check_devices(site, bad)
        if site.dr_for is not None:
            _check_dr_site(network, site, bad)
        _check_insured(network, site, bad)


def _reach_of(network: Network, added: Collection[str], by_slug: dict[str, list[Site]]) -> set[str]:
    """The sites whose checks an added site can change, in a network that passed them without it:
    the added sites; their parents (a county's insured total counts its townships); and the sites
    that share a slug or a hostname with one (the later of two is the one refused). Nothing else:
    the other sites' parents, lines and DR targets were there and right before."""
    sites = network.sites
    reach = {site_id for site_id in added if site_id in sites}
    for site_id in list(reach):
        site = sites[site_id]
        if site.parent in sites:
            reach.add(site.parent)
        reach.update(other.id for other in by_slug[site.slug])
        for name in [d.name for d in site.devices] + [h.name for h in site.hosts]:
            made = network.hostname(site, name)  # <slug>-<name>: split at each '-' to find its other makers
            for at in (n for n, char in enumerate(made) if char == "-"):
                rest = made[at + 1 :]
                for other in by_slug.get(made[:at], ()):
                    if any(d.name == rest for d in other.devices) or any(h.name == rest for h in other.hosts):
                        reach.add(other.id)
    return reach


def _check_dr_site(network: Network, site: Site, bad) -> None:
    """A DR site is a datacenter standing in for another datacenter (not itself, not a DR site)."""
    target = network.sites.get(site.dr_for)
    if site.tier != "datacenter":
        bad(site, "dr_for", f"only a datacenter site is a DR site; this one is a {site.tier}")
    elif target is None:
        bad(site, "dr_for", f"'{site.dr_for}' is not a site of this environment")
    elif target.tier != "datacenter" or target.id == site.id or target.dr_for is not None:
        bad(site, "dr_for", f"'{site.dr_for}' is not a datacenter another site can stand in for")


def _check_insured(network: Network, site: Site, bad) -> None:
    """A township's insured population, or a county's as the total over its townships
    (network.model.capacity spreads it over those that state none)."""
    if site.insured is None:
        return
    if site.tier not in INSURED_TIERS:
        bad(
            site,
            "insured",
            f"only a township, or a county for its townships, has an insured population; this is a {site.tier}",
        )
        return
    townships = [network.sites[c] for c in network.children.get(site.id, ()) if network.sites[c].tier == "township"]
    if site.tier != "county" or not townships:
        return
    stated = sum(t.insured or 0 for t in townships)
    if stated > site.insured:
        bad(
            site,
            "insured",
            f"{site.insured:,} is the county's total, but its townships state {stated:,} between them: "
            "raise the county's figure, or correct the townships'",
        )
    elif all(t.insured is not None for t in townships) and stated != site.insured:
        bad(
            site,
            "insured",
            f"{site.insured:,} is the county's total, but every township states its own ({stated:,} in all): "
            "make it their sum, or drop it",
        )


def _check_business_site(network: Network) -> list[Problem]:
    """group_vars' jinbao_business_site: a DC with a host for each service name."""
    site_id = network.policy.business_site
    if site_id is None:
        return []
    site = network.sites.get(site_id)
    if site is None or site.tier != "datacenter":
        return [Problem("group_vars/all", "", "jinbao_business_site", f"is {site_id}; no datacenter site has that id")]
    needed = {role: f"jinbao_service_names' `{name}` points at" for name, role in network.policy.service_names.items()}
    at_dc = dict(needed)
    at_dc.setdefault("backup", "the database's WAL and backups go to (pgBackRest's repository)")
    problems = _missing_roles(network, site, at_dc)
    for peer in network.dr_peers(site.id):  # the DR site takes the names over: the same tiers stand there
        at_dr = dict(needed)
        at_dr.setdefault("ops", "runs the DR site's name server")
        problems += _missing_roles(network, network.sites[peer], at_dr)
    return problems


def _missing_roles(network: Network, site: Site, needed: dict[str, str]) -> list[Problem]:
    roles = {h.role for h in site.hosts}
    return [
        Problem(network.site_files[site.id], network.path(site), "hosts", f"has no host of role {role}, which {why}")
        for role, why in needed.items()
        if role not in roles
    ]


def _check_parent_loops(network: Network, bad, starts: list[Site]) -> set[str]:
    """Refuse parents that loop (a site its own ancestor), walking up from `starts`; the ids in
    or under a loop are returned, so that no rule which walks up the tree runs on them."""
    sites = network.sites
    done: dict[str, bool] = {}  # id -> its ancestry ends in a loop
    for start in (site.id for site in starts):
        chain: list[str] = []
        on_walk: set[str] = set()
        current: str | None = start
        while current in sites and current not in done and current not in on_walk:
            chain.append(current)
            on_walk.add(current)
            current = sites[current].parent
        looped = current in on_walk or done.get(current or "", False)
        if current in on_walk:
            loop = chain[chain.index(current) :]
            order = {site_id: n for n, site_id in enumerate(sites)}
            first = min(range(len(loop)), key=lambda n: order[loop[n]])
            loop = loop[first:] + loop[:first]
            site = sites[loop[0]]
            bad(
                site,
                "parent",
                f"'{site.parent}' makes a parent loop ({' -> '.join([*loop, loop[0]])}); "
                "a site cannot be its own ancestor: give it the parent one tier up",
            )
        for site_id in chain:
            done[site_id] = looped
    return {site_id for site_id, looped in done.items() if looped}


def _check_hostnames(network: Network, sites: list[Site], bad) -> None:
    """Hostnames are made as <site slug>-<name> (Network.hostname): a city's router `dc-r1` and
    the router `r1` of a site slugged `<city>-dc` would both be `<city>-dc-r1`, one config
    silently overwriting the other. Unique across the environment, routers and servers alike
    (`sites`: every site, or every one that makes a hostname an added site makes too)."""
    made: dict[str, tuple[Site, str, str]] = {}
    for site in sites:
        named = [("devices", n, d.name) for n, d in enumerate(site.devices)]
        named += [("hosts", n, h.name) for n, h in enumerate(site.hosts)]
        for kind, index, name in named:
            hostname = network.hostname(site, name)
            first = made.setdefault(hostname, (site, kind, name))
            if first[0] is site and first[1:] == (kind, name):
                continue  # the first of its name, or a name used twice in one list (_check_devices)
            other, other_kind, other_name = first
            if other is not site and other.slug == site.slug:
                continue  # the duplicate slug is reported already
            owner = "this site" if other is site else f"'{other.id}' ({network.path(other)})"
            bad(
                site,
                f"{kind}[{index}].name",
                f"'{name}' makes hostname '{hostname}', which {other_kind[:-1]} '{other_name}' of {owner} "
                "has already; hostnames are <site slug>-<name> and must be unique: rename one",
            )


def _check_parent(network: Network, site: Site, bad) -> None:
    if site.tier == "ministry":
        if site.parent:
            bad(site, "parent", "the ministry is the root and has no parent")
        return
    if not site.parent:
        bad(site, "parent", "is required for every site below the ministry")
        return
    parent = network.sites.get(site.parent)
    if parent is None:
        bad(site, "parent", f"'{site.parent}' does not exist")
        return
    if site.tier == "datacenter":
        if parent.tier not in DC_PARENT_TIERS:
            bad(site, "parent", f"a data centre hangs under a {'/'.join(DC_PARENT_TIERS)}, not a {parent.tier}")
    elif parent.tier == "datacenter" or TIER_RANK[parent.tier] != TIER_RANK[site.tier] - 1:
        expected = TIERS[TIERS.index(site.tier) - 1]
        bad(site, "parent", f"'{parent.id}' is a {parent.tier}; a {site.tier} hangs under a {expected}")


# A village is an access point of its township (docs/addressing.md): its LAN ends on the township's
# router, over the township's access line, so it has no router, line or server of its own.
ACCESS_POINT_TIERS = ("village",)


def _check_access_point(site: Site, bad) -> None:
    for field_name in ("devices", "uplinks", "hosts"):
        if getattr(site, field_name):
            bad(
                site,
                field_name,
                f"a {site.tier} is an access point of its township: its LAN ends on the township's router "
                f"and its traffic rides the township's lines, so it has no {field_name} of its own; remove them",
            )


def _check_devices(site: Site, bad) -> None:
    if site.tier in ACCESS_POINT_TIERS:
        _check_access_point(site, bad)
        return
    if len(site.devices) == 1 and not site.hosts:  # nearly every site; nothing can be wrong
        return
    names = [d.name for d in site.devices]
    for name in {n for n in names if names.count(n) > 1}:
        bad(site, "devices", f"device name '{name}' is used twice")
    if not site.devices:
        bad(site, "devices", f"a {site.tier} site needs at least one router")
    if site.hosts and site.tier != "datacenter":
        bad(site, "hosts", "only data-centre sites (tier: datacenter) carry hosts")
    host_names = [h.name for h in site.hosts]
    for name in {n for n in host_names if host_names.count(n) > 1}:
        bad(site, "hosts", f"host name '{name}' is used twice")


def _check_uplinks(network: Network, site: Site, bad) -> None:
    if site.tier == "ministry":
        if site.uplinks:
            bad(site, "uplinks", "the ministry has no uplink")
        return
    if site.tier in ACCESS_POINT_TIERS:
        return  # refused with its devices, if it states any
    if not site.uplinks:
        bad(site, "uplinks", "needs at least one line to its parent")
        return
    keys: set[str] = set()
    for index, line in enumerate(site.uplinks):
        where = f"uplinks[{index}]"
        if line.key in keys:
            bad(site, f"{where}.name", f"two lines are keyed '{line.key}'; give each a distinct name")
        keys.add(line.key)
        target = network.sites.get(line.parent or "")
        if target is None:
            if line.stated_parent:
                bad(site, f"{where}.parent", f"'{line.stated_parent}' does not exist")
            continue
        _check_landing(network, site, index, line, target, bad)
        _check_line_devices(site, line, target, where, bad)


def _check_landing(network: Network, site: Site, index: int, line, target: Site, bad) -> None:
    """A line lands on the site's parent; only a township's backup may land one tier higher."""
    where = f"uplinks[{index}].parent"
    if index == 0 and line.stated_parent and line.stated_parent != site.parent:
        bad(site, where, f"the primary line must go to the site's parent '{site.parent}'")
    elif target.id != site.parent and target not in network.ancestors(site):
        bad(site, where, f"'{target.id}' is not above this site; lines run up the tree")
    elif target.id != site.parent and (site.tier, target.tier) not in LINE_ABOVE_PARENT:
        bad(
            site,
            where,
            f"'{target.id}' is the {target.tier}; a line lands on the site's parent, and only a "
            "township's backup may land one tier higher, on its city (docs/routing.md)",
        )


def _check_line_devices(site: Site, line, target: Site, where: str, bad) -> None:
    """The routers a line names exist at its two ends."""
    if site.devices and line.device and not site.device(line.device):
        bad(site, f"{where}.device", f"'{line.device}' is not a device of this site")
    if line.parent_device and not target.device(line.parent_device):
        bad(site, f"{where}.parent_device", f"'{line.parent_device}' is not a device of '{target.id}'")
    elif not target.devices:
        bad(site, f"{where}.parent", f"'{target.id}' has no router to end the line on")
