"""Re-validate a sites file by the sites that changed, not the whole file.

libyaml needs ~0.4 s for a large province file (1,500 sites), pydantic ~0.03 s: after one
township is added, parsing the other 1,499 again is the slowest part of a re-plan. The
file is split into its list items textually; an item whose text is unchanged since the
last good validation reuses its Site, only new or edited items are parsed. Anything
unusual (other top-level keys after `sites:`, anchors, a problem) returns None and the
caller parses the whole file, which also gives the precise error messages.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from network.fileio import write_cache
from network.model.schema import Site, SiteSpec
from network.model.yamlfile import load_text

ITEM = re.compile(r"^( *)- ")
MEMO_VERSION = 4  # bump with load.CACHE_VERSION: a memo's sites were validated by the rules of its day


def split(text: str) -> tuple[str, list[str]] | None:
    """(head, items): everything up to `sites:`, then the text of each list item."""
    head: list[str] = []
    items: list[list[str]] = []
    indent: int | None = None
    in_sites = False
    for line in text.splitlines(keepends=True):
        if not in_sites:
            head.append(line)
            if line.startswith("sites:"):
                if line.split("#", 1)[0].strip() != "sites:":
                    return None  # an inline list: not worth the trouble
                in_sites = True
            continue
        stripped = line.strip()
        match = ITEM.match(line)
        if match and (indent is None or len(match.group(1)) == indent):
            indent = len(match.group(1))
            items.append([line])
        elif not stripped or stripped.startswith("#") or (indent is not None and line.startswith(" " * (indent + 1))):
            if items:
                items[-1].append(line)
            else:
                head.append(line)
        else:
            return None  # another top-level key, or a shape we do not chunk
    if not in_sites or indent is None:
        return None
    return "".join(head), ["".join(item) for item in items]


def _memo_path(cache_dir: Path, label: str) -> Path:
    return cache_dir / f"memo-{hashlib.sha256(label.encode()).hexdigest()[:16]}.pickle"


def load_memo(cache_dir: Path, label: str) -> dict[str, Any] | None:
    try:
        memo = pickle.loads(_memo_path(cache_dir, label).read_bytes())
    except Exception:  # missing or torn: no memo
        return None
    return memo if isinstance(memo, dict) and memo.get("version") == MEMO_VERSION else None


def save_memo(cache_dir: Path, label: str, head: str, defaults: dict, chunks: list[str], sites: list[Site]) -> None:
    memo = {"version": MEMO_VERSION, "head": head, "defaults": defaults, "sites": dict(zip(chunks, sites, strict=True))}
    write_cache(_memo_path(cache_dir, label), pickle.dumps(memo, protocol=pickle.HIGHEST_PROTOCOL))


def validate_changed(text: str, memo: dict[str, Any], merge) -> tuple[str, list[str], list[Site]] | None:
    """Sites of the file, re-using the memo for unchanged items; None to fall back to a full parse."""
    parts = split(text)
    if parts is None:
        return None
    head, chunks = parts
    if head != memo["head"]:
        return None  # defaults or comments above the list changed
    known: dict[str, Site] = memo["sites"]
    sites = []
    for chunk in chunks:
        site = known.get(chunk)
        if site is None:
            indent = len(ITEM.match(chunk).group(1))  # type: ignore[union-attr]
            body = "".join(line[indent:] if line.startswith(" " * indent) else line for line in chunk.splitlines(True))
            try:
                parsed = load_text(body)
                if not (isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], dict)):
                    return None
                site = SiteSpec.model_validate(merge(parsed[0], memo["defaults"])).to_site()
            except (yaml.YAMLError, ValidationError):
                return None
        sites.append(site)
    return head, chunks, sites
