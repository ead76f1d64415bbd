"""`jinbao dr status` shows the drill history, not only the last drill: the newest N drills on
record (--drills, default 5), each with its verdict and figures, in JSON and on the console."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from network.cli import app
from network.dr import history
from network.dr import status as dr_status
from network.dr.drill import PlaybookRun

DRILLS = [
    {"drill": f"drill-{n}", "kind": kind, "mode": "sync", "ok": ok, "rto_s": rto, "lost": 0, "acknowledged": 40}
    for n, (kind, ok, rto) in enumerate(
        [("switchover", True, 13.4), ("failover", False, None), ("failover", True, 48.9)]
    )
]


def wrote_status(env, playbook, args, log):
    (log.parent / "status.json").write_text(json.dumps({"databases": {"zj-dc-db1": {"role": "primary"}}}))
    return PlaybookRun(f"dr/{playbook}", args, 0, 0.1, "")


def recorded(tmp_path: Path) -> Path:
    env = tmp_path / "lab"
    env.mkdir()
    for entry in DRILLS:
        history.append(env, entry, root=tmp_path)
    return env


def test_status_holds_the_newest_drills_oldest_first(tmp_path: Path) -> None:
    env = recorded(tmp_path)
    found = dr_status.status(env, runner=wrote_status, root=tmp_path, drills=2)
    assert [d["drill"] for d in found.drills] == ["drill-1", "drill-2"]
    assert found.last_drill["drill"] == "drill-2" and found.ok
    assert [d["drill"] for d in found.as_dict()["drills"]] == ["drill-1", "drill-2"]
    assert dr_status.status(env, runner=wrote_status, root=tmp_path, drills=0).drills == []


def test_the_console_shows_each_drill_with_its_verdict(tmp_path: Path, monkeypatch) -> None:
    env = recorded(tmp_path)
    real = dr_status.status
    monkeypatch.setattr(
        dr_status, "status", lambda env, drills: real(env, runner=wrote_status, root=tmp_path, drills=drills)
    )
    shown = CliRunner().invoke(app, ["dr", "status", str(env), "--drills", "3"])
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if "drill (" in line]
    assert len(lines) == 3, shown.output
    assert "switchover drill (sync) passed" in lines[0] and "RTO 13.4 s" in lines[0]
    assert "failover drill (sync) FAILED" in lines[1] and "not recovered" in lines[1]
    assert "RTO 48.9 s" in lines[2]


def test_no_drill_shown_is_not_said_to_be_no_drill_on_record(tmp_path: Path, monkeypatch) -> None:
    env = recorded(tmp_path)
    real = dr_status.status
    monkeypatch.setattr(
        dr_status, "status", lambda env, drills: real(env, runner=wrote_status, root=tmp_path, drills=drills)
    )
    shown = CliRunner().invoke(app, ["dr", "status", str(env), "--drills", "0"])
    assert shown.exit_code == 0 and "no drill on record" not in shown.output, shown.output
