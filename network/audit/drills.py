"""The DR drill history of an environment, as the audit reports it.

`jinbao dr drill` appends one JSON line per drill to build/dr/<env>/drills.jsonl
(network.envstate.drill_history): drill, kind, mode, started, finished, rto_s, recovered,
back_to_normal, acknowledged, lost, ok, problems and its report's paths. Read here, not
through network.dr: the audit and the DR verbs are independent layers.
"""

from __future__ import annotations

import json
from pathlib import Path

from network.envstate import drill_history

SHOWN = 20  # the newest drills on the page; the file keeps them all


def history(env: Path, root: Path | None = None) -> list[dict]:
    """Every drill on record, newest first; a line that is not a JSON object is skipped."""
    path = drill_history(env, root)
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append({**entry, "ok": entry.get("ok") is True})
    return found[::-1]


def state(drills: list[dict]) -> str:
    """The newest drill's verdict: none, ok or failed."""
    return "none" if not drills else "ok" if drills[0]["ok"] else "failed"


def summary(drills: list[dict]) -> str:
    if not drills:
        return "no DR drill on record (jinbao dr drill <env> --kind switchover|failover)"
    newest = drills[0]
    rto = newest.get("rto_s")
    recovery = f"RTO {rto} s" if rto is not None else "not recovered"
    passed = sum(d["ok"] for d in drills)
    return (
        f"last DR drill {'passed' if newest['ok'] else 'FAILED'} {newest.get('finished', '?')}: "
        f"{newest.get('kind', '?')} ({newest.get('mode', '?')}), {recovery}, {newest.get('lost', '?')} acknowledged "
        f"writes lost; {passed} of {len(drills)} drills on record passed"
    )
