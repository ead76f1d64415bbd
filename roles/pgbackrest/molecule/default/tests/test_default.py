"""pgbackrest: the stanza is created and checked from the backup host, WAL is archived, the
timers are on, the wrapper's backups record what their restore point holds, and the restore
test finds it again (and fails when the record says otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import testinfra

ROLE = Path(__file__).resolve().parents[3]
PLAYBOOK = ROLE.parents[1] / "playbooks" / "restore-test.yml"
RECORDS = Path("/var/lib/pgbackrest/jinbao/records")
RESULTS = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "restore-tests"
TABLE = "pension.contributions"
CHECKSUM = (
    f"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t.id)), md5('')) FROM {TABLE} AS t"
)


def _db():
    return testinfra.get_host("ansible://mol-pgbackrest-db1", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _psql(sql: str, database: str = "pension") -> str:
    return _db().check_output(f'runuser -u postgres -- psql -X -At -d {database} -c "{sql}"')


def _write(rows: int) -> None:
    _psql(
        "INSERT INTO pension.contributions (person, year, grade, amount) "
        f"SELECT 10000 + p, 2026, 3, 300 FROM generate_series(1, {rows}) AS p"
    )


def _backup(host, kind: str) -> dict:
    """A backup as its timer takes it (the unit, as the repository account); its record."""
    before = set(host.file(str(RECORDS)).listdir())
    host.run_test(f"systemctl start pgbackrest-{kind}.service")
    new = set(host.file(str(RECORDS)).listdir()) - before
    assert len(new) == 1, f"one new record expected, found {new}"
    return json.loads(host.file(str(RECORDS / new.pop())).content_string)


def _restore_test(*extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """The project's playbooks/restore-test.yml against the Molecule hosts; its newest result."""
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROLE.parent),
        "ANSIBLE_LIBRARY": str(ROLE.parents[1] / "plugins" / "modules"),
    }
    started = time.time()
    done = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(PLAYBOOK), *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    fresh = [p for p in RESULTS.glob("*.json") if p.stat().st_mtime >= started - 1]
    assert fresh, f"the restore test wrote no result:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    return done, json.loads(max(fresh).read_text())


def test_the_stanza_is_created_and_checks_from_the_backup_host(host):
    check = host.run("runuser -u pgbackrest -- pgbackrest --stanza=pension check")
    assert check.rc == 0, check.stderr
    info = json.loads(host.check_output("runuser -u pgbackrest -- pgbackrest --stanza=pension --output=json info"))
    assert info[0]["db"], "the stanza exists in the repository"
    conf = host.file("/etc/pgbackrest/pgbackrest.conf").content_string
    assert "pg1-host=172.31.215.2" in conf and "repo1-retention-full=2" in conf and "compress-type=zst" in conf


def test_the_database_host_pushes_wal_to_the_repository():
    db = _db()
    conf = db.file("/etc/pgbackrest/pgbackrest.conf").content_string
    assert "repo1-host=172.31.215.3" in conf and "repo1-host-user=pgbackrest" in conf
    archiver = "SELECT archived_count > 0 AND coalesce(last_failed_time < last_archived_time, true)"
    archiver += " FROM pg_stat_archiver"
    assert _psql(archiver) == "t"
    keys = db.file("/var/lib/postgresql/.ssh/authorized_keys").content_string
    assert 'restrict,from="172.31.215.3"' in keys


def test_the_backups_run_on_their_timers(host):
    for kind, calendar in (("full", "Sun *-*-* 01:00"), ("incr", "Mon..Sat *-*-* 01:00")):
        timer = host.service(f"pgbackrest-{kind}.timer")
        assert timer.is_enabled and timer.is_running, kind
        assert f"OnCalendar={calendar}" in host.file(f"/etc/systemd/system/pgbackrest-{kind}.timer").content_string
        assert "User=pgbackrest" in host.file(f"/etc/systemd/system/pgbackrest-{kind}.service").content_string


@pytest.fixture(scope="module")
def full(host):
    return _backup(host, "full")


def test_a_full_backup_records_its_restore_point_and_what_it_holds(host, full):
    assert full["label"].endswith("F") and full["type"] == "full"
    assert full["restore_point"] == f"jinbao-{full['label']}"
    assert f"{full['rows']} {full['checksum']}" == _psql(CHECKSUM)  # nothing was written meanwhile
    info = json.loads(host.check_output("runuser -u pgbackrest -- pgbackrest --stanza=pension --output=json info"))
    assert full["label"] in [b["label"] for b in info[0]["backup"]]
    # the restore point's segment is in the repository
    segment = _psql(f"SELECT pg_walfile_name('{full['lsn']}')")
    assert host.run_test(f"find /var/lib/pgbackrest/archive/pension -name '{segment}-*'").stdout.strip()
    assert host.run_test("journalctl -t jinbao-backup --no-pager").stdout.count(f"backup {full['label']} done") == 1


def test_a_restore_finds_what_an_incremental_backup_recorded_not_what_came_after(host, full):
    _write(40)
    incr = _backup(host, "incr")
    assert incr["label"].startswith(full["label"]) and incr["label"].endswith("I")
    assert incr["rows"] == full["rows"] + 40
    _write(7)  # after the backup: the restore must not see these
    done, result = _restore_test()
    assert done.returncode == 0, done.stdout[-3000:]
    assert result["ok"] is True and result["label"] == incr["label"]
    assert result["found"] == result["expected"] == {"rows": incr["rows"], "checksum": incr["checksum"]}
    assert int(_psql("SELECT count(*) FROM pension.contributions")) == incr["rows"] + 7
    assert not host.file("/var/lib/pgbackrest/jinbao/restore-test").exists, "the scratch instance is removed"
    assert host.run("ss -ltn 'sport = :5499'").stdout.count("LISTEN") == 0


def test_a_named_backup_is_restored_to_its_own_point(full):
    done, result = _restore_test("-e", f"restore_test_label={full['label']}")
    assert done.returncode == 0, done.stdout[-3000:]
    assert result["label"] == full["label"] and result["found"]["rows"] == full["rows"] and result["ok"] is True


def test_a_restore_that_does_not_find_the_record_fails(host, full):
    record = RECORDS / f"{full['label']}.json"
    original = host.file(str(record)).content_string
    forged = json.loads(original) | {"rows": full["rows"] + 1}
    host.run_test(f"cat > {record} <<'EOF'\n{json.dumps(forged)}\nEOF")
    try:
        done, result = _restore_test("-e", f"restore_test_label={full['label']}")
    finally:
        host.run_test(f"cat > {record} <<'EOF'\n{original}EOF")
    assert done.returncode != 0
    assert result["ok"] is False
    assert result["found"]["rows"] == full["rows"] and result["expected"]["rows"] == full["rows"] + 1
    assert "FAILED: expected" in done.stdout + done.stderr
