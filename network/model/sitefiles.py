"""One sites file, parsed and type-checked record by record (pure in its input bytes).

Problems found here name the site by id (``@<id>``); load turns that into its path once
every file is read and the parents are known.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from network.errors import ModelError, Problem
from network.model import chunks
from network.model.schema import Site, SiteSpec
from network.model.yamlfile import field_name, parse_yaml, read_yaml, say


def site_files(root: Path) -> list[Path]:
    single, folder = root / "sites.yml", root / "sites"
    files = [single] if single.exists() else []
    if folder.is_dir():
        files += sorted(folder.glob("*.yml"))
    if not files:
        raise ModelError(Problem(str(root), "", "", "has neither sites.yml nor sites/*.yml"))
    return files


def _merge_defaults(raw: dict, defaults: dict) -> dict:
    tier_defaults = defaults.get(raw.get("tier"), {}) if isinstance(defaults, dict) else {}
    if not tier_defaults:
        return raw
    return {**tier_defaults, **raw}


def validate_file(
    path: Path, label: str, cache_dir: Path | None = None, text: str | None = None
) -> tuple[list[Site], list[Problem], list[dict]]:
    """Parse and type-check one sites file. Pure in its input bytes, so results are cached.

    With a cache, only the sites whose text changed since the last good validation are
    parsed again (network.model.chunks). `text`: the file's content as edited, not yet
    written (then no cache is used).
    """
    if text is not None:
        return _validate_data(parse_yaml(text, label), label)
    memo = chunks.load_memo(cache_dir, label) if cache_dir else None
    if memo is not None:
        quick = chunks.validate_changed(path.read_text(encoding="utf-8"), memo, _merge_defaults)
        if quick is not None:
            head, items, sites = quick
            chunks.save_memo(cache_dir, label, head, memo["defaults"], items, sites)  # type: ignore[arg-type]
            return sites, [], []
    data = read_yaml(path, label)
    sites, problems, raws = _validate_data(data, label)
    if cache_dir and not problems:
        parts = chunks.split(path.read_text(encoding="utf-8"))
        if parts is not None and len(parts[1]) == len(sites):
            chunks.save_memo(cache_dir, label, parts[0], data.get("defaults") or {}, parts[1], sites)
    return sites, problems, raws


def _validate_data(data: object, label: str) -> tuple[list[Site], list[Problem], list[dict]]:
    """Type-check the records of one parsed sites file."""
    data = data or {}
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
                    Problem(label, f"@{raw.get('id', f'sites[{index}]')}", field_name(err["loc"]), say(err))
                )
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
