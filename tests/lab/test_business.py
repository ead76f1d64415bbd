"""The DC's business system in the lab (docs/business.md): a clerk at a township enrolls a person
and records a contribution through web -> middleware -> database and reads it back; the
database admits the middleware and the named maintenance accounts only, maintenance cannot
destroy and is audited on the DC's collector; the service names resolve from the DC's name
server, which refuses unsigned updates; a backup restores to exactly what it recorded.

The clerk is the township router (curl from its LAN address, the WAN's only way in is the web
tier, zones.yml F19); everything is asked by the service names, as the application does.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

CLERK_SITE = "choucheng"
DC = "zj-dc"
CA_ON_CLERK = "/tmp/jinbao-web.crt"
# the clerk's client certificate (network/dr/identity.py): the web tier refuses writes without it
KEY_ON_CLERK, CERT_ON_CLERK = "/tmp/jinbao-clerk.key", "/tmp/jinbao-clerk.crt"
ROOT = Path(__file__).resolve().parents[2]


def resident_id(serial: int) -> str:
    """A well-formed 18-digit resident ID (GB 11643: region, birth date, serial, check digit)."""
    region, rest = divmod(serial, 28_000)  # 28 birth days x 1,000 serials per region code
    body = f"33{region % 10_000:04d}199001{rest // 1_000 + 1:02d}{rest % 1_000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _zone_of(lab) -> str:
    """The DC's service zone (group_vars' jinbao_service_zone: <province>.<domain>)."""
    province = lab.network.province_of(lab.network.sites[DC])
    return f"{province.slug}.{lab.network.policy.domain}"


def _host_named(lab, role: str, site: str = DC) -> str:
    owner = lab.network.sites[site]
    return lab.network.hostname(owner, next(h.name for h in owner.hosts if h.role == role))


def _address(lab, hostname: str) -> str:
    site, host = next(
        (s.id, h.name)
        for s in lab.network.sites.values()
        for h in s.hosts
        if lab.network.hostname(s, h.name) == hostname
    )
    return lab.allocations.hosts[f"{site}/{host}"]["address"]


class Clerk:
    """A township's clerk: HTTPS to web.<zone> from the township's LAN address, the web tier's
    certificate checked, with the clerk's client certificate from the CA (a write needs it)."""

    def __init__(self, lab):
        from network.dr.identity import clerk_certificate

        self.router = lab.router_of(CLERK_SITE)
        self.host = lab.host(self.router.name)
        self.source = lab.lan_address(self.router)
        self.zone = _zone_of(lab)
        self.web = _address(lab, _host_named(lab, "web"))
        cert = lab.host(_host_named(lab, "web")).file("/etc/jinbao/tls/web.crt").content_string
        self.host.run(f"printf %s {shlex.quote(cert)} > {CA_ON_CLERK}")
        key, mine = clerk_certificate(lab.env, f"clerk.{CLERK_SITE}")
        self.host.run_test(f"umask 077 && printf %s {shlex.quote(key.decode())} > {KEY_ON_CLERK}")
        self.host.run_test(f"printf %s {shlex.quote(mine.decode())} > {CERT_ON_CLERK}")

    def request(
        self, method: str, path: str, body: dict | None = None, certificate: bool = True
    ) -> tuple[int, dict, dict | str]:
        """`certificate` False: as someone at the township without the clerk's certificate."""
        command = [
            "curl", "-sS", "-i", "--max-time", "20", "--interface", self.source, "--cacert", CA_ON_CLERK,
            "--resolve", f"web.{self.zone}:443:{self.web}", "-X", method,
        ]  # fmt: skip
        if certificate:
            command += ["--cert", CERT_ON_CLERK, "--key", KEY_ON_CLERK]
        if body is not None:
            command += ["-H", "Content-Type: application/json", "--data", json.dumps(body, ensure_ascii=False)]
        result = self.host.run(shlex.join([*command, f"https://web.{self.zone}{path}"]))
        assert result.rc == 0, f"curl from {self.router.name} failed: {result.stderr}"
        head, _, text = result.stdout.replace("\r\n", "\n").partition("\n\n")
        while head.startswith("HTTP/") and text.startswith("HTTP/"):  # 100 Continue and the like
            head, _, text = text.partition("\n\n")
        status = int(head.split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head.splitlines()[1:])}
        try:
            return status, headers, json.loads(text)
        except ValueError:
            return status, headers, text


@pytest.fixture(scope="module")
def clerk(lab):
    return Clerk(lab)


@pytest.fixture(scope="module")
def person():
    serial = int(time.time()) % 100_000
    return {"id_number": resident_id(serial), "name": "张三", "township": CLERK_SITE}


def test_a_clerk_at_a_township_enrolls_contributes_and_reads_back(clerk, person):
    status, _, enrolled = clerk.request("POST", "/api/v1/enrollments", {"request_id": str(uuid.uuid4()), **person})
    assert status == 201, enrolled
    contribution = {"request_id": str(uuid.uuid4()), "id_number": person["id_number"], "year": 2026, "grade": 3}
    status, _, paid = clerk.request("POST", "/api/v1/contributions", {**contribution, "amount": "1500.00"})
    assert status == 201, paid
    status, _, found = clerk.request("GET", f"/api/v1/persons/{person['id_number']}")
    assert status == 200, found
    assert json.dumps(found, ensure_ascii=False).count(person["name"]) >= 1
    years = [(c["year"], c["grade"], float(c["amount"])) for c in found["contributions"]]
    assert years == [(2026, 3, 1500.0)]


def test_a_write_without_the_clerks_certificate_is_refused_and_writes_nothing(clerk):
    """Someone at the township's LAN without the clerk's certificate: the web tier refuses the
    write (403, the role named) before the application; reads stay open (citizens')."""
    stranger = {"id_number": resident_id(int(time.time()) % 100_000 + 100_000), "name": "王五", "township": CLERK_SITE}
    status, _, said = clerk.request(
        "POST", "/api/v1/enrollments", {"request_id": str(uuid.uuid4()), **stranger}, certificate=False
    )
    assert status == 403 and "clerk" in said["error"], said
    status, _, found = clerk.request("GET", f"/api/v1/persons/{stranger['id_number']}", certificate=False)
    assert status == 404, found  # read without a certificate: answered, and nothing was enrolled


def test_a_write_sent_twice_is_written_once(clerk, person):
    body = {"request_id": str(uuid.uuid4()), "id_number": person["id_number"], "year": 2025, "grade": 1}
    first = clerk.request("POST", "/api/v1/contributions", {**body, "amount": "300.00"})
    again = clerk.request("POST", "/api/v1/contributions", {**body, "amount": "300.00"})
    assert first[0] == 201 and again[0] == 200, (first, again)
    assert again[1].get("idempotent-replay") == "true" and again[2] == first[2]
    _, _, found = clerk.request("GET", f"/api/v1/persons/{person['id_number']}")
    assert [c["year"] for c in found["contributions"]].count(2025) == 1


def test_health_says_which_database_and_that_it_is_primary(lab, clerk):
    status, _, health = clerk.request("GET", "/health")
    assert status == 200, health
    database = health["database"]
    assert database["host"] == f"db.{clerk.zone}" and database["primary"] is True
    assert database["address"] == _address(lab, _host_named(lab, "database"))


# --- who may reach the database ----------------------------------------------------------
def _tcp_open(host, source: str, address: str, port: int) -> bool:
    return host.run(f"nc -z -w 3 -s {source} {address} {port}").rc == 0


@pytest.mark.parametrize("role", ["web", "front-end-processor"])
def test_no_dc_host_but_the_middleware_and_the_console_reaches_postgresql(lab, role):
    name = _host_named(lab, role)
    db = _address(lab, _host_named(lab, "database"))
    assert not _tcp_open(lab.host(name), _address(lab, name), db, 5432), f"{name} reaches {db}:5432"
    # and the middleware does: the probe itself works
    app = _host_named(lab, "middleware")
    assert _tcp_open(lab.host(app), _address(lab, app), db, 5432)


def test_a_township_and_the_dr_sites_web_tier_do_not_reach_postgresql(lab, clerk):
    db = _address(lab, _host_named(lab, "database"))
    assert not _tcp_open(clerk.host, clerk.source, db, 5432)
    web = _host_named(lab, "web", "zj-dr")
    assert not _tcp_open(lab.host(web), _address(lab, web), db, 5432)
    # the DR site's middleware does, across the pair (zones.yml F27: `db` may point here or there)
    app = _host_named(lab, "middleware", "zj-dr")
    assert _tcp_open(lab.host(app), _address(lab, app), db, 5432)


REFUSED_BY_PG_HBA = ("pg_hba.conf rejects connection", "no pg_hba.conf entry")


def _psql(lab, host: str, account: str, sql: str, password: str, sslmode: str = "require"):
    db = f"db.{_zone_of(lab)}"
    env = f"PGPASSWORD={shlex.quote(password)} PGSSLMODE={sslmode} PGCONNECT_TIMEOUT=5"
    return lab.host(host).run(f"{env} psql -h {db} -U {account} -d pension -v ON_ERROR_STOP=1 -Atc {shlex.quote(sql)}")


@pytest.fixture(scope="module")
def passwords(lab):
    """The database accounts' passwords, from the environment's vault."""
    vault = lab.env / "group_vars" / "all" / "vault.yml"
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-vault"), "view", str(vault)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return yaml.safe_load(shown.stdout)["vault_jinbao_db_passwords"]


def test_pg_hba_refuses_the_application_account_from_the_console(lab, passwords):
    """The bastion passes the firewall (F18), so pg_hba itself must refuse the wrong account there."""
    console = _host_named(lab, "bastion")
    refused = _psql(lab, console, "pension_app", "select 1", passwords["pension_app"])
    assert refused.rc != 0 and any(r in refused.stderr for r in REFUSED_BY_PG_HBA), refused.stderr
    # and the application account works from the middleware
    app = _host_named(lab, "middleware")
    assert _psql(lab, app, "pension_app", "select 1", passwords["pension_app"]).stdout.strip() == "1"


def test_a_plain_connection_is_refused(lab, passwords):
    app = _host_named(lab, "middleware")
    result = _psql(lab, app, "pension_app", "select 1", passwords["pension_app"], sslmode="disable")
    assert result.rc != 0 and any(r in result.stderr for r in REFUSED_BY_PG_HBA), result.stderr


MAINTENANCE = [
    ("DROP TABLE pension.contributions", "DDL"),
    ("DELETE FROM pension.contributions", "permission denied"),
    ("TRUNCATE pension.contributions", "permission denied"),
]


@pytest.mark.parametrize(("sql", "reason"), MAINTENANCE, ids=["drop", "delete", "truncate"])
def test_maintenance_cannot_destroy_and_the_attempt_is_audited_on_the_collector(lab, passwords, sql, reason):
    console, collector = _host_named(lab, "bastion"), _host_named(lab, "ops")
    account = lab.network.policy.db_maintainers[0]
    marker = f"jinbao-test-{uuid.uuid4().hex[:8]}"
    refused = _psql(lab, console, account, f"/* {marker} */ {sql}", passwords[account])
    assert refused.rc != 0 and reason in refused.stderr, refused.stderr
    collected = f"/var/log/remote/{_host_named(lab, 'database')}.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = lab.host(collector).run(f"grep -F {marker} {collected}").stdout.splitlines()
        if any(account in line for line in lines):
            return
        time.sleep(1)
    pytest.fail(f"no line of {account}'s `{sql}` ({marker}) in {collected} on {collector}")


def test_maintenance_can_read_and_update(lab, passwords):
    console = _host_named(lab, "bastion")
    account = lab.network.policy.db_maintainers[0]
    done = _psql(lab, console, account, "UPDATE pension.persons SET name = name WHERE false", passwords[account])
    assert done.rc == 0, done.stderr


# --- names ------------------------------------------------------------------------------
def test_the_service_names_resolve_from_the_dc_name_server(lab):
    app = lab.host(_host_named(lab, "middleware"))
    zone = _zone_of(lab)
    for name, role in lab.network.policy.service_names.items():
        answer = app.run(f"getent hosts {name}.{zone}").stdout.split()
        assert answer and answer[0] == _address(lab, _host_named(lab, role)), (name, answer)


def test_an_unsigned_update_is_refused(lab):
    app = lab.host(_host_named(lab, "middleware"))
    ns = lab.network.sites[DC]
    server = _address(lab, lab.network.hostname(ns, next(h.name for h in ns.hosts if "dns" in h.provides)))
    script = f"server {server}\nzone {_zone_of(lab)}\nupdate delete db.{_zone_of(lab)} A\nsend\n"
    result = app.run(f"printf %s {shlex.quote(script)} | nsupdate -t 5")
    assert result.rc != 0 and "REFUSED" in (result.stdout + result.stderr), result.stdout + result.stderr
    assert app.run(f"getent hosts db.{_zone_of(lab)}").rc == 0


# --- backups ----------------------------------------------------------------------------
def _contributions(lab, passwords) -> int:
    account = lab.network.policy.db_maintainers[0]
    counted = _psql(
        lab, _host_named(lab, "bastion"), account, "SELECT count(*) FROM pension.contributions", passwords[account]
    )
    assert counted.rc == 0, counted.stderr
    return int(counted.stdout.strip())


def _clerk_writes(clerk, serial: int) -> None:
    person = {"id_number": resident_id(serial), "name": "李四", "township": CLERK_SITE}
    assert clerk.request("POST", "/api/v1/enrollments", {"request_id": str(uuid.uuid4()), **person})[0] == 201
    paid = {"request_id": str(uuid.uuid4()), "id_number": person["id_number"], "year": 2026, "grade": 2}
    assert clerk.request("POST", "/api/v1/contributions", {**paid, "amount": "900.00"})[0] == 201


def test_a_backup_restores_to_exactly_what_it_recorded(lab, clerk, passwords):
    serial = int(time.time()) % 100_000 + 200_000
    _clerk_writes(clerk, serial)
    backup = lab.host(_host_named(lab, "backup"))
    done = backup.run("runuser -u pgbackrest -- /usr/local/sbin/jinbao-backup full")
    assert done.rc == 0, done.stdout + done.stderr
    records = "/var/lib/pgbackrest/jinbao/records"
    newest = backup.check_output(f"ls -t {records} | head -1")
    record = json.loads(backup.file(f"{records}/{newest}").content_string)
    assert record["rows"] == _contributions(lab, passwords)
    _clerk_writes(clerk, serial + 1)  # after the backup: the restore must not find it
    assert _contributions(lab, passwords) == record["rows"] + 1
    results = lab.env / ".lab" / "restore-tests"
    before = set(results.glob("*.json")) if results.exists() else set()
    restored = lab.ansible("playbooks/restore-test.yml", "-e", f"restore_test_label={record['label']}")
    assert restored.returncode == 0, restored.stdout[-3000:]
    written = sorted(set(results.glob("*.json")) - before)
    assert len(written) == 1, written
    result = json.loads(written[0].read_text())
    assert result["ok"] is True and result["label"] == record["label"]
    assert int(result["found"]["rows"]) == record["rows"] and result["found"]["checksum"] == record["checksum"]
