"""What onboarding or offboarding a township would change, computed before anything is written.

The request becomes a site record (network.scaffold.site_record), staged into its county's
sites file by scaffold.stage_site (every byte of the file kept; the model refuses an unknown
county, a taken id or slug, a line landing where it may not). Its addresses come from the
IPAM planner that `jinbao plan` runs (network.ipam.incremental.plan: an exhausted pool is
refused there), its lines are held against the capacity plan (network.capacity), and the new
router and the routers its lines land on are rendered from the staged model. Offboarding is
the inverse: the site's text goes from the file, the planner releases what it held. Pure:
files in, a ChangeSet out; nothing is written here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from network import ipam, zones
from network.capacity import BELOW, capacity_report
from network.errors import JinbaoError, ModelError, Problem
from network.ipam import incremental
from network.model import Network, chunks, load
from network.model.schema import format_bandwidth, parse_bandwidth
from network.platforms import scrub
from network.render import Renderer, load_secrets
from network.scaffold import site_record, split_trailing, stage_site

TIER = "township"


@dataclass(frozen=True)
class Line:
    """One line of the request: `type,bandwidth[,parent]` and its carrier."""

    type: str
    bandwidth: str
    carrier: str | None  # None: the carrier of the county's own line (the one that extends it)
    parent: str | None = None

    def as_uplink(self) -> dict[str, str]:
        line = {"carrier": self.carrier, "type": self.type, "bandwidth": self.bandwidth, "parent": self.parent}
        return {k: v for k, v in line.items() if v is not None}


def parse_line(text: str, option: str, carrier: str | None, parent_allowed: bool) -> Line:
    """`type,bandwidth` (and `,parent` where `parent_allowed`), as the command line gives it."""
    parts = [p.strip() for p in text.split(",")]
    shape = "type,bandwidth[,parent]" if parent_allowed else "type,bandwidth"
    if len(parts) not in ((2, 3) if parent_allowed else (2,)) or not all(parts):
        raise JinbaoError(Problem("command line", "", option, f"{text!r} is not {shape}, e.g. mstp,10M"))
    try:
        parse_bandwidth(parts[1])
    except ValueError as exc:
        raise JinbaoError(Problem("command line", "", option, str(exc))) from None
    return Line(parts[0], parts[1], carrier, parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True)
class Township:
    """What `jinbao onboard township` is asked for."""

    county: str
    slug: str
    name: str
    line: Line
    backup: Line | None = None
    posts: int | None = None
    insured: int | None = None
    site_id: str | None = None

    def record(self) -> dict:
        lines = [self.line.as_uplink()] + ([self.backup.as_uplink()] if self.backup else [])
        record = site_record(
            TIER, self.county, self.slug, self.name, site_id=self.site_id, posts=self.posts, uplinks=lines
        )
        if self.insured is not None:  # before the lines, where the lab's sites.yml writes it
            record |= {"insured": self.insured, "uplinks": record.pop("uplinks")}
        return record


@dataclass(frozen=True)
class RouterChange:
    hostname: str
    role: str  # "new", "removed" or "upstream" (a router a line lands on)
    before: str
    after: str

    @property
    def diff(self) -> str:
        return unified(self.before, self.after, f"{self.hostname} (running intent)", f"{self.hostname} (new intent)")


@dataclass
class ChangeSet:
    """What one onboarding or offboarding changes: the two files, the addresses, the routers."""

    action: str  # onboard | offboard
    env: Path
    site_id: str
    site_path: str
    sites_label: str
    sites_before: str
    sites_after: str
    allocations_before: str
    allocations_after: str
    changes: list[ipam.Change]
    routers: list[RouterChange]
    warnings: list[str] = field(default_factory=list)
    network: Network | None = None  # the model after the change
    allocations: ipam.Allocations | None = None
    wan_before: str = ""  # the private WAN's addresses as the DC firewalls admit it, one a line
    wan_after: str = ""

    @property
    def firewalls_change(self) -> bool:
        """Whether the DC firewalls' rules change (zones.yml's wan zone takes in or lets go the site)."""
        return self.wan_before != self.wan_after

    @property
    def new_router(self) -> str | None:
        return next((r.hostname for r in self.routers if r.role in ("new", "removed")), None)

    @property
    def upstream(self) -> list[str]:
        return [r.hostname for r in self.routers if r.role == "upstream"]

    def diffs(self) -> dict[str, str]:
        """File or router -> its unified diff (the routers' from the rendered intent)."""
        files = {
            self.sites_label: unified(self.sites_before, self.sites_after, self.sites_label, self.sites_label),
            "allocations.yml": unified(
                self.allocations_before, self.allocations_after, "allocations.yml", "allocations.yml"
            ),
        }
        firewalls = {WAN_LABEL: unified(self.wan_before, self.wan_after, WAN_LABEL, WAN_LABEL)}
        return files | {r.hostname: r.diff for r in self.routers} | (firewalls if self.firewalls_change else {})

    def as_dict(self) -> dict:
        return {
            "action": self.action,
            "environment": self.env.name,
            "site": self.site_id,
            "path": self.site_path,
            "router": self.new_router,
            "upstream": self.upstream,
            "allocations": [
                {"action": c.action, "section": c.section, "key": c.key, "old": c.old, "new": c.new}
                for c in self.changes
            ],
            "warnings": self.warnings,
            "diffs": self.diffs(),
        }


WAN_LABEL = "the DC firewalls' private WAN (zones.yml's wan zone)"


def _wan(env: Path, network: Network, allocations: ipam.Allocations) -> str:
    """The addresses the DC firewalls take for the private WAN (every site LAN, line and loopback,
    collapsed), one a line; '' when the environment has no zones.yml."""
    if zones.load_if_any(env, network) is None:
        return ""
    return "".join(f"{net}\n" for net in zones.wan_addresses(network, allocations))


def unified(before: str, after: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"a/{old}", f"b/{new}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _router(network: Network, site_id: str, device: str | None) -> str:
    site = network.sites[site_id]
    return network.hostname(site, device or site.devices[0].name)


def _planned(network: Network, previous: ipam.Allocations) -> ipam.Plan:
    """The plan `jinbao plan` would make (an exhausted pool is refused by the planner)."""
    return incremental.plan(network, previous)[0]


def _render(network: Network, allocations: ipam.Allocations, env: Path, hosts: list[str], vault) -> dict[str, str]:
    """The routers' configs, secrets scrubbed as backup and push show them (the record goes to a ticket)."""
    configs = Renderer(network, allocations, load_secrets(env, vault)).render_hosts(hosts) if hosts else {}
    platforms = {network.hostname(site, d.name): d.platform for site in network.sites.values() for d in site.devices}
    return {host: scrub(platforms[host], text) for host, text in configs.items()}


def _rate(kbps: int | None) -> str:
    """2_524 -> '2.6M' (rounded up: a need is met only by at least that much)."""
    return f"{-(-(kbps or 0) // 100) / 10:g}M"


def _capacity(network: Network, site_id: str, label: str) -> tuple[list[Problem], list[str]]:
    """The site's lines below the capacity plan (refusals), and other lines its traffic now
    pushes below need (warnings: the request does not change them)."""
    refusals, warnings = [], []
    report = capacity_report(network)
    site = network.sites[site_id]
    ours = [line for line in report.lines if line.site == site_id]
    for index, line in enumerate(ours):
        if line.status == BELOW:
            kind = "backup line, the township's minimum" if line.backup else "line, what crosses it"
            refusals.append(
                Problem(
                    label,
                    network.path(site),
                    f"uplinks[{index}].bandwidth",
                    f"{format_bandwidth(line.bandwidth_kbps)} is below the capacity plan: this {kind}, needs "
                    f"{_rate(line.need_kbps)} (docs/capacity.md; `jinbao capacity`)",
                )
            )
    for line in report.below:
        if line.site != site_id and not line.backup:
            warnings.append(
                f"{line.path} {line.line}: {format_bandwidth(line.bandwidth_kbps)} is below need "
                f"({_rate(line.need_kbps)}) with the new township; plan an upgrade"
            )
    return refusals, warnings


def onboard(env: str | Path, request: Township, vault_password_file: Path | None = None) -> ChangeSet:
    """The change set of onboarding `request`; raises JinbaoError (exit 2, file/site/field) when
    the request is refused. Nothing is written."""
    env = Path(env)
    before = load(env)
    county = before.sites.get(request.county)
    if county is None or county.tier != "county":
        what = f"is a {county.tier}" if county else f"is no site of {before.name}"
        problem = f"'{request.county}' {what}; a township is onboarded under a county (`jinbao show site`)"
        raise ModelError(Problem(before.site_files.get(request.county, "sites.yml"), request.slug, "parent", problem))
    edit = stage_site(env, _with_carriers(request, before).record())
    previous = ipam.read(env)
    plan = _planned(edit.network, previous)
    refusals, warnings = _capacity(edit.network, edit.site_id, edit.label)
    if refusals:
        raise ModelError(*refusals)
    site = edit.network.sites[edit.site_id]
    new = _router(edit.network, site.id, None)
    upstream = list(dict.fromkeys(_router(edit.network, u.parent, u.parent_device) for u in site.uplinks))
    old = _render(before, previous, env, upstream, vault_password_file)
    after = _render(edit.network, plan.allocations, env, [new, *upstream], vault_password_file)
    routers = [RouterChange(new, "new", "", after[new])]
    routers += [RouterChange(h, "upstream", old[h], after[h]) for h in upstream]
    return ChangeSet(
        "onboard", env, site.id, edit.network.path(site), edit.label,
        edit.path.read_text(encoding="utf-8"), edit.text,
        _text(env), ipam.store.dumps(plan.allocations), plan.changes, routers, warnings,
        edit.network, plan.allocations, _wan(env, before, previous), _wan(env, edit.network, plan.allocations),
    )  # fmt: skip


def _with_carriers(request: Township, network: Network) -> Township:
    """Lines without a carrier get the carrier of the county's primary line."""
    county = network.sites.get(request.county)
    carrier = county.uplinks[0].carrier if county and county.uplinks else None
    if carrier is None:
        return request
    line = replace(request.line, carrier=request.line.carrier or carrier)
    backup = replace(request.backup, carrier=request.backup.carrier or carrier) if request.backup else None
    return replace(request, line=line, backup=backup)


def _text(env: Path) -> str:
    path = env / ipam.store.FILE
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _find(network: Network, slug: str) -> str:
    """The township's id from its slug (or id); refused when there is none or it is no township."""
    found = [s for s in network.sites.values() if slug in (s.slug, s.id)]
    if not found:
        raise ModelError(Problem("sites.yml", slug, "slug", f"no site '{slug}' in {network.name}"))
    site = found[0]
    if site.tier != TIER:
        label = network.site_files.get(site.id, "sites.yml")
        raise ModelError(Problem(label, network.path(site), "tier", f"is a {site.tier}; offboard takes a township"))
    children = network.children.get(site.id, [])
    if children:
        label = network.site_files.get(site.id, "sites.yml")
        message = f"has sites under it ({', '.join(children)}); offboard them first"
        raise ModelError(Problem(label, network.path(site), "parent", message))
    return site.id


def without_site(text: str, site_id: str, label: str) -> str:
    """The sites file without one site's own lines: the inverse of scaffold's insertion (the
    blank line that separated it goes with it; comments after it stay)."""
    parts = chunks.split(text)
    listed = (yaml.safe_load(text) or {}).get("sites") or []
    ids = [s.get("id") if isinstance(s, dict) else None for s in listed]
    if parts is None or len(parts[1]) != len(listed) or site_id not in ids:
        message = "is not laid out as one `sites:` list of sites at one indent; remove the site by hand"
        raise ModelError(Problem(label, "", "sites", message))
    head, items = parts
    at = ids.index(site_id)
    _body, trailing = split_trailing(items[at])
    if at == 0:
        return head + trailing + "".join(items[1:])
    previous, gap = split_trailing(items[at - 1])
    kept = previous + ("" if not gap.strip() else gap)
    return head + "".join(items[: at - 1]) + kept + trailing + "".join(items[at + 1 :])


def offboard(env: str | Path, slug: str, vault_password_file: Path | None = None) -> ChangeSet:
    """The change set of taking the township out: its site text, the allocations released, the
    routers its lines land on re-rendered. Refused (exit 2) when there is no such township."""
    env = Path(env)
    before = load(env)
    site_id = _find(before, slug)
    site = before.sites[site_id]
    label = before.site_files[site_id]
    text = (env / label).read_text(encoding="utf-8")
    edited = without_site(text, site_id, label)
    after = load(env, edited={label: edited})
    previous = ipam.read(env)
    plan = _planned(after, previous)
    removed = _router(before, site_id, None)
    upstream = list(dict.fromkeys(_router(before, u.parent, u.parent_device) for u in site.uplinks))
    old = _render(before, previous, env, [removed, *upstream], vault_password_file)
    new = _render(after, plan.allocations, env, upstream, vault_password_file)
    routers = [RouterChange(removed, "removed", old[removed], "")]
    routers += [RouterChange(h, "upstream", old[h], new[h]) for h in upstream]
    return ChangeSet(
        "offboard", env, site_id, before.path(site), label, text, edited,
        _text(env), ipam.store.dumps(plan.allocations), plan.changes, routers, [], after, plan.allocations,
        _wan(env, before, previous), _wan(env, after, plan.allocations),
    )  # fmt: skip
