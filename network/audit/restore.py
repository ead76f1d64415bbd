"""The latest restore test of an environment's database backups, as the audit reports it.

playbooks/restore-test.yml writes one dated JSON per run into the environment's local state
(network.envstate.restore_tests_dir): host, label, restore_point, expected and found
{rows, checksum}, ok, duration_s, started, finished (and error when it could not compare).
"""

from __future__ import annotations

import json
from pathlib import Path

from network.envstate import restore_tests_dir


def latest(env: Path) -> dict | None:
    """The newest result (its file name is its start time); None when there is none."""
    results = sorted(restore_tests_dir(env).glob("*.json"))
    if not results:
        return None
    newest = results[-1]
    try:
        result = json.loads(newest.read_text())
        if not isinstance(result, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return {"ok": False, "file": str(newest), "error": f"unreadable result {newest.name}: {exc}"}
    return {**result, "ok": result.get("ok") is True, "file": str(newest)}


def state(result: dict | None) -> str:
    return "none" if result is None else "ok" if result["ok"] else "failed"


def summary(result: dict | None) -> str:
    """One line for the console and the page."""
    if result is None:
        return "no restore test on record"
    found, expected = result.get("found") or {}, result.get("expected") or {}
    head = f"restore test {'passed' if result['ok'] else 'FAILED'} {result.get('finished', '?')}"
    what = f"backup {result.get('label', '?')} on {result.get('host', '?')}"
    rows = f"expected {expected.get('rows')} rows, found {found.get('rows')}"
    error = f": {result['error']}" if result.get("error") else ""
    return f"{head}: {what}, {rows}{error}"
