"""Load the intent of one environment and check the rules that span records.

Every problem found is collected, so one run shows them all; each names the
file, the site path (slugs from the province down) and the field. The parts live
next door: sitefiles (one file's records), cache (unchanged files are not parsed
again), network (the loaded model and its indexes), rules (the checks across sites),
checked (when sites were only added since the rules last passed, they alone are checked).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from network.errors import ModelError, Problem
from network.model import checked
from network.model.cache import validate_all
from network.model.network import Network, children_of, site_path
from network.model.rules import check_tree
from network.model.schema import AddressPlan, Site
from network.model.settings import Settings, settings_from_vars
from network.model.yamlfile import field_name, read_yaml, say

__all__ = ["Network", "gc_paused", "load", "load_policy", "read_yaml", "site_path"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Reading the model and the allocations builds about a million objects and no reference
    cycle (nor does rendering); Python's cycle collector would walk them over and over meanwhile
    (0.4 s of a re-plan of the national inventory), so it waits until the work is done. A
    context, or a decorator of a function."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@gc_paused()
def load(
    root: str | Path,
    *,
    cache: bool = True,
    edited: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Network:
    """Load and validate ``inventories/<env>``. Raises ModelError listing every problem.

    `edited`: sites files (by label, e.g. ``sites.yml``) to validate with this text instead of
    what is on disk, so an edit is checked before it is written (nothing is cached then).
    `progress`: told of each sites file read."""
    root = Path(root)
    if not root.is_dir():
        raise ModelError(Problem(str(root), "", "", "is not an inventory directory"))
    cache_dir = root / ".cache" if cache and not edited else None
    problems: list[Problem] = []
    sites: dict[str, Site] = {}
    raw_by_id: dict[str, dict] = {}
    files: dict[str, str] = {}
    file_digests: dict[str, str] = {}
    for label, file_digest, (parsed, found, raws) in validate_all(root, cache_dir, edited or {}, progress):
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
        children_of(sites),
        policy=policy,
        file_digests=file_digests,  # type: ignore[arg-type]
    )
    remembered = cache_dir is not None and not problems
    added = checked.added_since(network) if remembered else None
    problems += check_tree(network, added)
    if problems:
        raise ModelError(problems)
    if remembered:
        checked.remember(network)
    return network


def load_policy(root: str | Path) -> Settings:
    """The policy of group_vars/all alone (no sites needed): what `jinbao generate` sizes lines by."""
    problems: list[Problem] = []
    policy = _load_policy(_load_settings(Path(root), problems), problems)
    if problems:
        raise ModelError(problems)
    return policy


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
            problems.append(Problem("addressing.yml", "", field_name(err["loc"]), say(err)))
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
            problems.append(Problem("group_vars/all", "", "jinbao_" + field_name(err["loc"]), say(err)))
    return Settings()
