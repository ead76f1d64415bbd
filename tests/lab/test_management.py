"""The level-3 management plane in the lab: logs reach the DC's collector, time comes from
the DC, SNMP answers v3 only, every router and every Linux host complies with the level-3
rules (or carries the lab's reviewed waiver), and `jinbao audit` finds a breach on a router
(compliance), on servers (Ansible check mode and the host rules) and on a gatekeeper (the
host rules), names it, and is clean again after a converge."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from network import compliance
from network.render.design import RenderIndex
from network.render.secrets import load_secrets

ROOT = Path(__file__).resolve().parents[2]
JINBAO = str(Path(sys.executable).parent / "jinbao")
SYSNAME = "1.3.6.1.2.1.1.5.0"  # SNMPv2-MIB::sysName.0
RULES = compliance.load_rules()
# what no container can do: load audit rules into the host's kernel (waivers.yml LAB-3)
CONTAINERS_WAIVE = {"L3-AUDITD"}


def _jinbao(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([JINBAO, *args], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def plane(lab):
    """Node name → its management plane as the model gives it (collectors, NTP servers)."""
    index = RenderIndex.build(lab.network, lab.allocations)
    return {name: index.management_plane(lab.network.sites[node.site]) for name, node in lab.topology.nodes.items()}


@pytest.fixture(scope="module")
def collector(lab, plane):
    """The node that is the lab's syslog collector and NTP server (the DC's ops host)."""
    addresses = {a for p in plane.values() for a in p["syslog"]}
    assert len(addresses) == 1, f"the lab should have one collector, the model gives {addresses}"
    address = addresses.pop()
    node = next(
        n
        for n in lab.topology.nodes.values()
        if any(a.address and a.address.split("/")[0] == address for a in n.attachments)
    )
    return node.name, address


@pytest.fixture(scope="module")
def tls_port(lab):
    """The collector's TLS port, as zones.yml's syslog service gives it (jinbao validates that it
    agrees with jinbao_syslog_tls)."""
    return lab.policy.services["syslog"].ports[0]


def _routers_served(lab, plane, what: str):
    served = [r for r in lab.routers() if plane[r.name][what]]
    assert len(served) >= 5, f"most lab routers should have a {what} host"
    return served


def test_every_router_sends_its_logs_to_the_dc_collector(lab, plane, collector):
    name, address = collector
    token = uuid.uuid4().hex[:12]
    routers = _routers_served(lab, plane, "syslog")
    for router in routers:
        lab.host(router.name).run_test(f"logger -t jinbao-lab-test {token}-{router.name}")
    missing = [r.name for r in routers]
    deadline = time.monotonic() + 30
    while missing and time.monotonic() < deadline:
        found = lab.host(name).run(f"grep -rhoa '{token}-[a-z0-9-]*' /var/log/remote/").stdout.split()
        missing = [r for r in missing if f"{token}-{r}" not in found]
        time.sleep(1)
    sockets = {r: lab.host(r).run(f"ss -tn dst {address}").stdout.strip() for r in missing}
    assert missing == [], f"no log line from {missing} reached {name}; their sockets to it: {sockets}"
    # per-host files, named by the sender
    listing = lab.host(name).check_output("ls /var/log/remote").split()
    assert {f"{r.name}.log" for r in routers} <= set(listing)


def test_logs_reach_the_collector_over_tls_only(lab, plane, collector, tls_port):
    """The collector speaks TLS only, with a certificate the CA issued for its hostname (what
    every node checks); a line sent in clear to its port is never logged, while a line the
    node's own rsyslog forwards is, and the clear-text port 514 is closed."""
    name, address = collector
    router = _routers_served(lab, plane, "syslog")[0].name
    node = lab.host(router)
    shown = node.run(
        f"openssl s_client -connect {address}:{tls_port} -CAfile /etc/jinbao/tls/jinbao-ca.crt"
        f" -verify_hostname {name} -verify_return_error -brief </dev/null"
    )
    assert shown.rc == 0 and "Verification: OK" in shown.stderr, shown.stderr
    wrong = node.run(
        f"openssl s_client -connect {address}:{tls_port} -CAfile /etc/jinbao/tls/jinbao-ca.crt"
        f" -verify_hostname not-{name} -verify_return_error -brief </dev/null"
    )
    assert wrong.rc != 0, f"{name}'s certificate passed for another name: {wrong.stderr}"
    token = uuid.uuid4().hex[:12]
    # the clear line's marker is made on the node (upper-cased there): the command itself, which
    # sudo logs and forwards over TLS, never holds it
    marker = f"{token}-clear".upper()
    clear = f'"<13>{router} jinbao-lab-test: $(echo {token}-clear | tr a-z A-Z)"'
    node.run_test(f"echo {clear} | timeout 5 bash -c 'cat > /dev/tcp/{address}/{tls_port}'")
    node.run_test(f"logger -t jinbao-lab-test {token}-tls")
    found: list[str] = []
    deadline = time.monotonic() + 30
    while f"{token}-tls" not in found and time.monotonic() < deadline:
        found = lab.host(name).run(f"grep -rhoa '{token}-[a-z]*' /var/log/remote/").stdout.split()
        time.sleep(1)
    assert f"{token}-tls" in found, f"{router}'s line over TLS did not reach {name}"
    leaked = lab.host(name).run(f"grep -rla '{marker}' /var/log/remote/").stdout.strip()
    assert leaked == "", f"{name} logged a line sent in clear: {leaked}"
    assert lab.host(name).run("ss -Htln 'sport = :514'").stdout.strip() == "", f"{name} still listens on 514"


SILENCE = "jinbao_lab_test_silence"


def _silence(keeper, hook: str, rule: str) -> None:
    """One nftables rule on the collector, in a table of its own (removed with _speak)."""
    keeper.check_output(
        f"nft add table inet {SILENCE} && nft add chain inet {SILENCE} c '{{ type filter hook {hook} priority 0; }}'"
        f" && nft add rule inet {SILENCE} c {rule}"
    )


def _speak(keeper) -> None:
    keeper.run(f"nft delete table inet {SILENCE}")


def _closed_by_watchdog(node, router: str, began: int, why: str) -> tuple[str, str]:
    """Wait (60 s at most) for the router's watchdog to say it closed a connection, for `why`;
    that connection (router's socket, collector's socket), which must be gone on the router."""
    said, deadline = "", time.monotonic() + 60
    while ": closed," not in said and time.monotonic() < deadline:
        time.sleep(2)
        said = node.run(f"journalctl -t jinbao-syslog-watchdog --since @{began} --no-pager -o cat").stdout
    assert ": closed," in said, f"{router}'s watchdog closed nothing: {said!r}"
    first = next(line for line in said.splitlines() if ": closed," in line)
    assert why in first, first
    mine, theirs = first.split("connection ", 1)[1].split(" heard", 1)[0].split(" -> ")
    assert node.run(f"ss -Htn state established src {mine} dst {theirs}").stdout.strip() == ""
    return mine, theirs


def _arrives(keeper, router: str, *needles: str) -> None:
    """Every needle reaches the router's log on the collector within 60 s."""
    found, deadline = "", time.monotonic() + 60
    grep = " ".join(f"-e '{needle}'" for needle in needles)
    while not all(needle in found for needle in needles) and time.monotonic() < deadline:
        time.sleep(2)
        found = keeper.run(f"grep -haF {grep} /var/log/remote/{router}.log").stdout
    missing = [needle for needle in needles if needle not in found]
    assert not missing, f"never reached the collector from {router}: {missing}"


def _forwarding(node, address: str, tls_port: int) -> str:
    """The router's rsyslog connection to the collector: its local "address:port"."""
    shown = node.check_output(f"ss -Htnp state established '( dst {address} and dport = :{tls_port} )'")
    mine = [line.split()[2] for line in shown.splitlines() if '"rsyslogd"' in line]
    assert len(mine) == 1, f"rsyslogd should hold one connection to {address}:{tls_port}: {shown!r}"
    return mine[0]


def test_a_silent_collector_delays_logs_but_loses_none(lab, plane, collector, tls_port):
    """rsyslog's gtls client waits for ever on a handshake its collector never answers
    (rsyslog#5539). The collector is made silent to one router (its TLS records to the router
    dropped, its TCP acknowledgements not: the router's ClientHello is taken and never answered)
    and the router's rsyslog reconnects into that. The router's watchdog must close the hung
    connection and say so, while the collector is still silent; once it answers again, the
    line logged meanwhile arrives, and the watchdog's own word with it."""
    name, address = collector
    router = _routers_served(lab, plane, "syslog")[0].name
    node, keeper = lab.host(router), lab.host(name)
    assert node.run("systemctl is-active jinbao-syslog-watchdog.timer").stdout.strip() == "active"
    source = _forwarding(node, address, tls_port).rsplit(":", 1)[0]
    token = uuid.uuid4().hex[:12]
    began = int(time.time())
    # its TLS records to the router (the ServerHello on) dropped, its bare TCP acknowledgements not
    try:
        _silence(keeper, "output", f"ip daddr {source} tcp sport {tls_port} ip length '>' 100 drop")
        node.run_test("systemctl restart rsyslog")
        node.run_test(f"logger -t jinbao-lab-test {token}-held")
        mine, theirs = _closed_by_watchdog(node, router, began, "a handshake its collector never answered")
        # gone while the collector is still silent: the watchdog freed it, not a late answer
        assert keeper.run(f"ss -Htn state established src {theirs} dst {mine}").stdout.strip() == ""
    finally:
        _speak(keeper)
    _arrives(keeper, router, f"{token}-held", f"{mine} -> {theirs}")


def test_a_path_that_drops_the_connection_stalls_the_logs_for_seconds_not_minutes(lab, plane, collector, tls_port):
    """A path that dropped an open connection (a route gone, a stateful firewall that lost
    its state and admits only a SYN as new) drops every retransmission, and the kernel would
    give up only after some 15 minutes. Here the
    collector drops everything on one router's open connection, and that only: the router's
    watchdog must close it for the data the collector never acknowledged, the forwarder must
    go on over a new connection, and the lines logged after it, and the watchdog's word, reach
    the collector while the old connection is still dropped."""
    name, address = collector
    router = _routers_served(lab, plane, "syslog")[1].name
    node, keeper = lab.host(router), lab.host(name)
    mine = _forwarding(node, address, tls_port)
    source, port = mine.rsplit(":", 1)
    token = uuid.uuid4().hex[:12]
    began = int(time.time())
    try:
        _silence(keeper, "input", f"ip saddr {source} tcp sport {port} tcp dport {tls_port} drop")
        node.run_test(f"logger -t jinbao-lab-test {token}-in-flight")  # data the collector never acknowledges
        closed = _closed_by_watchdog(node, router, began, "data its collector never acknowledged")
        assert closed[0] == mine, f"the watchdog closed {closed}, not the dropped connection {mine}"
        node.run_test(f"logger -t jinbao-lab-test {token}-after")
        _arrives(keeper, router, f"{token}-after", f"{mine} -> {closed[1]}")
    finally:
        _speak(keeper)
        keeper.run(f"ss -K state established dst {mine} '( sport = :{tls_port} )'")  # the router's RST was dropped too


def test_every_router_takes_its_time_from_the_dc(lab, plane, collector):
    _, address = collector
    routers = _routers_served(lab, plane, "ntp")
    unsynced = [r.name for r in routers]
    deadline = time.monotonic() + 45
    while unsynced and time.monotonic() < deadline:
        for name in list(unsynced):
            host = lab.host(name)
            line = next((x for x in host.check_output("chronyc -n sources").splitlines() if f" {address} " in x), "")
            # MS Name/IP Stratum Poll Reach ...: Reach is the octal register of the last 8 polls
            reach = int(line.split()[4], 8) if line else 0
            if reach:
                unsynced.remove(name)
            else:
                host.run("chronyc burst 2/4")
        time.sleep(2)
    assert unsynced == [], f"{unsynced} never heard from the NTP server {address}"


def test_snmp_answers_v3_with_the_vault_keys_and_nothing_else(lab, collector):
    secrets = load_secrets(lab.env)
    user = lab.network.policy.snmp.user
    v3 = f"-v3 -l authPriv -u {user} -a SHA -A '{secrets.snmp_auth_key}' -x AES -X '{secrets.snmp_priv_key}'"
    manager = lab.host(collector[0])  # on the management network, like a real NMS
    router = lab.topology.nodes["fotang-r1"]
    answer = manager.run(f"snmpget {v3} -t 2 -r 1 {router.management} {SYSNAME}")
    assert answer.rc == 0 and '"fotang-r1"' in answer.stdout, answer.stderr
    assert manager.run(f"snmpget -v2c -c public -t 1 -r 0 {router.management} {SYSNAME}").rc != 0
    wrong = v3.replace(secrets.snmp_auth_key, "not-the-auth-key")
    assert manager.run(f"snmpget {wrong} -t 1 -r 0 {router.management} {SYSNAME}").rc != 0


def test_routers_comply_with_level3_or_carry_a_reviewed_waiver(lab, plane, passwords_current, tmp_path):
    result = _jinbao("audit", str(lab.env), "--no-servers", "--json", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    devices = json.loads(result.stdout)["devices"]
    assert len(devices) == len(lab.routers())
    for device in devices:
        statuses = {c["rule"]: c["status"] for c in device["compliance"]}
        assert len(statuses) == sum("frr" in r.checks for r in RULES), device["hostname"]
        waived = {rule for rule, status in statuses.items() if status == "waived"}
        # only what the model cannot give: a site without collectors may waive syslog and NTP
        expected = CONTAINERS_WAIVE | (set() if plane[device["hostname"]]["syslog"] else {"L3-SYSLOG", "L3-NTP"})
        assert waived == expected, device["hostname"]
        assert set(statuses.values()) <= {"pass", "waived"}, device["hostname"]


def _unclean(report: dict) -> dict:
    """The servers the audit does not find clean: their error, or the tasks that would change."""
    return {s["hostname"]: s["error"] or [c["task"] for c in s["changes"]] for s in report["servers"] if not s["clean"]}


def _host_rules(report: dict) -> dict[str, dict[str, str]]:
    """Every Linux host of the report (servers, firewalls, gatekeepers): rule → status."""
    return {h["hostname"]: {c["rule"]: c["status"] for c in h["compliance"]} for h in report["servers"]}


def test_a_breach_is_found_named_and_converged_away(lab, passwords_current, tmp_path):
    router, server = lab.host("fotang-r1"), lab.host("zj-dc-app1")
    database, gatekeeper = lab.host("zj-dc-db1"), lab.host("zj-dc-gatekeeper")
    # an operator enables an SNMP community and drops the management ACL on a router, edits
    # the login banner on a server, weakens the password rule on the database host and the
    # umask on the gatekeeper (a host the playbooks' check mode does not cover)
    router.run_test("sh -c 'echo \"rocommunity public\" >> /etc/snmp/snmpd.conf' && systemctl restart snmpd")
    router.run_test("nft delete table inet jinbao_mgmt")
    server.run_test("sh -c 'echo Welcome > /etc/issue.net'")
    database.run_test("sed -i 's/^minlen = .*/minlen = 6/' /etc/security/pwquality.conf")
    gatekeeper.run_test("sed -i 's/^UMASK.*/UMASK 022/' /etc/login.defs")
    breached = "fotang-r1,zj-dc-app1,zj-dc-db1,zj-dc-gatekeeper"
    try:
        found = _jinbao("audit", str(lab.env), "--json", "--out", str(tmp_path))
        assert found.returncode == 1, found.stdout[-2000:] + found.stderr[-2000:]
        report = json.loads(found.stdout)
        bad = {d["hostname"]: [c for c in d["compliance"] if c["failed"]] for d in report["devices"] if not d["clean"]}
        assert list(bad) == ["fotang-r1"]
        assert {c["rule"] for c in bad["fotang-r1"]} == {"L3-SNMPV3", "L3-MGMT-ACL"}
        snmp = next(c for c in bad["fotang-r1"] if c["rule"] == "L3-SNMPV3")
        assert any("rocommunity public" in line for line in snmp["evidence"])
        servers = {h["hostname"]: h for h in report["servers"]}
        drifted = {h: [c["task"] for c in s["changes"]] or s["error"] for h, s in servers.items() if not s["clean"]}
        assert drifted.pop("zj-dc-gatekeeper") == ""  # not in the check mode: its rules only
        assert set(drifted) == {"zj-dc-app1", "zj-dc-db1"}, drifted
        diff = "\n".join(c["diff"] for c in servers["zj-dc-app1"]["changes"])
        assert "-Welcome" in diff and f"+{lab.network.policy.banner}" in diff
        # every Linux host besides the routers: each rule, failed only where it was broken
        rules = _host_rules(report)
        assert {"zj-dc-fw-inner", "zj-dc-fw-edge", "zj-dr-fw-inner", "zj-dc-gatekeeper", "zj-dc-ops1"} <= set(rules)
        nodes = {n.name for n in lab.topology.nodes.values() if n.kind in ("server", "firewall", "gatekeeper")}
        assert set(rules) == nodes and not servers["zj-dc-gatekeeper"]["checked"]
        failed = {}
        for hostname, statuses in rules.items():
            assert len(statuses) == sum("linux" in r.checks for r in RULES), hostname
            assert {r for r, st in statuses.items() if st == "waived"} == CONTAINERS_WAIVE, hostname
            failed[hostname] = {r for r, st in statuses.items() if st not in ("pass", "waived")}
        assert {h: f for h, f in failed.items() if f} == {
            "zj-dc-app1": {"L3-BANNER"},
            "zj-dc-db1": {"L3-PASSWORD"},
            "zj-dc-gatekeeper": {"L3-UMASK"},
        }
        umask = next(c for c in servers["zj-dc-gatekeeper"]["compliance"] if c["rule"] == "L3-UMASK")
        assert any("UMASK" in line for line in umask["evidence"]), umask
        junit = (tmp_path / "audit.junit.xml").read_text()
        assert 'classname="lab.fotang-r1.compliance" name="L3-SNMPV3"><failure' in junit
        assert 'classname="lab.zj-dc-app1" name="ansible-check"><failure' in junit
        assert 'classname="lab.zj-dc-gatekeeper.compliance" name="L3-UMASK"><failure' in junit
    finally:
        converged = lab.ansible("playbooks/baseline.yml", "--limit", breached)
        assert converged.returncode == 0, converged.stdout[-3000:]
    # the four it found, audited again alone (--limit names routers, servers and hosts alike)
    limits = [arg for name in breached.split(",") for arg in ("--limit", name)]
    clean = _jinbao("audit", str(lab.env), *limits, "--json", "--out", str(tmp_path))
    assert clean.returncode == 0, _unclean(json.loads(clean.stdout)) if clean.stdout.strip() else clean.stderr[-2000:]
    again = json.loads(clean.stdout)
    assert [d["hostname"] for d in again["devices"]] == ["fotang-r1"]
    assert [s["hostname"] for s in again["servers"]] == ["zj-dc-app1", "zj-dc-db1", "zj-dc-gatekeeper"]
    assert [s["checked"] for s in again["servers"]] == [True, True, False]  # checked, not left out
    assert "public" not in router.check_output("cat /etc/snmp/snmpd.conf")
