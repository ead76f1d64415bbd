"""Password rotation: the generator meets the policy, the record is read, the audit flags an
account older than the policy or never recorded (network.passwords, network.audit.passwords)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from network.errors import JinbaoError
from network.passwords import ages, generate, load_record, violations

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_generated_passwords_meet_the_policy_and_differ():
    made = {generate(12, 3, 3) for _ in range(200)}
    assert len(made) == 200
    assert all(not violations(p, 12, 4, 3) and len(p) >= 24 for p in made)
    assert all(not set(p) & set(":\\%#'\" ") for p in made)


@pytest.mark.parametrize(
    ("password", "problem"),
    [("Short-1", "shorter than 12"), ("alllowercaseletters", "character classes"), ("Aaaaa-bbbbbbb-1", "in a row")],
)
def test_violations_name_what_pam_pwquality_would_refuse(password, problem):
    assert any(problem in v for v in violations(password, 12, 3, 3))


def _record(tmp_path, text):
    (tmp_path / "rotations.yml").write_text(text)
    return load_record(tmp_path)


def test_the_audit_flags_an_account_older_than_the_policy_or_never_recorded(tmp_path):
    record = _record(
        tmp_path,
        "accounts:\n"
        "  fresh: {group: db, when: '2026-11-27T21:51:31Z', by: a, how: b}\n"
        "  boundary: {group: db, when: '2026-08-30T12:00:00Z', by: a, how: b}\n"
        "  old: {group: db, when: '2026-08-29T11:59:59Z', by: a, how: b}\n",
    )
    found = {a.account: a for a in ages({n: "db" for n in ["fresh", "boundary", "old", "never"]}, record, 90, NOW)}
    assert (found["fresh"].age_days, found["fresh"].stale) == (0, False)
    assert (found["boundary"].age_days, found["boundary"].stale) == (90, False)
    assert (found["old"].age_days, found["old"].stale) == (91, True)
    assert (found["never"].age_days, found["never"].stale, found["never"].last_rotated) == (None, True, "")


def test_an_unreadable_record_names_the_field(tmp_path):
    with pytest.raises(JinbaoError, match=r"accounts\.x\.when.*not ISO 8601"):
        _record(tmp_path, "accounts:\n  x: {when: yesterday}\n")


def test_the_lab_record_is_read():
    record = load_record(Path(__file__).resolve().parents[2] / "inventories" / "lab")
    assert {"pension_app", "replicator", "netadmin"} <= set(record)


def test_a_stale_password_is_in_every_report_and_is_a_finding(tmp_path):
    from network.audit.passwords import add_to_reports
    from network.audit.reports import write_reports
    from network.audit.run import AuditRun

    record = _record(tmp_path, "accounts:\n  pension_app: {group: db, when: '2026-11-27T21:51:31Z'}\n")
    found = ages({"pension_app": "db", "replicator": "db"}, record, 90, NOW)
    paths = write_reports("lab", [], tmp_path / "out")
    add_to_reports(paths, found)

    document = json.loads(Path(paths["json"]).read_text())
    assert document["summary"]["passwords_stale"] == 1
    assert [(p["account"], p["stale"]) for p in document["passwords"]] == [("pension_app", False), ("replicator", True)]
    junit = Path(paths["junit"]).read_text()
    assert 'failures="1"' in junit and 'tests="2"' in junit
    assert '<testcase classname="lab.passwords" name="replicator"><failure' in junit
    assert '<testcase classname="lab.passwords" name="pension_app" />' in junit
    page = Path(paths["html"]).read_text()
    assert 'id="passwords"' in page and "never recorded" in page
    run = AuditRun("lab", [], [], paths, 0.0, passwords=found)
    assert run.findings and not run.ok and not run.failed
    assert not AuditRun("lab", [], [], paths, 0.0, passwords=found[:1]).findings


def test_device_accounts_no_device_holds_are_listed_never_stale_and_skipped(tmp_path):
    """The lab logs in to its routers by key: the vault's device accounts are on none of them.
    Their age is moot; the audit says so instead of flagging them (or passing them)."""
    from network.audit import passwords as audit_passwords
    from network.audit.reports import write_reports
    from network.drivers import by_password

    assert by_password(None, "frr") and by_password(None, "huawei_vrp")  # no automation key: by password
    assert not by_password(object(), "frr") and by_password(object(), "huawei_vrp")
    vault = "vault_jinbao_user_passwords: {netadmin: x}\nvault_jinbao_db_passwords: {pension_app: y}\n"
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "all" / "vault.yml").write_text(vault)
    (tmp_path / "rotations.yml").write_text("accounts:\n  netadmin: {group: devices, when: '2026-01-01T00:00:00Z'}\n")
    held = {a.account: a for a in audit_passwords.audit(tmp_path, 90, now=NOW)}
    assert held["netadmin"].stale and held["pension_app"].stale  # held, old or never recorded
    found = {a.account: a for a in audit_passwords.audit(tmp_path, 90, now=NOW, devices_hold_accounts=False)}
    assert not found["netadmin"].held and not found["netadmin"].stale
    assert found["pension_app"].held and found["pension_app"].stale  # the database's are still aged
    assert "held by no device" in audit_passwords.summary(found["netadmin"])
    paths = write_reports("lab", [], tmp_path / "out")
    audit_passwords.add_to_reports(paths, list(found.values()))
    junit = Path(paths["junit"]).read_text()
    assert '<testcase classname="lab.passwords" name="netadmin"><skipped' in junit
    assert json.loads(Path(paths["json"]).read_text())["summary"]["passwords_stale"] == 1


def test_the_playbook_chooses_the_due_accounts_by_the_audits_rule(tmp_path):
    from ansible.plugins.loader import lookup_loader

    lookup_loader.add_directory(str(Path(__file__).resolve().parents[2] / "plugins" / "lookup"))
    plugin = lookup_loader.get("jinbao_password_due")
    _record(tmp_path, "accounts:\n  old: {when: '2026-01-01T00:00:00Z'}\n  fresh: {when: '2099-01-01T00:00:00Z'}\n")
    due = plugin.run(["old", "fresh", "never"], {}, inventory=str(tmp_path), max_age_days=90)
    assert due == ["never", "old"]
