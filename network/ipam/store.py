"""allocations.yml: the IPAM state, written by `jinbao plan`, committed, never hand-edited.

One entry per line, keys sorted, so that a review of the file in git shows exactly
which allocations a change made. Each value is written as JSON, which YAML reads too,
so the file stays plain YAML for people and tools while jinbao reads it back with the
json module: PyYAML needs ~10 s for the national inventory, json well under a second.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from network.errors import IpamError, Problem
from network.fileio import write_atomic, write_cache

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

FILE = "allocations.yml"
SECTIONS = ("regions", "sites", "devices", "links", "zones", "hosts")
HEADER = (
    "# IPAM state of this environment, written by `jinbao plan`. Do not edit by hand:\n"
    "# change sites.yml or addressing.yml and re-plan. Keys are stable ids, so adding or\n"
    "# removing a site touches only that site's lines.\n"
)


@dataclass
class Allocations:
    regions: dict[str, str] = field(default_factory=dict)  # region -> block
    sites: dict[str, dict] = field(default_factory=dict)  # site id -> {lan}
    devices: dict[str, dict] = field(default_factory=dict)  # site/device -> {loopback, management}
    links: dict[str, dict] = field(default_factory=dict)  # site:line -> {subnet, ports, ends: [child, parent]}
    zones: dict[str, str] = field(default_factory=dict)  # dc-site/zone -> subnet
    hosts: dict[str, dict] = field(default_factory=dict)  # dc-site/host -> {address, management}
    # sha256 of the allocations.yml text this was read from (None: not read from a file)
    digest: str | None = field(default=None, compare=False, repr=False)
    # that text, as read (what an incremental plan adds lines to: network.ipam.store.dumps_added)
    source: bytes | None = field(default=None, compare=False, repr=False)

    def section(self, name: str) -> dict:
        return getattr(self, name)


def read(root: Path) -> Allocations:
    path = Path(root) / FILE
    if not path.exists():
        return Allocations()
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    cached = Path(root) / ".cache" / f"allocations-{digest}.marshal"
    data = _from_marshal(cached)
    if data is None:
        text = raw.decode("utf-8")
        try:
            data = _read_fast(text)
        except ValueError:  # not in the shape we write (merged by hand?): let YAML have a go
            try:
                data = yaml.load(text, Loader=SafeLoader) or {}
            except yaml.YAMLError as exc:
                raise IpamError(Problem(FILE, "", "", f"is not valid YAML ({exc}); restore it from git")) from exc
        if not isinstance(data, dict) or data.get("version") != 1:
            raise IpamError(Problem(FILE, "", "version", "must be 1; restore the file from git"))
        _to_marshal(cached, data)
    allocations = Allocations(**{name: dict(data.get(name) or {}) for name in SECTIONS})
    allocations.digest, allocations.source = digest, raw
    return allocations


def _from_marshal(path: Path) -> dict | None:
    """The parsed file, cached by its digest: marshal loads it several times faster than json."""
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None


def _to_marshal(path: Path, data: dict) -> None:
    try:
        blob = marshal.dumps(data)
        for stale in path.parent.glob("allocations-*.marshal"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except (OSError, ValueError):  # a read-only checkout simply has no cache
        return
    write_cache(path, blob)


def _read_fast(text: str) -> dict:
    """Parse the file as dumps() writes it: every entry a JSON line, every section a JSON object.

    A thirtieth of the time YAML takes on the national inventory; any other shape raises ValueError.
    """
    data: dict = {}
    section: str | None = None
    entries: list[str] = []

    def close() -> None:
        if section is not None:
            data[section] = json.loads("{" + ",".join(entries) + "}")

    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("  "):
            if section is None:
                raise ValueError("entry outside a section")
            entries.append(line)
            continue
        close()
        name, _, rest = line.partition(":")
        rest = rest.strip()
        section = None
        if name == "version":
            data["version"] = int(rest)
        elif name in SECTIONS and rest in ("", "{}"):
            section, entries = name, []
        else:
            raise ValueError(f"unexpected line {line!r}")
    close()
    return data


def _value(value) -> str:
    """JSON text of an allocation. Formatted directly: every key and value jinbao writes is an
    id, a name or an address (validated on the way in), so nothing needs escaping, and this
    is three times faster than the JSON encoder on the national inventory."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(int(v)) for v in value) + "]"
    return "{" + ", ".join(f'"{k}": {_value(v)}' for k, v in value.items()) + "}"


# The shapes jinbao writes, formatted directly (a third of the time of the generic path).
_FORMATS = {
    "regions": lambda v: f'"{v}"',
    "zones": lambda v: f'"{v}"',
    "sites": lambda v: f'{{"lan": "{v["lan"]}"}}',
    "devices": lambda v: f'{{"loopback": "{v["loopback"]}", "management": "{v["management"]}"}}',
    "links": lambda v: (
        f'{{"subnet": "{v["subnet"]}", "ports": [{int(v["ports"][0])}, {int(v["ports"][1])}], '
        f'"ends": ["{v["ends"][0]}", "{v["ends"][1]}"]}}'
    ),
    "hosts": lambda v: f'{{"address": "{v["address"]}", "management": "{v["management"]}"}}',
}


def dumps(allocations: Allocations) -> str:
    """One entry per line: `  "key": <JSON value>` (JSON is YAML, and fast to read back)."""
    lines = [HEADER, "version: 1\n"]
    for name in SECTIONS:
        entries = allocations.section(name)
        if not entries:
            lines.append(f"{name}: {{}}\n")
            continue
        lines.append(f"{name}:\n")
        lines += [_entry(name, key, entries[key]) for key in sorted(entries)]
    return "".join(lines)


def _entry(section: str, key: str, value) -> str:
    try:  # the planner builds every value in these shapes
        text = _FORMATS[section](value)
    except (KeyError, TypeError, IndexError, ValueError):
        text = _value(value)
    return f'  "{key}": {text}\n'


def dumps_added(text: str, added: dict[str, dict]) -> str | None:
    """What dumps() writes once `added` (section -> new keys and their values) joins the
    allocations `text` holds (as dumps wrote it): each new line put in its sorted place, found by
    bisecting that section's lines, instead of formatting all ~180,000 again. `text` must be what
    this version of dumps() wrote (network.ipam.incremental records that); None when a line the
    search meets is not an entry, or a key is there already (then dumps() it is)."""
    edits: list[tuple[int, int, str, str]] = []  # text[start:stop] becomes these lines (of this key)
    for name, entries in added.items():
        if not entries:
            continue
        empty = text.find(f"\n{name}: {{}}\n")
        if empty != -1:  # the section's first entries
            lines = "".join(_entry(name, key, entries[key]) for key in sorted(entries))
            edits.append((empty + 1, empty + len(name) + 6, "", f"{name}:\n{lines}"))
            continue
        header = text.find(f"\n{name}:\n")
        if header == -1:
            return None
        low = header + len(name) + 3  # the section's first line
        after = _UNINDENTED.search(text, low)  # the next section's
        high = after.start() + 1 if after else len(text)
        for key in entries:
            at = _line_after(text, low, high, key)
            if at is None:
                return None
            edits.append((at, at, key, _entry(name, key, entries[key])))
    edits.sort(key=lambda edit: edit[:3])  # new lines at one place go in key order
    parts, last = [], 0
    for start, stop, _key, lines in edits:
        parts += [text[last:start], lines]
        last = stop
    parts.append(text[last:])
    return "".join(parts)


_UNINDENTED = re.compile(r"\n(?=[^ ])")


def _line_after(text: str, low: int, high: int, key: str) -> int | None:
    """Where the line of `key` goes among the sorted entry lines text[low:high] (None: it is there,
    or a line is not an entry)."""
    while low < high:
        start = text.rfind("\n", low - 1, (low + high) // 2) + 1  # the line the middle falls in
        if not text.startswith('  "', start):
            return None
        quote, end = text.find('"', start + 3), text.find("\n", start)
        if quote == -1 or end == -1 or quote > end:
            return None
        found = text[start + 3 : quote]
        if found == key:
            return None
        if found < key:
            low = end + 1
        else:
            high = start
    return low


def write(root: Path, allocations: Allocations) -> bool:
    """Atomic: the old file stays whole until the new one is complete. False if nothing changed."""
    return write_text(root, dumps(allocations), allocations)


def write_text(root: Path, text: str, allocations: Allocations | None = None) -> bool:
    """Write allocations.yml unless it already says this; with `allocations` (what `text` says),
    prime the read cache and record the file's digest on them."""
    path = Path(root) / FILE
    raw = text.encode("utf-8")
    if allocations is not None:
        allocations.digest = hashlib.sha256(raw).hexdigest()
    if path.exists() and path.read_bytes() == raw:
        return False
    write_atomic(path, raw)
    if allocations is not None:
        data = {"version": 1, **{name: allocations.section(name) for name in SECTIONS}}
        _to_marshal(Path(root) / ".cache" / f"allocations-{allocations.digest}.marshal", data)
    return True
