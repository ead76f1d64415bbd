"""What a build directory was rendered from, so `jinbao plan --render` knows what it may skip.

``build/configs/<env>/.render-state.json`` holds, after a render that left every device's
config current: the digest of the inputs every device shares (address plan, policy, settings,
secrets, templates, platform data, all of jinbao's code and Jinja2's version), the digest of the
allocations.yml text rendered, the digest of each sites file, and the digest of
``.render-outputs.marshal``: each config's size, modification and change times and inode as the
render left them (as git's index keeps them: a config edited, replaced or deleted since differs).
``.manifest.json`` lists the configs the directory holds (network/render/engine.py writes it).
A partial render that was not
chosen from this state (`jinbao render --site`) drops the record, so the next render renders in
full; an incremental one keeps the signatures of the configs it did not touch.
``.render.lock``: held by the render writing the directory (`exclusive`), so no other one prunes,
stages or records beside it, and what a killed render staged can be told from a running one's.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import marshal
import os
from collections.abc import Iterator
from pathlib import Path

import jinja2

from network.errors import BusyError, Problem, RenderError
from network.fileio import write_atomic
from network.ipam import Allocations
from network.ipam.store import dumps
from network.model import Network
from network.render.secrets import Secrets

STATE = ".render-state.json"
MANIFEST = ".manifest.json"  # the config files the last render left, written by the renderer
OUTPUTS = ".render-outputs.marshal"  # their signatures when the record was written (kept by `clear`)
VERSION = 3  # 3: signatures with the change time
PACKAGE = Path(__file__).resolve().parent.parent
# everything, besides the model and allocations, that a device's config is made from: the templates,
# the platforms' data and the code, all of jinbao's (a config's context draws on the model's schema,
# IPAM's conventions and pools, ...: rather re-render everything after an upgrade than miss one),
# and the template engine's version
CODE = [PACKAGE]


def inputs_digest(network: Network, secrets: Secrets) -> str:
    """One digest of what every device's config shares: when it changes, everything re-renders."""
    shared = hashlib.sha256()
    shared.update(network.addressing.model_dump_json().encode())
    shared.update(network.policy.model_dump_json().encode())
    shared.update(json.dumps(network.settings, sort_keys=True, default=str).encode())
    shared.update(repr(secrets).encode())  # only a digest of it is stored, beside configs that hold them
    shared.update(_code_digest().encode())
    return shared.hexdigest()


@functools.cache
def _code_digest() -> str:
    """The templates, platform data and code (CODE) and Jinja2's version: read once a process."""
    code = hashlib.sha256(f"jinja2 {jinja2.__version__}".encode())
    for root in CODE:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".j2", ".yml", ".py"):
                code.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return code.hexdigest()


def allocations_digest(allocations: Allocations) -> str:
    """The digest of the allocations.yml text these allocations are (as ipam.read records it)."""
    return allocations.digest or hashlib.sha256(dumps(allocations).encode()).hexdigest()


Signature = tuple[int, int, int, int]  # a config file's size, mtime, ctime (ns) and inode


def signature(stat: os.stat_result) -> Signature:
    """The change time too: a tool can put an edited file's mtime back, nobody can its ctime."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def signatures(out_dir: Path, names) -> dict[str, Signature] | None:
    """How these configs lie on disk now (None: one is missing)."""
    found: dict[str, Signature] = {}
    try:
        directory = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for name in names:
            found[name] = signature(os.stat(name, dir_fd=directory))
    except OSError:
        return None
    finally:
        os.close(directory)
    return found


def manifest(out_dir: Path) -> set[str]:
    """The configs the last render left (none: no build yet); a manifest that is not one is refused,
    before a render writes anything."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return set()
    try:
        files = json.loads(path.read_text())["files"]
        if isinstance(files, list) and all(isinstance(f, str) and "/" not in f for f in files):
            return set(files)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    said = "is not the list of configs jinbao wrote: remove the directory and render again"
    raise RenderError(Problem(str(path), "", "files", said))


def _recorded_outputs(out_dir: Path) -> tuple[str, dict[str, Signature]] | None:
    """The signatures the last record was written with, and their digest."""
    try:
        raw = (Path(out_dir) / OUTPUTS).read_bytes()
        return hashlib.sha256(raw).hexdigest(), marshal.loads(raw)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def current(out_dir: Path, network: Network, secrets: Secrets, allocations: str) -> bool:
    """Whether the configs in out_dir are every device's, rendered from exactly these inputs and
    untouched since: then a render has nothing to do."""
    recorded = read(out_dir)
    try:
        names = manifest(out_dir)
    except RenderError:
        return False
    if (
        recorded is None
        or not names
        or recorded["allocations"] != allocations
        or recorded["files"] != network.file_digests
        or recorded["inputs"] != inputs_digest(network, secrets)
    ):
        return False
    outputs = _recorded_outputs(out_dir)
    return outputs is not None and outputs[0] == recorded.get("outputs") and outputs[1] == signatures(out_dir, names)


def read(out_dir: Path) -> dict | None:
    try:
        state = json.loads((Path(out_dir) / STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("version") == VERSION else None


def write(
    out_dir: Path,
    network: Network,
    secrets: Secrets,
    allocations: str,
    rendered: dict[str, Signature],
    changed: set[str] | None = None,
) -> None:
    """Record that every config in out_dir is rendered from exactly these inputs (allocations: its
    digest). `rendered`: the signatures of the configs this render compared or wrote, as it found
    or left them (so a config edited while the render ran still differs from its record). With
    `changed` (the configs an incremental render wrote or removed), the configs it did not look at
    keep the signatures of the last record: one edited by hand since still differs, and the next
    render mends it. Any other config is looked at now."""
    names = sorted(manifest(out_dir))
    previous = _recorded_outputs(out_dir) if changed is not None else None
    known = dict(rendered)
    if previous is not None:
        known.update((n, previous[1][n]) for n in names if n not in known and n not in changed and n in previous[1])
    fresh = signatures(out_dir, [n for n in names if n not in known])
    raw = marshal.dumps({n: known[n] for n in names if n in known} | (fresh or {}))
    write_atomic(Path(out_dir) / OUTPUTS, raw)
    state = {
        "version": VERSION,
        "inputs": inputs_digest(network, secrets),
        "allocations": allocations,
        "files": network.file_digests,
        "outputs": hashlib.sha256(raw).hexdigest() if fresh is not None else None,
    }
    write_atomic(Path(out_dir) / STATE, json.dumps(state, indent=0, sort_keys=True).encode())


def clear(out_dir: Path) -> None:
    (Path(out_dir) / STATE).unlink(missing_ok=True)


LOCK = ".render.lock"
_held: dict[str, int] = {}  # the directories this process holds, and how deep


@contextlib.contextmanager
def exclusive(out_dir: Path) -> Iterator[None]:
    """One render of a directory at a time, across processes (an advisory lock on its .render.lock,
    which the kernel releases with the process, however it ends); taken again by the holder, it
    nests. Another render at work there is refused (BusyError), not waited for: it would prune or
    overwrite what this one writes. A directory this created is removed again if the work fails
    and leaves nothing in it."""
    out_dir = Path(out_dir)
    key = str(out_dir.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    created = not out_dir.exists()
    fd = _lock(out_dir)
    _held[key] = 1
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        del _held[key]
        os.close(fd)
        if failed and created:
            _discard_if_empty(out_dir)


def _lock(out_dir: Path) -> int:
    """An open, locked descriptor of out_dir/.render.lock, the file that is there now."""
    while True:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(out_dir / LOCK, os.O_RDONLY | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the directory went meanwhile (a failed first render's): again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            said = "another jinbao render is writing this directory; nothing was written: run again once it is done"
            raise BusyError(Problem(str(out_dir), "", "", said)) from None
        try:
            if os.fstat(fd).st_ino == os.stat(out_dir / LOCK).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # locked a file removed meanwhile: lock the one there now


def _discard_if_empty(out_dir: Path) -> None:
    with contextlib.suppress(OSError):
        if set(os.listdir(out_dir)) <= {LOCK}:
            (out_dir / LOCK).unlink(missing_ok=True)
            out_dir.rmdir()


def remove_leftovers(out_dir: Path) -> list[str]:
    """The staged configs of a render that was killed before it put them in place
    (`.<config>.<token>.tmp`, network/render/engine.py); called under `exclusive`, so none is
    another render's."""
    removed = []
    with os.scandir(out_dir) as entries:
        for entry in entries:
            if (
                entry.name.startswith(".")
                and entry.name.endswith(".tmp")
                and entry.name.count(".") >= 3
                and entry.is_file(follow_symlinks=False)
            ):
                os.unlink(entry.path)
                removed.append(entry.name)
    return sorted(removed)
