"""postgresql: TLS-only SCRAM access for the listed accounts from their listed sources, the
application reads and writes rows, maintenance accounts update but cannot DROP, DELETE or
TRUNCATE (each refused with its reason), pgaudit reaches syslog, and the server is ready for
a standby (wal_level replica, WAL archived)."""

from __future__ import annotations

import os
import shlex
import time

import pytest
import testinfra

DB = "pension"
PASSWORDS = {
    "pension_owner": "molecule-owner-secret",
    "pension_app": "molecule-app-secret",
    "replicator": "molecule-replication-secret",
    "dba_wang": "molecule-wang-secret",
    "dba_li": "molecule-li-secret",
    "postgres": "anything",
}
GUARD = "maintenance accounts may not run DDL ({tag}): ask the application team"


def _other(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def client():
    return _other("mol-postgresql-client")


@pytest.fixture(scope="module")
def address(host) -> str:
    return host.ansible("setup")["ansible_facts"]["ansible_default_ipv4"]["address"]


def _psql(node, address: str, user: str, sql: str, *, database: str = DB, sslmode: str = "require", **env: str):
    """psql over the network as `user` with its password; the command's result (rc, stdout, stderr)."""
    settings = {"PGPASSWORD": PASSWORDS[user], "PGSSLMODE": sslmode, "PGCONNECT_TIMEOUT": "10", **env}
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in settings.items())
    return node.run(
        f"{prefix} psql -h {address} -U {user} -d {database} -X -A -t -v ON_ERROR_STOP=1 -c {shlex.quote(sql)}"
    )


def _local(host, sql: str, database: str = DB) -> str:
    """psql as the server's superuser over the local socket (peer)."""
    return host.check_output(f"runuser -u postgres -- psql -X -A -t -d {database} -c {shlex.quote(sql)}")


@pytest.fixture(scope="module")
def table(client, address) -> str:
    """A table and its sequence as the application's migrations make them: created by the owner
    account after the role ran, so only default privileges can have granted them."""
    name = "pension.contribution"
    made = _psql(
        client,
        address,
        "pension_owner",
        f"CREATE TABLE IF NOT EXISTS {name} (id bigserial PRIMARY KEY, person text NOT NULL, amount numeric NOT NULL)",
    )
    assert made.rc == 0, made.stderr
    return name


def test_the_server_runs_with_tls_audit_and_replica_settings(host):
    service = host.service("postgresql@15-main")
    assert service.is_enabled and service.is_running
    settings = dict(
        line.split("|", 1)
        for line in _local(
            host,
            "SELECT name, setting FROM pg_settings WHERE name IN ('ssl', 'password_encryption', "
            "'shared_preload_libraries', 'wal_level', 'archive_mode', 'hot_standby', 'pgaudit.log', 'syslog_ident')",
        ).splitlines()
    )
    assert settings == {
        "ssl": "on",
        "password_encryption": "scram-sha-256",
        "shared_preload_libraries": "pgaudit",
        "wal_level": "replica",
        "archive_mode": "on",
        "hot_standby": "on",
        "pgaudit.log": "ddl, role",
        "syslog_ident": "postgres",
    }
    assert _local(host, "SELECT rolreplication AND rolcanlogin FROM pg_roles WHERE rolname = 'replicator'") == "t"
    key = host.file("/etc/jinbao/tls/postgresql.key")
    assert (key.user, key.group, key.mode) == ("root", "postgres", 0o640)


def test_wal_is_archived(host):
    before = int(_local(host, "SELECT archived_count FROM pg_stat_archiver"))
    _local(host, "SELECT pg_switch_wal() FROM (SELECT txid_current()) AS t")
    deadline = time.monotonic() + 30
    while int(_local(host, "SELECT archived_count FROM pg_stat_archiver")) <= before:
        assert time.monotonic() < deadline, "no WAL segment archived within 30 s"
        time.sleep(1)
    assert _local(host, "SELECT failed_count FROM pg_stat_archiver") == "0"


def test_a_connection_without_tls_is_refused(client, address):
    refused = _psql(client, address, "pension_app", "SELECT 1", sslmode="disable")
    assert refused.rc != 0
    assert "pg_hba.conf rejects connection" in refused.stderr and "no encryption" in refused.stderr


def test_the_certificate_names_the_server(host, client, address):
    client.run_test(
        f"cat > /tmp/postgresql-ca.crt <<'EOF'\n{host.file('/etc/jinbao/tls/postgresql.crt').content_string}EOF"
    )
    verified = _psql(
        client, address, "pension_app", "SHOW ssl", sslmode="verify-full", PGSSLROOTCERT="/tmp/postgresql-ca.crt"
    )
    assert verified.rc == 0, verified.stderr


def test_the_application_reads_and_writes_rows(client, address, table):
    written = _psql(
        client, address, "pension_app", f"INSERT INTO {table} (person, amount) VALUES ('330102', 200) RETURNING id"
    )
    assert written.rc == 0, written.stderr
    read = _psql(client, address, "pension_app", f"SELECT amount FROM {table} WHERE id = {written.stdout.split()[0]}")
    assert read.rc == 0 and read.stdout.strip() == "200", read.stderr


def test_the_application_cannot_change_the_schema(client, address, table):
    refused = _psql(client, address, "pension_app", f"ALTER TABLE {table} ADD COLUMN note text")
    assert refused.rc != 0 and "must be owner of table contribution" in refused.stderr


def test_a_maintenance_account_reads_and_updates(client, address, table):
    _psql(client, address, "pension_app", f"INSERT INTO {table} (person, amount) VALUES ('330103', 100)")
    updated = _psql(client, address, "dba_wang", f"UPDATE {table} SET amount = amount WHERE person = '330103'")
    assert updated.rc == 0 and updated.stdout.strip() != "UPDATE 0", updated.stderr
    read = _psql(client, address, "dba_li", f"SELECT count(*) > 0 FROM {table}")
    assert read.rc == 0 and read.stdout.strip() == "t", read.stderr


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DROP TABLE pension.contribution", GUARD.format(tag="DROP TABLE")),
        ("ALTER TABLE pension.contribution ADD COLUMN note text", GUARD.format(tag="ALTER TABLE")),
        ("CREATE TABLE pension.scratch (id int)", GUARD.format(tag="CREATE TABLE")),
        ("DELETE FROM pension.contribution", "permission denied for table contribution"),
        ("TRUNCATE pension.contribution", "permission denied for table contribution"),
    ],
    ids=["drop", "alter", "create", "delete", "truncate"],
)
def test_a_maintenance_account_is_refused_with_the_reason(client, address, table, sql, reason):
    refused = _psql(client, address, "dba_wang", sql)
    assert refused.rc != 0 and reason in refused.stderr, refused.stderr
    assert _psql(client, address, "pension_app", f"SELECT count(*) > 0 FROM {table}").stdout.strip() == "t"


def test_the_maintenance_session_is_audited_in_syslog(host, client, address, table):
    marker = f"audit-{time.time_ns()}"
    _psql(client, address, "dba_wang", f"UPDATE {table} SET person = person WHERE person = '{marker}'")
    _psql(client, address, "dba_wang", f"DROP TABLE {table} /* {marker} */")
    deadline = time.monotonic() + 15
    while marker not in (log := host.check_output("journalctl -q -t postgres --no-pager -o cat")):
        assert time.monotonic() < deadline, "the maintenance session is not in the journal"
        time.sleep(1)
    lines = [line for line in log.splitlines() if marker in line]
    assert any("dba_wang@pension" in line and "AUDIT: SESSION" in line and "WRITE,UPDATE" in line for line in lines)
    assert any("dba_wang@pension" in line and "DROP TABLE" in line for line in lines)
    facility = host.check_output("journalctl -q -t postgres --no-pager -o verbose | grep -m1 SYSLOG_FACILITY=")
    assert facility.strip() == "SYSLOG_FACILITY=16"  # local0


def test_no_password_reaches_the_log(host):
    log = host.check_output("journalctl -q --no-pager -o cat; cat /var/log/postgresql/*.log")
    assert [p for p in PASSWORDS.values() if p in log] == []


@pytest.mark.parametrize(
    ("user", "database", "from_db1"),
    [
        ("pension_app", DB, True),
        ("pension_app", "postgres", False),
        ("dba_wang", "postgres", False),
        ("replicator", DB, False),
        ("postgres", DB, False),
    ],
    ids=[
        "app-from-an-unlisted-source",
        "app-to-another-database",
        "maintenance-to-another-database",
        "replication-account-not-listed",
        "superuser-over-the-network",
    ],
)
def test_pg_hba_refuses_what_it_does_not_list(host, client, address, user, database, from_db1):
    refused = _psql(host if from_db1 else client, address, user, "SELECT 1", database=database)
    assert refused.rc != 0 and "pg_hba.conf rejects connection" in refused.stderr, refused.stderr


def test_a_wrong_password_is_refused(client, address):
    refused = _psql(client, address, "pension_app", "SELECT 1", PGPASSWORD="wrong")
    assert refused.rc != 0 and 'password authentication failed for user "pension_app"' in refused.stderr
