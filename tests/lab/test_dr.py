"""Off-site disaster recovery in the lab (docs/dr.md): the DR site's standby streams from the DC's
primary over the WAN, the dr/ playbooks move the primary and the service names, and the drills
measure what a clerk at a township sees. The service names resolve while the DC's name server is
down (the DR site's is a secondary of the zone, and every host lists both). One drill of each
kind runs here (`make bench-dr` runs three of each): zero acknowledged writes lost in
synchronous mode, the failover refused while the primary is healthy, forced it fences the old
primary first, after failback the DC is primary again and both sites replicate; in asynchronous
mode a lagging standby is reported with its lag; with both databases standbys (a power cut),
dr/elect.yml makes the one db points to the primary again; a lost DR site stalls writes in
synchronous mode until an operator degrades the pair to asynchronous, which is recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from network import envstate

ROOT = Path(__file__).resolve().parents[2]
DC, DR = "zj-dc", "zj-dr"


def _drill(lab, kind: str, seconds: int) -> subprocess.CompletedProcess:
    return _jinbao(
        lab, "dr", "drill", str(lab.env), "--kind", kind, "--writes", "200", "--seconds", str(seconds), "--json"
    )


def _jinbao(lab, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "jinbao"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _status(lab) -> dict[str, dict]:
    """dr/status.yml's view, host name -> its entry (role, streaming, sync_state, lag, mode ...)."""
    ran = lab.ansible("dr/status.yml")
    assert ran.returncode == 0, ran.stdout[-3000:]
    found = json.loads((envstate.dr_dir(lab.env) / "status.json").read_text())
    return {name: {"host": name, **entry} for name, entry in found["databases"].items()}


def _operations(lab) -> list[dict]:
    path = envstate.dr_dir(lab.env) / "operations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _db(site: str) -> str:
    return f"{site}-db1"


def _zone_of(lab) -> str:
    """The service names' zone (group_vars' jinbao_service_zone: <province>.<domain>)."""
    return f"{lab.network.province_of(lab.network.sites[DC]).slug}.{lab.network.policy.domain}"


def _resolve(lab, name: str) -> list[str]:
    """What the DC's name server answers for a service name."""
    zone = _zone_of(lab)
    out = lab.host(f"{DC}-ops1").check_output(f"dig @127.0.0.1 +short {name}.{zone} A")
    return out.split()


def _address(lab, host: str) -> str:
    site, _, name = host.rpartition("-")
    return lab.allocations.hosts[f"{site}/{name}"]["address"]


def _in_recovery(lab, host: str) -> str:
    return lab.host(host).check_output("sudo -u postgres psql -XAtc 'SELECT pg_is_in_recovery()'").strip()


def _assert_normal(lab) -> None:
    """The DC primary, the DR standby streaming from it in the configured mode, the names on the DC."""
    status = _status(lab)
    dc, dr = status[_db(DC)], status[_db(DR)]
    assert dc["role"] == "primary" and dr["role"] == "standby", status
    assert dr["streaming"] is True, status
    assert dc["sync_state"] == "sync" and dc["mode"] == "sync", status
    assert _resolve(lab, "db") == [_address(lab, _db(DC))]


@pytest.fixture(scope="module")
def normal(lab):
    _assert_normal(lab)
    return lab


def test_the_dr_standby_streams_from_the_dc_primary_in_sync(normal):
    lab = normal
    assert _in_recovery(lab, _db(DR)) == "t" and _in_recovery(lab, _db(DC)) == "f"
    # what the primary commits is on the standby (synchronous: the commit waited for its flush)
    primary, standby = lab.host(_db(DC)), lab.host(_db(DR))
    marker = f"dr-test-{int(time.time())}"
    primary.run_test('sudo -u postgres psql -XAtc "CREATE TABLE IF NOT EXISTS jinbao_dr_test (x text)" postgres')
    primary.run_test(f"sudo -u postgres psql -XAtc \"INSERT INTO jinbao_dr_test VALUES ('{marker}')\" postgres")
    for _ in range(20):
        seen = standby.run("sudo -u postgres psql -XAtc 'SELECT x FROM jinbao_dr_test' postgres").stdout
        if marker in seen:
            break
        time.sleep(0.5)
    assert marker in seen
    refused = lab.host(_db(DR)).run("sudo -u postgres psql -XAtc 'CREATE TABLE nope (x int)' postgres")
    assert refused.rc != 0 and "read-only" in refused.stderr


def _name_server(lab, site: str) -> str:
    """The site's host that provides dns."""
    return next(f"{site}-{h.name}" for h in lab.network.sites[site].hosts if "dns" in h.provides)


def test_the_service_names_resolve_while_the_dc_name_server_is_down(normal):
    lab = normal
    zone, db = _zone_of(lab), _address(lab, _db(DC))
    dc_ns, dr_ns = lab.host(_name_server(lab, DC)), lab.host(_name_server(lab, DR))
    # the DR site's name server holds the DC's zone itself (a secondary): it answers with authority
    answer = dr_ns.check_output(f"dig @127.0.0.1 +norecurse db.{zone} A")
    assert " aa" in answer.split("flags:")[1].split(";")[0] and db in answer
    dc_ns.check_output("systemctl stop named")
    try:
        for host in (f"{DR}-app1", f"{DC}-app1"):
            found = lab.host(host).run(f"getent ahostsv4 db.{zone}")
            assert found.rc == 0 and db in found.stdout.split(), f"{host}: {found.stdout}{found.stderr}"
    finally:
        dc_ns.check_output("systemctl start named")
    for _ in range(20):  # named loads its zones after systemd says started
        if dc_ns.run(f"dig @127.0.0.1 +short db.{zone} A").stdout.split() == [db]:
            break
        time.sleep(0.5)
    assert _resolve(lab, "db") == [db]


def test_a_failover_asked_while_the_primary_is_healthy_is_refused_and_changes_nothing(normal):
    lab = normal
    before = len(_operations(lab))
    refused = lab.ansible("dr/failover.yml", "-e", "confirm=yes")
    assert refused.returncode != 0
    assert "healthy" in refused.stdout and "force=true" in refused.stdout, refused.stdout[-3000:]
    _assert_normal(lab)
    records = [r for r in _operations(lab)[before:] if r["what"].startswith("failover")]
    assert [r["result"] for r in records] == ["refused"], records


def test_a_switchover_drill_loses_no_acknowledged_write(normal):
    lab = normal
    ran = _jinbao(
        lab, "dr", "drill", str(lab.env), "--kind", "switchover", "--writes", "200", "--seconds", "120", "--json"
    )
    result = json.loads(ran.stdout)
    print(f"\nswitchover drill: RTO {result['rto_s']} s, {result['acknowledged']} acknowledged, {result['lost']} lost")
    assert ran.returncode == 0, (result.get("problems"), ran.stderr[-2000:])
    assert result["mode"] == "sync" and result["lost"] == 0 and result["recovered"] and result["back_to_normal"]
    _assert_normal(lab)


def test_a_failover_drill_loses_no_acknowledged_write_and_fences_the_lost_primary(normal):
    lab = normal
    before = len(_operations(lab))
    ran = _jinbao(
        lab, "dr", "drill", str(lab.env), "--kind", "failover", "--writes", "200", "--seconds", "150", "--json"
    )
    result = json.loads(ran.stdout)
    print(f"\nfailover drill: RTO {result['rto_s']} s, {result['acknowledged']} acknowledged, {result['lost']} lost")
    assert ran.returncode == 0, (result.get("problems"), ran.stderr[-2000:])
    assert result["mode"] == "sync" and result["lost"] == 0 and result["recovered"] and result["back_to_normal"]
    failover = next(r for r in _operations(lab)[before:] if r["what"].startswith("failover"))
    assert failover["result"] == "succeeded" and "fenced" in json.dumps(failover["details"]), failover
    _assert_normal(lab)


def test_a_forced_failover_fences_the_healthy_primary_first_then_failback_restores_the_dc(normal):
    lab = normal
    forced = lab.ansible("dr/failover.yml", "-e", "confirm=yes", "-e", "force=true")
    assert forced.returncode == 0, forced.stdout[-3000:]
    # the old primary is stopped and kept from starting as a primary; the DR site took over
    dc = lab.host(_db(DC))
    assert not dc.service("postgresql@15-main").is_running
    assert dc.file("/var/lib/postgresql/15/main/standby.signal").exists
    assert _in_recovery(lab, _db(DR)) == "f"
    assert _resolve(lab, "db") == [_address(lab, _db(DR))]
    assert _resolve(lab, "app") == [_address(lab, f"{DR}-app1")]
    # fenced, and its flows cut, before the DR site was promoted: the playbook's own order, as
    # its record says
    record = next(r for r in reversed(_operations(lab)) if r["what"].startswith("failover"))
    assert record["result"] == "succeeded" and record["details"]["forced"] is True, record
    assert record["details"]["steps_done"][:3] == ["fenced", f"flows_cut {DR}-fw-inner", "promoted"], record["details"]
    # the flows to it are cut on the DR site's firewall: a connection from the DR application is
    # reset there (the fence's counter moves), not by the stopped server
    firewall, old = lab.host(f"{DR}-fw-inner"), _address(lab, _db(DC))
    assert record["details"]["flows"]["cut_on"] == [f"{DR}-fw-inner"], record["details"]["flows"]
    before = _fence_packets(firewall)
    assert lab.host(f"{DR}-app1").run(f"timeout 5 bash -c '</dev/tcp/{old}/5432'").rc != 0
    assert _fence_packets(firewall) > before
    # and the record reached the DC's collector (syslog tag jinbao-dr)
    collector = lab.host(f"{DC}-ops1")
    find = f"grep -hF jinbao-dr /var/log/remote/*.log | grep -F {record['started']} | grep -F failover"
    deadline = time.monotonic() + 30
    while collector.run(find).rc != 0:
        assert time.monotonic() < deadline, f"no jinbao-dr line of the failover started {record['started']}"
        time.sleep(1)
    back = lab.ansible("dr/failback.yml", "-e", "confirm=yes")
    assert back.returncode == 0, back.stdout[-3000:]
    _assert_normal(lab)
    assert firewall.run("nft list table inet jinbao_fence").rc != 0, "failback left the fence"
    assert not firewall.file("/etc/nftables.d/20-jinbao-fence.nft").exists
    assert lab.host(f"{DR}-app1").run(f"timeout 5 bash -c '</dev/tcp/{old}/5432'").rc == 0


def _fence_packets(firewall) -> int:
    """Packets the fence (table inet jinbao_fence) cut so far on this firewall."""
    listed = firewall.run("nft -j list table inet jinbao_fence")
    assert listed.rc == 0, f"no fence on the firewall: {listed.stderr}"
    rules = [i["rule"] for i in json.loads(listed.stdout)["nftables"] if "rule" in i]
    return sum(e["counter"]["packets"] for r in rules for e in r["expr"] if "counter" in e)


def test_with_both_databases_standbys_elect_makes_the_one_db_points_to_the_primary(normal):
    lab = normal
    refused = lab.ansible("dr/elect.yml", "-e", "confirm=yes")
    assert refused.returncode != 0 and "primary zj-dc-db1" in refused.stdout, refused.stdout[-3000:]
    assert _operations(lab)[-1]["result"] == "refused"
    # a power cut, and the start guard found a name server silent: the DC's primary came back
    # read-only (standby.signal), beside the DR site's standby
    dc = lab.host(_db(DC))
    dc.check_output(
        "systemctl stop postgresql@15-main && sudo -u postgres touch /var/lib/postgresql/15/main/standby.signal"
        " && systemctl start postgresql@15-main"
    )
    assert _in_recovery(lab, _db(DC)) == "t" and _in_recovery(lab, _db(DR)) == "t"
    elected = lab.ansible("dr/elect.yml", "-e", "confirm=yes")
    assert elected.returncode == 0, elected.stdout[-3000:]
    record = _operations(lab)[-1]
    assert record["what"] == "elect" and record["result"] == "succeeded", record
    assert record["details"]["primary"] == _db(DC), record["details"]
    _assert_normal(lab)


def test_in_async_mode_a_lagging_standby_is_reported_with_its_lag(normal):
    lab = normal
    to_async = lab.ansible("dr/replication-mode.yml", "-e", "mode=async", "-e", "confirm=yes", "-e", "force=true")
    assert to_async.returncode == 0, to_async.stdout[-3000:]
    standby = lab.host(_db(DR))
    try:
        # one transaction replayed first: the standby's lag in seconds is measured from the last
        # one it replayed (status.yml reports it unknown, null, before any)
        lab.host(_db(DC)).run_test("sudo -u postgres psql -XAtc \"INSERT INTO jinbao_dr_test VALUES ('x')\" postgres")
        time.sleep(1)
        standby.run_test("sudo -u postgres psql -XAtc 'SELECT pg_wal_replay_pause()'")
        lab.host(_db(DC)).run_test(
            "sudo -u postgres psql -XAtc "
            "\"INSERT INTO jinbao_dr_test SELECT repeat('x', 1000) FROM generate_series(1, 999)\" postgres"
        )
        time.sleep(2)
        status = _status(lab)
        dr = status[_db(DR)]
        assert status[_db(DC)]["mode"] == "async" and status[_db(DC)]["sync_state"] == "async", status
        assert dr["lag_bytes"] > 0 and dr["lag_seconds"] is not None and dr["lag_seconds"] > 0, dr
    finally:
        standby.run("sudo -u postgres psql -XAtc 'SELECT pg_wal_replay_resume()'")
        lab.ansible("dr/replication-mode.yml", "-e", "mode=sync", "-e", "confirm=yes")
    _assert_normal(lab)


def test_in_sync_mode_a_lost_dr_site_stalls_writes_until_degraded_to_async_which_is_recorded(normal):
    """The decision for a lost DR site in sync mode (docs/dr.md): the DC's commits wait for the
    standby, so a clerk's write does not come back; the guarded replication-mode.yml degrades
    the pair to async (refused while the standby streams), writes flow, and it is recorded."""
    from test_business import CA_ON_CLERK, CERT_ON_CLERK, KEY_ON_CLERK, Clerk, resident_id

    lab = normal
    clerk = Clerk(lab)
    standby = lab.host(_db(DR))

    def write(timeout: int) -> str:
        body = json.dumps(
            {"request_id": f"dr-stall-{time.time_ns()}", "id_number": resident_id(time.time_ns() % 99_991),
             "name": "李四", "township": "choucheng"}, ensure_ascii=False)  # fmt: skip
        return clerk.host.run(
            f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time {timeout} --interface {clerk.source} "
            f"--cacert {CA_ON_CLERK} --cert {CERT_ON_CLERK} --key {KEY_ON_CLERK} "
            f"--resolve web.{clerk.zone}:443:{clerk.web} -H 'Content-Type: application/json' "
            f"--data '{body}' https://web.{clerk.zone}/api/v1/enrollments"
        ).stdout.strip()

    assert write(20) == "201"
    refused = lab.ansible("dr/replication-mode.yml", "-e", "mode=async", "-e", "confirm=yes")
    assert refused.returncode != 0, "degrading while the standby streams must be refused"
    before = len(_operations(lab))
    standby.run_test("systemctl stop postgresql@15-main")  # the DR site's database is lost
    try:
        assert write(8) != "201", "a write was acknowledged in sync mode without the standby"
        degraded = lab.ansible("dr/replication-mode.yml", "-e", "mode=async", "-e", "confirm=yes")
        assert degraded.returncode == 0, degraded.stdout[-3000:]
        assert write(20) == "201"
        status = _status(lab)[_db(DC)]
        assert status["mode"] == "async" and status["degraded"] is True, status
        record = next(r for r in _operations(lab)[before:] if r["what"].startswith("replication-mode"))
        assert record["result"] == "succeeded", record
    finally:
        standby.run("systemctl start postgresql@15-main")
        for _ in range(60):
            if _status(lab)[_db(DR)]["streaming"]:
                break
            time.sleep(2)
        back = lab.ansible("dr/replication-mode.yml", "-e", "mode=sync", "-e", "confirm=yes")
        assert back.returncode == 0, back.stdout[-3000:]
    _assert_normal(lab)
