"""`jinbao dr status`: dr/status.yml (read-only, asks nothing) and the status.json it writes to
build/dr/<env>/ (section C of the DR contract: per database host role, timeline, lsn, sync_state,
streaming, lag_bytes, lag_seconds, mode, degraded, fenced), with the drills on record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from network import envstate
from network.dr import history
from network.dr.drill import PlaybookRun, run_playbook


@dataclass
class DrStatus:
    run: PlaybookRun
    status: dict | list | None  # status.json as the playbook wrote it; None: none (or unreadable)
    last_drill: dict | None
    error: str = ""
    drills: list[dict] = field(default_factory=list)  # the newest on record, oldest first

    @property
    def ok(self) -> bool:
        return self.run.rc == 0 and not self.error

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "playbook": self.run.__dict__,
            "status": self.status,
            "last_drill": self.last_drill,
            "drills": self.drills,
            "error": self.error,
        }


def read_status(env: Path, root: Path | None = None) -> tuple[dict | list | None, str]:
    path = envstate.dr_dir(env, root) / "status.json"
    if not path.exists():
        return None, f"{path}: not written"
    try:
        return json.loads(path.read_text()), ""
    except ValueError as exc:
        return None, f"{path}: not JSON ({exc})"


def status(env: Path, runner=run_playbook, root: Path | None = None, drills: int = 5) -> DrStatus:
    """Run dr/status.yml and read what it wrote, with the last `drills` drills on record."""
    directory = envstate.dr_dir(env, root)
    directory.mkdir(parents=True, exist_ok=True)
    run = runner(env, "status.yml", [], directory / "status.log")
    found, error = read_status(env, root)
    history_ = history.read(env, root)
    recent = history_[-drills:] if drills > 0 else []
    return DrStatus(run, found, history_[-1] if history_ else None, "" if run.rc else error, recent)


def hosts(found: dict | list | None) -> list[dict]:
    """The per-host entries of status.json: dr/status.yml's `databases` (host -> its state), or
    a list of them, or one held under `hosts`."""
    if isinstance(found, list):
        return [h for h in found if isinstance(h, dict)]
    if isinstance(found, dict):
        listed = found.get("databases", found.get("hosts"))
        if isinstance(listed, list):
            return [h for h in listed if isinstance(h, dict)]
        if isinstance(listed, dict):
            return [{"host": k, **v} for k, v in listed.items() if isinstance(v, dict)]
    return []
