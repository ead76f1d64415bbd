"""The audit shows the latest restore test of the database backups (playbooks/restore-test.yml's
dated results in the environment's local state): passed, failed, or none on record, in the
HTML page, audit.json and `jinbao audit`'s console and --json output."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from network import envstate
from network.audit import DeviceAudit, restore, write_reports
from network.audit.run import AuditRun

GENERATED = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


def result(ok: bool, rows_found: int = 540, **extra) -> dict:
    return {
        "host": "zj-dc-bak1",
        "stanza": "pension",
        "label": "20261128-010000F",
        "restore_point": "jinbao-20261128-010000F",
        "expected": {"rows": 540, "checksum": "b87cc9eaba4ffb5a2c86fc6bf324b4a6"},
        "found": {"rows": rows_found, "checksum": "b87cc9eaba4ffb5a2c86fc6bf324b4a6"},
        "ok": ok,
        "error": "",
        "duration_s": 29.6,
        "started": "2026-11-28T02:00:00Z",
        "finished": "2026-11-28T02:00:30Z",
        **extra,
    }


def record(env: Path, name: str, content: dict | str) -> None:
    directory = envstate.restore_tests_dir(env)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(content if isinstance(content, str) else json.dumps(content))


def reports(tmp_path: Path, restore_test: dict | None) -> tuple[str, dict]:
    paths = write_reports(
        "lab", [DeviceAudit("anhui-r1", "huawei_vrp")], tmp_path / "out", generated=GENERATED, restore_test=restore_test
    )
    return Path(paths["html"]).read_text(), json.loads(Path(paths["json"]).read_text())


def test_the_results_live_in_the_environments_local_state(tmp_path: Path) -> None:
    assert envstate.restore_tests_dir(tmp_path) == tmp_path / ".lab" / "restore-tests"


def test_no_result_is_no_restore_test_on_record(tmp_path: Path) -> None:
    assert restore.latest(tmp_path) is None
    html, document = reports(tmp_path, None)
    assert "no restore test on record" in html
    assert document["restore_test"] is None and document["summary"]["restore_test"] == "none"


def test_the_newest_result_is_the_one_shown(tmp_path: Path) -> None:
    record(tmp_path, "2026-11-21T020000Z", result(False, 539))
    record(tmp_path, "2026-11-28T020000Z", result(True))
    latest = restore.latest(tmp_path)
    assert latest["ok"] is True and latest["file"].endswith("2026-11-28T020000Z.json")
    assert restore.summary(latest).startswith("restore test passed 2026-11-28T02:00:30Z: backup 20261128-010000F")


def test_a_passed_test_is_shown_with_its_backup_and_figures(tmp_path: Path) -> None:
    record(tmp_path, "2026-11-28T020000Z", result(True))
    html, document = reports(tmp_path, restore.latest(tmp_path))
    for fact in ("20261128-010000F", "jinbao-20261128-010000F", "zj-dc-bak1", "540", result(True)["found"]["checksum"]):
        assert fact in html, fact
    assert "restore test passed" in html and 'class="ok"' in html
    assert document["restore_test"]["ok"] is True and document["summary"]["restore_test"] == "ok"


def test_a_failed_test_is_shown_as_failed(tmp_path: Path) -> None:
    record(tmp_path, "2026-11-28T020000Z", result(False, 539))
    latest = restore.latest(tmp_path)
    html, document = reports(tmp_path, latest)
    assert "restore test FAILED" in html and 'class="failed"' in html
    assert "expected 540 rows, found 539" in restore.summary(latest)
    assert document["summary"]["restore_test"] == "failed" and document["restore_test"]["ok"] is False


@pytest.mark.parametrize("content", ["{not json", '["a list"]', json.dumps(result("yes"))])
def test_an_unreadable_or_doubtful_result_is_a_failed_one(tmp_path: Path, content: str) -> None:
    record(tmp_path, "2026-11-28T020000Z", content)
    latest = restore.latest(tmp_path)
    assert latest["ok"] is False and restore.state(latest) == "failed"


def test_the_error_that_stopped_a_test_is_shown(tmp_path: Path) -> None:
    error = "Restore the backup: ERROR: [075]: no backup set found to restore"
    record(tmp_path, "2026-11-28T020000Z", result(False, found=None, error=error) | {"found": {}})
    html, _ = reports(tmp_path, restore.latest(tmp_path))
    assert "no backup set found to restore" in html


def test_the_console_and_json_outputs_show_it(tmp_path: Path, capsys) -> None:
    from network.cli import devices

    run = AuditRun("lab", [], [], {"html": "index.html"}, 1.0, result(False, 539))
    devices._print_audit(run)
    assert "restore test FAILED" in capsys.readouterr().out
    assert run.as_dict()["restore_test"]["found"]["rows"] == 539
    devices._print_audit(AuditRun("lab", [], [], {"html": "index.html"}, 1.0))
    assert "no restore test on record" in capsys.readouterr().out


def test_an_audit_run_reads_the_environments_latest_result(lab: Path, tmp_path: Path, monkeypatch) -> None:
    from network import audit

    record(lab, "2026-11-28T020000Z", result(True))
    monkeypatch.setattr(audit.run, "audit", lambda targets, intended, policy, **_: [])
    run = audit.run_audit(lab, ["fotang"], tmp_path / "report", servers=False)
    assert run.restore_test["ok"] is True and run.restore_test["label"] == "20261128-010000F"
    assert json.loads(Path(run.reports["json"]).read_text())["restore_test"]["label"] == "20261128-010000F"
