"""postgresql_replication: b streams synchronously from a over verified TLS, a write on a is
read on b, b refuses writes; the entry points switch the primary over and back (the old
primary rewound with pg_rewind, not copied), a fenced server starts read-only, the start
guard makes a primary start a standby when `db` points elsewhere or a resolver is silent, a
degrade to async is recorded and survives a converge, a standby pg_rewind cannot repair is
copied from the primary instead, and an environment in async mode converges async."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
ROLES = SCENARIO.parents[2]
DATA = "/var/lib/postgresql/15/main"
PASSWORD = "molecule:replication\\secret"


def _node(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def a():
    return _node("mol-pgrepl-a")


@pytest.fixture(scope="module")
def b():
    return _node("mol-pgrepl-b")


def _sql(node, sql: str, database: str = "pension"):
    return node.run(f"runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d {database} -c {shlex.quote(sql)}")


def _out(node, sql: str, database: str = "pension") -> str:
    result = _sql(node, sql, database)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def _playbook(name: str, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROLES), "ANSIBLE_LIBRARY": str(ROLES.parent / "plugins/modules")}
    args = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / name)]
    for key, value in extra.items():
        args += ["-e", f"{key}={value}"]
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert PASSWORD not in run.stdout + run.stderr
    return run


def _entry(target: str, entry: str, **extra: str) -> subprocess.CompletedProcess:
    return _playbook("drill.yml", target=target, entry=entry, **extra)


def _status(target: str, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("status") / "status.json"
    _playbook("drill.yml", target=target, entry="status", status_file=str(out))
    return json.loads(out.read_text())


def _wait(check, what: str, seconds: int = 60):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(1)


def _streams(primary, standby_name: str) -> str:
    return _out(
        primary, f"SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '{standby_name}'"
    )


def _written_and_read(writer, reader) -> None:
    token = uuid.uuid4().hex
    _out(writer, "CREATE TABLE IF NOT EXISTS public.probe (token text)")
    _out(writer, f"INSERT INTO public.probe VALUES ('{token}')")
    _wait(
        lambda: _out(reader, f"SELECT count(*) FROM public.probe WHERE token = '{token}'") == "1",
        f"{token} not replicated",
        30,
    )


def test_b_streams_synchronously_from_a_over_verified_tls(a, b):
    assert _streams(a, "mol_pgrepl_b") == "streaming sync"
    assert _out(a, "SHOW synchronous_standby_names") == "mol_pgrepl_b"
    assert _out(b, "SELECT pg_is_in_recovery()") == "t"
    assert _out(a, "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid)") == "t"
    conninfo = _out(b, "SELECT conninfo FROM pg_stat_wal_receiver", "postgres")
    assert "sslmode=verify-full" in conninfo and "sslrootcert=/etc/jinbao/tls/postgresql-peer.crt" in conninfo
    assert (
        b.file("/etc/jinbao/tls/postgresql-peer.crt").content_string
        == a.file("/etc/jinbao/tls/postgresql.crt").content_string
    )


def test_no_password_in_settings_or_command_lines(a, b):
    for node in (a, b):
        assert PASSWORD.split(":")[1] not in node.check_output("ps -eo args; cat /etc/postgresql/15/main/conf.d/*.conf")
        passfile = node.file("/var/lib/postgresql/.pgpass-replication")
        assert (passfile.user, passfile.mode) == ("postgres", 0o600)


def test_a_write_on_a_is_read_on_b(a, b):
    _written_and_read(a, b)


def test_b_refuses_writes(b):
    refused = _sql(b, "INSERT INTO public.probe VALUES ('x')")
    assert refused.rc != 0 and "read-only transaction" in refused.stderr


def test_status_reports_both_sides(tmp_path_factory):
    primary = _status("mol-pgrepl-a", tmp_path_factory)
    standby = _status("mol-pgrepl-b", tmp_path_factory)
    assert primary["role"] == "primary" and primary["sync_state"] == "sync" and primary["streaming"] is True
    assert primary["mode"] == "sync" and primary["degraded"] is False and primary["fenced"] is False
    assert standby["role"] == "standby" and standby["streaming"] is True and standby["timeline"] == primary["timeline"]
    assert isinstance(primary["lag_bytes"], int) and isinstance(standby["lag_seconds"], float)


def test_switchover_to_b_and_back_rewinds_the_old_primary(a, b, tmp_path_factory):
    timeline = _status("mol-pgrepl-a", tmp_path_factory)["timeline"]
    _entry("mol-pgrepl-a", "fence")
    assert "who" in json.loads(a.file("/var/lib/postgresql/jinbao-fenced").content_string)
    # a fenced server that is started anyway comes up read-only
    a.check_output("systemctl start postgresql@15-main")
    assert _out(a, "SELECT pg_is_in_recovery()") == "t"
    assert _status("mol-pgrepl-a", tmp_path_factory)["fenced"] is True
    _entry("mol-pgrepl-b", "promote")
    followed = _entry("mol-pgrepl-a", "follow")
    assert not a.file("/var/lib/postgresql/jinbao-fenced").exists
    why = [line.strip() for line in followed.stdout.splitlines() if "pg_rewind failed" in line]
    assert not a.file(f"{DATA}.replaced").exists, f"follow fell back to a base backup instead of pg_rewind: {why}"
    assert _streams(b, "mol_pgrepl_a") == "streaming sync"
    _written_and_read(b, a)
    assert _status("mol-pgrepl-b", tmp_path_factory)["timeline"] == timeline + 1

    _entry("mol-pgrepl-b", "fence")
    _entry("mol-pgrepl-a", "promote")
    _entry("mol-pgrepl-b", "follow")
    assert _streams(a, "mol_pgrepl_b") == "streaming sync"
    _written_and_read(a, b)


def test_the_start_guard_keeps_a_primary_from_starting_when_db_points_elsewhere(a, b):
    zone = "/etc/bind/db.molecule"
    original = b.file(zone).content_string
    a_address, b_address = (n.check_output("hostname -I").split()[0] for n in (a, b))
    b.check_output(f"sed -i 's/^db IN A .*/db IN A {b_address}/' {zone} && systemctl restart named")
    try:
        a.check_output("systemctl restart postgresql@15-main")
        assert _out(a, "SELECT pg_is_in_recovery()") == "t"
        assert f"points to {b_address}" in a.check_output("journalctl -t jinbao-start-guard --no-pager")
    finally:
        b.check_output(f"cat > {zone} <<'EOF'\n{original}EOF\nsystemctl restart named")
        a.check_output(f"systemctl stop postgresql@15-main && rm -f {DATA}/standby.signal")
        a.check_output("systemctl start postgresql@15-main")
    assert _out(a, "SELECT pg_is_in_recovery()") == "f", f"db points to {a_address} again"
    _wait(lambda: _streams(a, "mol_pgrepl_b") == "streaming sync", "b does not stream from a again")


def _guard(a, resolvers: str, addresses: str) -> str:
    """Run the start guard on a with its own config; what it said when it wrote standby.signal,
    "" when it let the server start as the primary."""
    a.check_output(
        "rm -rf /tmp/guard && mkdir /tmp/guard && printf '%s\\n' GUARD_NAME=db.zhejiang.lab.jinbao.internal "
        f"{shlex.quote('GUARD_RESOLVERS=' + shlex.quote(resolvers))} GUARD_ADDRESSES={addresses} "
        "GUARD_DATA_DIR=/tmp/guard GUARD_WAIT=3 > /tmp/guard.conf"
    )
    run = a.run("/usr/local/sbin/jinbao-postgresql-start-guard /tmp/guard.conf")
    assert run.rc == 0, run.stderr
    if not a.file("/tmp/guard/standby.signal").exists:
        assert run.stderr == "", run.stderr
        return ""
    assert run.stderr, "standby.signal written without a word"
    return run.stderr


def test_the_start_guard_without_an_answer_writes_standby_signal(a):
    assert "no answer for db.zhejiang.lab.jinbao.internal from 127.0.0.1" in _guard(a, "127.0.0.1", "192.0.2.1")


def test_the_start_guard_needs_every_resolver_not_only_its_own_sites(a, b):
    # a DC back while its line to the DR site is cut: its own name server still says db is
    # here (the records from before the failover), the DR site's is silent -> standby
    a_address, b_address = (n.check_output("hostname -I").split()[0] for n in (a, b))
    assert _guard(a, b_address, a_address) == "", "every resolver answers a: a may start as the primary"
    assert "from 127.0.0.1 in 3s" in _guard(a, f"{b_address} 127.0.0.1", a_address)


def test_the_start_guard_refuses_at_once_when_an_answer_names_another_host(a, b):
    # b's answer (db is a_address) is not one of the addresses a is given: that settles it,
    # without waiting out the silent resolver
    a_address, b_address = (n.check_output("hostname -I").split()[0] for n in (a, b))
    said = _guard(a, f"{b_address} 127.0.0.1", "192.0.2.1")
    assert f"points to {a_address} (from {b_address})" in said
    assert "no answer" not in said


def test_a_degrade_to_async_is_recorded_and_survives_a_converge(a, tmp_path_factory):
    _entry("mol-pgrepl-a", "mode", postgresql_replication_mode_to="async")
    assert _out(a, "SHOW synchronous_standby_names") == ""
    assert a.file("/var/lib/postgresql/jinbao-degraded").exists
    _playbook("converge.yml")
    status = _status("mol-pgrepl-a", tmp_path_factory)
    assert status["mode"] == "async" and status["degraded"] is True and status["sync_state"] == "async"
    _entry("mol-pgrepl-a", "mode", postgresql_replication_mode_to="sync")
    assert _out(a, "SHOW synchronous_standby_names") == "mol_pgrepl_b"
    assert not a.file("/var/lib/postgresql/jinbao-degraded").exists


def test_follow_copies_the_primary_when_pg_rewind_cannot(a, b):
    # a standby whose data directory is damaged (its control file lost): pg_rewind cannot read
    # it, so follow copies the primary with pg_basebackup and keeps the old directory aside
    b.check_output(
        f"systemctl stop postgresql@15-main && rm -rf {DATA}.replaced && mv {DATA}/global/pg_control /root/pg_control"
    )
    _entry("mol-pgrepl-b", "follow")
    assert b.file(f"{DATA}.replaced").is_directory and not b.file(f"{DATA}.replaced/global/pg_control").exists
    assert b.file(f"{DATA}/global/pg_control").exists
    assert _streams(a, "mol_pgrepl_b") == "streaming sync"
    _written_and_read(a, b)


def test_an_environment_in_async_mode_converges_async_and_back(a, tmp_path_factory):
    # jinbao_dr_mode in group_vars chooses the mode per environment: async is configured, not
    # degraded (no marker), and the standby still streams
    _playbook("converge.yml", jinbao_dr_mode="async")
    assert _out(a, "SHOW synchronous_standby_names") == ""
    status = _status("mol-pgrepl-a", tmp_path_factory)
    assert (status["mode"], status["degraded"], status["sync_state"]) == ("async", False, "async")
    _playbook("converge.yml")
    assert _out(a, "SHOW synchronous_standby_names") == "mol_pgrepl_b"
    _wait(lambda: _streams(a, "mol_pgrepl_b") == "streaming sync", "b is not synchronous again")
