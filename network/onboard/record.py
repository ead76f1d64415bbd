"""The change record for the ticket: what, who, when, the diffs, the verification.

One JSON document (also what `--json` prints) and its readable text; written to
build/changes/<env>/<UTC stamp>-<action>-<site>.json of the repository, beside build/dr/
(the environment's history, not lab state).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import subprocess
from pathlib import Path

from network import envstate
from network.onboard.apply import Run, in_lab
from network.onboard.plan import ChangeSet


def who() -> str:
    """The operator: the git identity of the checkout, and the login."""
    login = getpass.getuser()
    try:
        name = subprocess.run(
            ["git", "config", "user.name"], cwd=envstate.REPO, capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except OSError:
        name = ""
    return f"{name} ({login})" if name else login


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_record(changes: ChangeSet, run: Run | None, request: dict) -> dict:
    """The record of a change set, applied (`run`) or only planned (None)."""
    now = dt.datetime.now(dt.UTC)
    record = {
        "what": {"request": request, **{k: v for k, v in changes.as_dict().items() if k != "diffs"}},
        "who": who(),
        "when": {"started": _iso(run.started_at if run else now), "finished": _iso(now)},
        "applied": run is not None,
        "in_lab": run is not None and in_lab(changes.env),
        "ok": run.ok if run else True,
        "diffs": changes.diffs(),
        "verification": [s.as_dict() for s in run.steps] if run else [],
        "pushed": run.pushed if run else [],
    }
    if run is not None:
        record["seconds_to_verified"] = round(run.seconds, 1)
    return record


def changes_dir(env: Path, root: Path | None = None) -> Path:
    return (root or envstate.REPO) / "build" / "changes" / Path(env).resolve().name


def write(env: Path, record: dict, root: Path | None = None) -> Path:
    started = dt.datetime.fromisoformat(record["when"]["started"].replace("Z", "+00:00"))
    what = record["what"]
    path = changes_dir(env, root) / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{what['action']}-{what['site']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)  # the configs' diffs may carry secrets, as build/configs does
    return path


def text(record: dict, diffs: bool = True) -> str:
    """The record as a ticket's comment (`diffs`: with them)."""
    what = record["what"]
    lines = [
        f"{what['action']} {what['path']} ({what['site']}) in {what['environment']}",
        f"who:  {record['who']}",
        f"when: {record['when']['started']} .. {record['when']['finished']}",
        f"router: {what['router']}; routers its lines land on: {', '.join(what['upstream']) or 'none'}",
        f"addresses: {len(what['allocations'])} allocation(s) "
        + ("released" if what["action"] == "offboard" else "added"),
    ]
    lines += [f"warning: {w}" for w in what["warnings"]]
    for step in record["verification"]:
        mark = "ok" if step["ok"] else "FAILED"
        detail = f": {step['detail']}" if step["detail"] else ""
        lines.append(f"  [{mark}] {step['name']} ({step['seconds']} s){detail}")
    if "seconds_to_verified" in record:
        verdict = "verified" if record["ok"] else "NOT verified"
        if not record["in_lab"]:
            verdict = "files written, nothing pushed (no lab: docs/onboarding.md)" if record["ok"] else "NOT written"
        lines.append(f"{verdict}: {record['seconds_to_verified']} s from the command")
    for name, diff in record["diffs"].items() if diffs else ():
        lines += ["", f"### {name}", diff.rstrip("\n") or "(no change)"]
    return "\n".join(lines) + "\n"
