"""Load the intent of one environment and check the rules that span records.

Every problem found is collected, so one run shows them all; each names the
file, the site path (slugs from the province down) and the field.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from network.errors import ModelError, Problem
from network.fileio import write_cache
from network.model import chunks
from network.model.schema import DC_PARENT_TIERS, TIERS, AddressPlan, Site, SiteSpec, hostname
from network.model.settings import Settings, settings_from_vars

try:  # libyaml is ~10x faster; the national inventory needs it
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

CACHE_VERSION = b"6"  # bump when validation changes: a cached result must not outlive its rules
TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}
# (site tier, tier of the site a line lands on) allowed besides the parent, docs/routing.md:
# "a township's backup may land on its county or its city". Nothing lands on a province or
# the ministry except from the tier right below.
LINE_ABOVE_PARENT = frozenset({("township", "city")})


@dataclass
class Network:
    """The validated intent of one environment, with the indexes consumers need."""

    name: str
    root: Path
    sites: dict[str, Site]
    addressing: AddressPlan
    settings: dict[str, Any]
    site_files: dict[str, str] = field(default_factory=dict)  # site id -> file it came from
    children: dict[str, list[str]] = field(default_factory=dict)
    policy: Settings = field(default_factory=Settings)
    file_digests: dict[str, str] = field(default_factory=dict)  # sites file -> sha256 (incremental plans)
    _province: dict[str, Site | None] = field(default_factory=dict, repr=False)

    def parent(self, site: Site) -> Site | None:
        return self.sites[site.parent] if site.parent else None

    def ancestors(self, site: Site) -> list[Site]:
        """Parent first, up to the root; stops at a parent loop (which check_tree refuses)."""
        chain, seen = [], {site.id}
        while site.parent in self.sites and site.parent not in seen:
            site = self.sites[site.parent]
            seen.add(site.id)
            chain.append(site)
        return chain

    def path(self, site: Site) -> str:
        return site_path(self.sites, site)

    def province_of(self, site: Site) -> Site | None:
        """The province whose address block the site draws from; None for the national level."""
        if site.id in self._province:
            return self._province[site.id]
        if site.tier == "province":
            found = site
        elif site.tier == "ministry" or site.parent is None or site.parent not in self.sites:
            found = None
        else:
            found = self.province_of(self.sites[site.parent])
        self._province[site.id] = found
        return found

    def hostname(self, site: Site, name: str) -> str:
        return hostname(site, name)

    def iter_devices(self) -> Iterable[tuple[Site, Any]]:
        for site in self.sites.values():
            for device in site.devices:
                yield site, device


def site_path(sites: dict[str, Any], site: Any) -> str:
    """zhejiang/jinhua/yiwu/choucheng; the ministry is the implied root.

    Works on raw dicts too, so errors found before validation still name the site's place.
    """

    def get(record: Any, key: str) -> Any:
        return record.get(key) if isinstance(record, dict) else getattr(record, key, None)

    parts, seen = [], set()
    current = site
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if get(current, "tier") == "ministry" and current is not site:
            break
        parts.append(str(get(current, "slug") or get(current, "id") or "?"))
        parent_id = get(current, "parent")
        if parent_id is None:
            break
        current = sites.get(parent_id)
        if current is None:
            parts.append("…")
    return "/".join(reversed(parts))


def read_yaml(path: Path, label: str | None = None) -> Any:
    try:
        with path.open("rb") as fh:
            return yaml.load(fh, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ModelError(Problem(label or path.name, where, "", f"is not valid YAML: {exc}")) from exc
    except OSError as exc:
        raise ModelError(Problem(str(path), "", "", f"cannot be read: {exc.strerror}")) from exc


def _site_files(root: Path) -> list[Path]:
    single, folder = root / "sites.yml", root / "sites"
    files = [single] if single.exists() else []
    if folder.is_dir():
        files += sorted(folder.glob("*.yml"))
    if not files:
        raise ModelError(Problem(str(root), "", "", "has neither sites.yml nor sites/*.yml"))
    return files


def _field_name(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _merge_defaults(raw: dict, defaults: dict) -> dict:
    tier_defaults = defaults.get(raw.get("tier"), {}) if isinstance(defaults, dict) else {}
    if not tier_defaults:
        return raw
    return {**tier_defaults, **raw}


def _validate_file(
    path: Path, label: str, cache_dir: Path | None = None
) -> tuple[list[Site], list[Problem], list[dict]]:
    """Parse and type-check one sites file. Pure in its input bytes, so results are cached.

    With a cache, only the sites whose text changed since the last good validation are
    parsed again (network.model.chunks).
    """
    memo = chunks.load_memo(cache_dir, label) if cache_dir else None
    if memo is not None:
        quick = chunks.validate_changed(path.read_text(encoding="utf-8"), memo, _merge_defaults)
        if quick is not None:
            head, items, sites = quick
            chunks.save_memo(cache_dir, label, head, memo["defaults"], items, sites)  # type: ignore[arg-type]
            return sites, [], []
    data = read_yaml(path, label) or {}
    if not isinstance(data, dict) or not isinstance(data.get("sites", []), list):
        return [], [Problem(label, "", "sites", "must be a list of sites")], []
    defaults = data.get("defaults") or {}
    raws, sites, problems = [], [], _check_file_keys(data, label)
    for index, raw in enumerate(data.get("sites") or []):
        if not isinstance(raw, dict):
            problems.append(Problem(label, f"sites[{index}]", "", "must be a mapping"))
            continue
        raw = _merge_defaults(raw, defaults)
        raws.append(raw)
        try:
            sites.append(SiteSpec.model_validate(raw).to_site())
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(
                    Problem(label, f"@{raw.get('id', f'sites[{index}]')}", _field_name(err["loc"]), _say(err))
                )
    if cache_dir and not problems:
        parts = chunks.split(path.read_text(encoding="utf-8"))
        if parts is not None and len(parts[1]) == len(sites):
            chunks.save_memo(cache_dir, label, parts[0], defaults, parts[1], sites)
    # raw records are kept only to name the place of a problem; without problems they are dead weight
    return sites, problems, raws if problems else []


def _check_file_keys(data: dict, label: str) -> list[Problem]:
    """A file that lost its sites (emptied, or the key misspelt) would release every allocation they hold."""
    problems = [
        Problem(label, "", str(key), "is not a key of a sites file (defaults, sites); is it a misspelt `sites`?")
        for key in data
        if key not in ("defaults", "sites")
    ]
    if not data.get("sites"):
        problems.append(
            Problem(
                label,
                "",
                "sites",
                "lists no site; a plan would release every allocation of its sites: restore the file "
                "from git, or delete it if its sites really went",
            )
        )
    return problems


def _say(err: dict) -> str:
    message = err["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    value = err.get("input")
    if isinstance(value, str | int | float) and repr(value) not in message:
        message += f" (got {value!r})"
    return message


def _file_digest(path: Path, label: str) -> str:
    return hashlib.sha256(CACHE_VERSION + label.encode() + path.read_bytes()).hexdigest()


def _from_cache(cached: Path | None):
    if cached is not None and cached.exists():
        try:
            return pickle.loads(cached.read_bytes())
        except Exception:  # a stale or torn cache is just a miss
            return None
    return None


def _to_cache(cached: Path | None, result) -> None:
    if cached is None:
        return
    write_cache(cached, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))


def _validate_job(job: tuple[Path, str, Path | None]):
    return _validate_file(*job)


def _validate_all(root: Path, cache_dir: Path | None) -> list[tuple[str, str, tuple]]:
    """(label, digest, result) per sites file, from the cache where the file is unchanged.

    Files that need parsing are spread over the CPU cores when there are several
    (the national inventory: one file per province).
    """
    jobs = []
    for path in _site_files(root):
        label = str(path.relative_to(root))
        file_digest = _file_digest(path, label)
        cached = cache_dir / f"sites-{file_digest}.pickle" if cache_dir else None
        jobs.append((path, label, file_digest, cached, _from_cache(cached)))
    missing = [(path, label, cache_dir) for path, label, _d, _c, result in jobs if result is None]
    fresh: dict[str, tuple] = {}
    if len(missing) > 1 and (os.cpu_count() or 1) > 1 and "fork" in mp.get_all_start_methods():
        with mp.get_context("fork").Pool(min(os.cpu_count() or 1, len(missing))) as pool:
            fresh = dict(zip((job[1] for job in missing), pool.map(_validate_job, missing), strict=True))
    else:
        fresh = {label: _validate_file(path, label, memo_dir) for path, label, memo_dir in missing}
    results = []
    for _path, label, file_digest, cached, result in jobs:
        if result is None:
            result = fresh[label]
            _to_cache(cached, result)
        results.append((label, file_digest, result))
    if cache_dir is not None and missing:
        _prune_cache(cache_dir, {digest for _l, digest, _r in results})
    return results


def _prune_cache(cache_dir: Path, current: set[str]) -> None:
    """Drop cached files of sites-file versions that neither the model nor the last plan refers to."""
    keep = set(current)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        keep |= set(json.loads((cache_dir / "plan-state.json").read_text()).get("files", {}).values())
    for cached in cache_dir.glob("sites-*.pickle"):
        if cached.stem.removeprefix("sites-") not in keep:
            cached.unlink(missing_ok=True)


def load(root: str | Path, *, cache: bool = True) -> Network:
    """Load and validate ``inventories/<env>``. Raises ModelError listing every problem."""
    root = Path(root)
    if not root.is_dir():
        raise ModelError(Problem(str(root), "", "", "is not an inventory directory"))
    cache_dir = root / ".cache" if cache else None
    problems: list[Problem] = []
    sites: dict[str, Site] = {}
    raw_by_id: dict[str, dict] = {}
    files: dict[str, str] = {}
    file_digests: dict[str, str] = {}
    for label, file_digest, (parsed, found, raws) in _validate_all(root, cache_dir):
        file_digests[label] = file_digest
        problems += found
        for raw in raws:
            if isinstance(raw.get("id"), str):
                raw_by_id.setdefault(raw["id"], raw)
        for site in parsed:
            if site.id in sites:
                problems.append(
                    Problem(
                        label,
                        site_path({**sites, **raw_by_id}, site),
                        "id",
                        f"'{site.id}' is used by another site too ({files[site.id]})",
                    )
                )
                continue
            sites[site.id] = site
            files[site.id] = label
    # Problems found per file name the site by id; now that parents are known, name its path.
    known = {**sites, **raw_by_id}
    problems = [
        Problem(p.file, site_path(known, raw_by_id[p.where[1:]]), p.field, p.message)
        if p.where.startswith("@") and p.where[1:] in raw_by_id
        else p
        for p in problems
    ]
    addressing = _load_addressing(root, problems)
    settings = _load_settings(root, problems)
    policy = _load_policy(settings, problems)
    network = Network(
        root.name,
        root,
        sites,
        addressing,
        settings,
        files,
        policy=policy,
        file_digests=file_digests,  # type: ignore[arg-type]
    )
    problems += check_tree(network)
    if problems:
        raise ModelError(problems)
    return network


def _load_addressing(root: Path, problems: list[Problem]) -> AddressPlan | None:
    """addressing.yml; `base: <file>` takes the national plan from there, so it is written once
    and an environment states only what differs (the lab's smaller management network)."""
    path = root / "addressing.yml"
    if not path.exists():
        problems.append(Problem("addressing.yml", "", "", "is missing: copy it from inventories/sample-province"))
        return None
    data = read_yaml(path, "addressing.yml") or {}
    base = data.pop("base", None) if isinstance(data, dict) else None
    if base is not None:
        base_path = (root / str(base)).resolve()
        if not base_path.is_file():
            problems.append(Problem("addressing.yml", "", "base", f"'{base}' does not exist (from {root})"))
            return None
        data = _deep_merge(read_yaml(base_path, str(base)) or {}, data)
    try:
        return AddressPlan.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(Problem("addressing.yml", "", _field_name(err["loc"]), _say(err)))
    return None


def _deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else in the override replaces the base."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: _deep_merge(base.get(key), value) for key, value in override.items()}}
    return override


def _load_settings(root: Path, problems: list[Problem]) -> dict[str, Any]:
    """Management-plane policy shared with Ansible: group_vars/all/*.yml (vault.yml excluded)."""
    settings: dict[str, Any] = {}
    for path in sorted((root / "group_vars" / "all").glob("*.yml")):
        if path.name == "vault.yml":
            continue
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            problems.append(Problem(str(path.relative_to(root)), "", "", "must be a mapping"))
            continue
        settings.update(data)
    return settings


def _load_policy(settings: dict[str, Any], problems: list[Problem]) -> Settings:
    try:
        return Settings.model_validate(settings_from_vars(settings))
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(Problem("group_vars/all", "", "jinbao_" + _field_name(err["loc"]), _say(err)))
    return Settings()


def check_tree(network: Network) -> list[Problem]:
    """Rules that span sites: one root, parents one tier up, unique hostnames, lines that land."""
    problems: list[Problem] = []
    sites, files = network.sites, network.site_files

    def bad(site: Site, field_name: str, message: str) -> None:
        problems.append(Problem(files[site.id], network.path(site), field_name, message))

    roots = [s for s in sites.values() if s.tier == "ministry"]
    if len(roots) > 1:
        for site in roots[1:]:
            bad(site, "tier", f"a second ministry; '{roots[0].id}' is the root already")
    in_loops = _check_parent_loops(network, bad)
    slugs: dict[str, Site] = {}
    for site in sites.values():
        network.children.setdefault(site.id, [])
        if site.slug in slugs:
            bad(
                site,
                "slug",
                f"'{site.slug}' is the slug of '{slugs[site.slug].id}' too; "
                "hostnames are built from it, make it unique (e.g. add the county)",
            )
        slugs.setdefault(site.slug, site)
        if site.id not in in_loops:
            _check_parent(network, site, bad)
        _check_devices(site, bad)
    _check_hostnames(network, bad)
    for site in sites.values():
        if site.parent in sites:
            network.children[site.parent].append(site.id)
        if site.id not in in_loops:
            _check_uplinks(network, site, bad)
    return problems


def _check_parent_loops(network: Network, bad) -> set[str]:
    """Refuse parents that loop (a site its own ancestor); the ids in or under a loop are returned,
    so that no rule which walks up the tree runs on them."""
    sites = network.sites
    done: dict[str, bool] = {}  # id -> its ancestry ends in a loop
    order = {site_id: n for n, site_id in enumerate(sites)}
    for start in sites:
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


def _check_hostnames(network: Network, bad) -> None:
    """Hostnames are made as <site slug>-<name> (Network.hostname): a city's router `dc-r1` and
    the router `r1` of a site slugged `<city>-dc` would both be `<city>-dc-r1`, one config
    silently overwriting the other. Unique across the environment, routers and servers alike."""
    made: dict[str, tuple[Site, str, str]] = {}
    for site in network.sites.values():
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


def _check_devices(site: Site, bad) -> None:
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
        if index == 0 and line.stated_parent and line.stated_parent != site.parent:
            bad(site, f"{where}.parent", f"the primary line must go to the site's parent '{site.parent}'")
        elif target.id != site.parent and target not in network.ancestors(site):
            bad(site, f"{where}.parent", f"'{target.id}' is not above this site; lines run up the tree")
        elif target.id != site.parent and (site.tier, target.tier) not in LINE_ABOVE_PARENT:
            bad(
                site,
                f"{where}.parent",
                f"'{target.id}' is the {target.tier}; a line lands on the site's parent, and only a "
                "township's backup may land one tier higher, on its city (docs/routing.md)",
            )
        if site.devices and line.device and not site.device(line.device):
            bad(site, f"{where}.device", f"'{line.device}' is not a device of this site")
        if line.parent_device and not target.device(line.parent_device):
            bad(site, f"{where}.parent_device", f"'{line.parent_device}' is not a device of '{target.id}'")
        elif not target.devices:
            bad(site, f"{where}.parent", f"'{target.id}' has no router to end the line on")
