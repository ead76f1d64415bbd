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
    try:
        state = json.loads((Path(network.root) / ".cache" / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(state, dict)
        or state.get("version") != VERSION
        or not isinstance(state.get("files"), dict)
        or state.get("inputs") != _inputs_digest(network)
    ):
        return None
    added = added_between(network, state["files"])
    return None if added is None else [site.id for site in added]


def added_between(network: Network, files: dict[str, str]) -> list[Site] | None:
    """The sites added since the sites files were these versions (label -> digest, as a record
    keeps them), in the model's order; [] if none; None if anything else changed: a file added
    or gone, a site edited, removed or moved to another file, or an old version not cached."""
    if set(files) != set(network.file_digests):
        return None
    changed = [label for label, digest in network.file_digests.items() if files[label] != digest]
    old: dict[str, dict[str, Site]] = {}
    for label in changed:
        sites = cached_sites(Path(network.root), label, files[label])
        if sites is None:
            return None
        old[label] = {site.id: site for site in sites}
    if not old:
        return []
    added: list[Site] = []
    kept = dict.fromkeys(old, 0)
    for site in network.sites.values():
        label = network.site_files[site.id]
        if label not in old:
            continue
        before = old[label].get(site.id)
        if before is None:
            added.append(site)
        elif before != site:
            return None
        else:
            kept[label] += 1
    if any(kept[label] != len(sites) for label, sites in old.items()):
        return None  # a site removed, or moved to another file
    return added
