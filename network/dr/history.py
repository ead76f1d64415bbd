"""The drill history: build/dr/<env>/drills.jsonl, one JSON line per drill, oldest first.

A line is the drill's summary (HISTORY_FIELDS of its report) and the path of its full report;
`jinbao dr status` shows the newest (--drills N) and `jinbao audit` the history (network/audit/drills.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from network.envstate import drill_history

HISTORY_FIELDS = (
    "drill",
    "environment",
    "kind",
    "mode",
    "started",
    "finished",
    "rto_s",
    "rto_at_least_s",
    "recovered",
    "back_to_normal",
    "acknowledged",
    "lost",
    "ok",
    "problems",
)


def line_of(report: dict, paths: dict[str, str]) -> dict:
    return {**{key: report.get(key) for key in HISTORY_FIELDS}, "report": paths}


def append(env: Path, entry: dict, root: Path | None = None) -> Path:
    """Append one drill (appending a line is atomic enough for one writer per lab)."""
    path = drill_history(env, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
    return path


def read(env: Path, root: Path | None = None) -> list[dict]:
    """Every drill on record, oldest first; a line that is not a JSON object is skipped."""
    path = drill_history(env, root)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def last(env: Path, root: Path | None = None) -> dict | None:
    entries = read(env, root)
    return entries[-1] if entries else None


def summary(entry: dict | None) -> str:
    """One line for the console."""
    if entry is None:
        return "no drill on record (jinbao dr drill <env> --kind switchover|failover)"
    verdict = "passed" if entry.get("ok") else "FAILED"
    rto = entry.get("rto_s")
    rto_text = f"RTO {rto:.1f} s" if isinstance(rto, int | float) else "not recovered"
    return (
        f"{entry.get('kind', '?')} drill ({entry.get('mode', '?')}) {verdict} {entry.get('finished', '?')}: "
        f"{rto_text}, {entry.get('lost', '?')} of {entry.get('acknowledged', '?')} acknowledged writes lost"
    )
