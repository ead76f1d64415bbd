"""The per-file cache of validated sites under ``<env>/.cache``: a sites file that did not
change since its last validation is not parsed again, and files that did are parsed over
the CPU cores. A cached result is keyed by the file's bytes and CACHE_VERSION."""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import pickle
from collections.abc import Callable
from pathlib import Path

from network.fileio import write_cache
from network.model.schema import Site
from network.model.sitefiles import site_files, validate_file

CACHE_VERSION = b"7"  # bump when validation changes: a cached result must not outlive its rules


def _file_digest(path: Path, label: str, text: str | None = None) -> str:
    content = path.read_bytes() if text is None else text.encode()
    return hashlib.sha256(CACHE_VERSION + label.encode() + content).hexdigest()


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


def _validate_job(job: tuple[Path, str, Path | None, str | None]):
    return job[1], validate_file(*job)


def validate_all(
    root: Path, cache_dir: Path | None, edited: dict[str, str], progress: Callable[[int], None] | None = None
) -> list[tuple[str, str, tuple]]:
    """(label, digest, result) per sites file, from the cache where the file is unchanged;
    a file named in `edited` (label -> text) is validated from that text instead. `progress`
    is told of each file done.

    Files that need parsing are spread over the CPU cores when there are several
    (the national inventory: one file per province).
    """
    jobs = []
    for path in site_files(root):
        label = str(path.relative_to(root))
        file_digest = _file_digest(path, label, edited.get(label))
        cached = cache_dir / f"sites-{file_digest}.pickle" if cache_dir else None
        jobs.append((path, label, file_digest, cached, _from_cache(cached)))
    missing = [(path, label, cache_dir, edited.get(label)) for path, label, _d, _c, result in jobs if result is None]
    missing.sort(key=lambda job: -(len(job[3]) if job[3] is not None else job[0].stat().st_size))  # largest first
    advance = progress or (lambda n: None)
    advance(len(jobs) - len(missing))
    fresh: dict[str, tuple] = {}
    if len(missing) > 1 and (os.cpu_count() or 1) > 1 and "fork" in mp.get_all_start_methods():
        with mp.get_context("fork").Pool(min(os.cpu_count() or 1, len(missing))) as pool:
            for label, result in pool.imap_unordered(_validate_job, missing):
                fresh[label] = result
                advance(1)
    else:
        for job in missing:
            fresh[job[1]] = validate_file(*job)
            advance(1)
    results = []
    for _path, label, file_digest, cached, result in jobs:
        if result is None:
            result = fresh[label]
            _to_cache(cached, result)
        results.append((label, file_digest, result))
    if cache_dir is not None and missing:
        _prune_cache(cache_dir, {digest for _l, digest, _r in results})
    return results


def cached_sites(root: Path, label: str, file_digest: str) -> list[Site] | None:
    """The sites of an earlier version of a file, from this cache (None: not cached, or it had problems)."""
    path = Path(root) / ".cache" / f"sites-{file_digest}.pickle"
    try:
        sites, problems, _raws = pickle.loads(path.read_bytes())
    except Exception:  # missing or from another version
        return None
    return None if problems else sites


# the records of the last plan (network.ipam.incremental) and the last check (network.model.checked):
# the file versions they name stay cached, to tell what was added since
PLAN_RECORD, CHECK_RECORD = "plan-state.json", "check-state.json"


def _prune_cache(cache_dir: Path, current: set[str]) -> None:
    """Drop cached files of sites-file versions that neither the model nor a record refers to."""
    keep = set(current)
    for record in (PLAN_RECORD, CHECK_RECORD):
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            keep |= set(json.loads((cache_dir / record).read_text()).get("files", {}).values())
    for cached in cache_dir.glob("sites-*.pickle"):
        if cached.stem.removeprefix("sites-") not in keep:
            cached.unlink(missing_ok=True)
