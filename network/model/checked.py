"""What the rules across sites (network.model.rules) last passed on, so that a load after sites
were only added checks what those sites can break instead of the whole country again.

``<env>/.cache/check-state.json`` remembers, after a load that found no problem: the digest of
every sites file, and of what else the rules read (the model's code, the policy).
When the next load's files differ from it only in files where sites were added (every earlier
site still there, field for field, in its file), the rules run for the added ones (check_tree's
`added`); when nothing differs, for none. Anything else (a site removed or edited, a file added,
another policy or jinbao version, a cached file version gone) checks every site.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from network.fileio import write_cache
from network.model.cache import CACHE_VERSION, CHECK_RECORD, cached_sites
from network.model.network import Network
from network.model.schema import Site

STATE_FILE = CHECK_RECORD
VERSION = 1


MODEL = Path(__file__).resolve().parent  # network/model: the rules, the schema, how they are read


@functools.cache
def _code_digest() -> str:
    """All of the model's code (read once a process): another version checks everything."""
    code = hashlib.sha256(CACHE_VERSION)
    for path in sorted(MODEL.glob("*.py")):
        code.update(path.name.encode() + b"\0" + path.read_bytes())
    return code.hexdigest()


def _inputs_digest(network: Network) -> str:
    return hashlib.sha256((_code_digest() + network.policy.model_dump_json()).encode()).hexdigest()


def remember(network: Network) -> None:
    """Record that every site of this network passed the rules (unless that is the record already)."""
    path = Path(network.root) / ".cache" / STATE_FILE
    state = json.dumps({"version": VERSION, "inputs": _inputs_digest(network), "files": network.file_digests})
    try:
        if path.read_text() == state:
            return
    except OSError:
        pass
    write_cache(path, state.encode())


def added_since(network: Network) -> list[str] | None:
    """The ids of the sites added since the network last passed the rules ([]: nothing changed);
    None: something else changed, or there is no record."""
    root = Path(network.root)
    try:
        state = json.loads((root / ".cache" / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(state, dict)
        or state.get("version") != VERSION
        or not isinstance(state.get("files"), dict)
        or set(state["files"]) != set(network.file_digests)
        or state.get("inputs") != _inputs_digest(network)
    ):
        return None
    changed = {label for label, digest in network.file_digests.items() if state["files"][label] != digest}
    if not changed:
        return []
    by_file: dict[str, list[Site]] = {label: [] for label in changed}
    for site in network.sites.values():
        label = network.site_files[site.id]
        if label in by_file:
            by_file[label].append(site)
    added: list[str] = []
    for label in sorted(changed):
        found = added_in_file(cached_sites(root, label, state["files"][label]), by_file[label])
        if found is None:
            return None
        added += [site.id for site in found]
    return added


def added_in_file(old_sites: list[Site] | None, current: list[Site]) -> list[Site] | None:
    """The sites of one file that are new since its old version, in file order; None if any
    other site changed, left, or went to another file (or the old version is unknown)."""
    if old_sites is None:
        return None
    old_by_id = {site.id: site for site in old_sites}
    if len(old_by_id.keys() & {s.id for s in current}) != len(old_by_id):
        return None
    added = []
    for site in current:
        old = old_by_id.get(site.id)
        if old is None:
            added.append(site)
        elif old != site:
            return None
    return added
