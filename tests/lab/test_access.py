"""Operators by certificate through the bastion (docs/access.md).

An operator logs in to the DC's bastion from the management network (here: the controller),
with the CA's short-lived certificate in an agent that the bastion's recorded session
forwards, and goes on to the role accounts the certificate's principals name, on the hosts
those roles cover. The DC's collector records who (the key id) and which certificate (the
serial), and keeps the session's recording, which tlog-play replays. The nodes admit
operators from the bastions only. No certificate, an expired one, a revoked one, or one whose
principal the account does not admit, is refused. Ansible's own account admits the
automation principal, and the controller's key carries that certificate.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from network import envstate

APP, DB, COLLECTOR, ROUTER = "zj-dc-app1", "zj-dc-db1", "zj-dc-ops1", "choucheng-r1"
BASTION, SESSIONS = "zj-dc-bastion1", "/var/log/sessions"


@pytest.fixture(scope="module")
def issue(lab, tmp_path_factory):
    """Certify a fresh key with playbooks/ssh-certificate.yml; returns (private key, serial)."""
    directory = tmp_path_factory.mktemp("operators")
    made = itertools.count()

    def issue(holder: str, principals: str, hours: int = 1, starts_minutes: int = -5) -> tuple[str, str]:
        key = directory / f"{holder}-{principals.replace(',', '-')}-{next(made)}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        done = lab.ansible(
            "playbooks/ssh-certificate.yml",
            *("-e", f"holder={holder}", "-e", f"principals={principals}", "-e", f"key={key}.pub"),
            *("-e", f"hours={hours}", "-e", f"starts_minutes={starts_minutes}"),
        )
        assert done.returncode == 0, done.stdout[-2000:]
        listed = subprocess.run(["ssh-keygen", "-L", "-f", f"{key}-cert.pub"], capture_output=True, text=True)
        return str(key), re.search(r"Serial: (\d+)", listed.stdout).group(1)

    return issue


def ssh(lab, key: str, user: str, node: str, command: str = "id -un") -> subprocess.CompletedProcess:
    """Log in straight from the controller (an operator's desk on the management network)."""
    known = envstate.ssh_dir(lab.env) / "known_hosts"
    options = ["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    pinned = ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes"]
    return subprocess.run(
        ["ssh", "-i", key, *options, *pinned, f"{user}@{lab.topology.nodes[node].management}", command],
        capture_output=True,
        text=True,
        timeout=60,
    )


def address_of(lab, node: str) -> str:
    """Where an operator on the bastion reaches node: a DC server in band (through the zones'
    firewalls, F2-F4), a router on its management address."""
    site, _, name = node.rpartition("-")
    host = lab.allocations.hosts.get(f"{site}/{name}")
    return host["address"] if host else lab.topology.nodes[node].management


def via_bastion(
    lab, key: str, user: str, node: str, command: str = "id -un", bastion: str = BASTION
) -> subprocess.CompletedProcess:
    """Log in to the bastion with the key's certificate in a fresh agent, forwarded, and go on
    from the recorded session to node (BatchMode: a refusal fails, it never asks)."""
    onward = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", f"{user}@{address_of(lab, node)}", command]
    inner = " ".join(shlex.quote(word) for word in onward)
    known = envstate.ssh_dir(lab.env) / "known_hosts"
    login = ["ssh", "-A", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", f"UserKnownHostsFile={known}"]
    login += ["-o", "StrictHostKeyChecking=yes", f"{user}@{lab.topology.nodes[bastion].management}", inner]
    script = f"ssh-add -q {shlex.quote(key)} && exec {' '.join(shlex.quote(word) for word in login)}"
    return subprocess.run(["ssh-agent", "sh", "-c", script], capture_output=True, text=True, timeout=90)


def refused(done: subprocess.CompletedProcess) -> bool:
    return done.returncode == 255 and "Permission denied" in done.stderr


def log_length(lab, node: str) -> int:
    """Lines of node's log on the DC's collector now: what a test looks for comes after them."""
    return int(lab.host(COLLECTOR).run(f"wc -l < /var/log/remote/{node}.log").stdout.strip() or 0)


def forwarding(lab, node: str) -> str:
    """What a failure should show of node's log forwarding: its rsyslog's connections to the
    collector, and what rsyslog and the watchdog said lately."""
    port = lab.policy.services["syslog"].ports[0]  # zones.yml's, as the forwarders use it
    shown = lab.host(node).run(
        f"ss -HtnpiO state established '( dport = :{port} )';"
        " journalctl -q --no-pager -n 15 -o short-precise -t rsyslogd -t jinbao-syslog-watchdog"
    )
    return f"{node}'s forwarding:\n{shown.stdout}{shown.stderr}"


def collected(lab, node: str, *needles: str, after: int = 0, timeout: float = 30) -> str:
    """The line of node's log on the DC's collector, past line `after`, that has every needle
    (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        tail = f"tail -n +{after + 1} /var/log/remote/{node}.log"
        lines = lab.host(COLLECTOR).run(f"{tail} | grep -F {needles[0]!r}").stdout.splitlines()
        found = [line for line in lines if all(n in line for n in needles)]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            pytest.fail(
                f"no line with {needles} in /var/log/remote/{node}.log on {COLLECTOR} past line {after}\n"
                + forwarding(lab, node)
            )
        time.sleep(1)


def test_a_sysops_certificate_administers_a_server_through_the_bastion_and_the_collector_records_who(lab, issue):
    key, serial = issue("zhang.wei", "sysops")
    before = log_length(lab, APP)
    done = via_bastion(lab, key, "sysops", APP, "id -un; sudo -n id -un")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["sysops", "root"]
    bastion = lab.allocations.hosts["zj-dc/bastion1"]["address"]
    accepted = f"Accepted publickey for sysops from {bastion} "
    line = collected(lab, APP, accepted, f"ID zhang.wei (serial {serial})", after=before)
    assert "CERT" in line


def test_the_session_on_the_bastion_is_recorded_and_replays_on_the_collector(lab, issue):
    """What the operator saw, the onward login included, reaches the collector as a tlog
    recording of its own, and tlog-play shows it again."""
    key, _ = issue("zhang.wei", "sysops")
    marker = f"jinbao-session-{uuid.uuid4().hex[:8]}"
    done = via_bastion(lab, key, "sysops", APP, f"echo {marker}; hostname")
    assert done.returncode == 0 and marker in done.stdout, done.stderr
    collector = lab.host(COLLECTOR)
    deadline = time.monotonic() + 60
    while not (found := collector.run(f"grep -lF {marker} {SESSIONS}/{BASTION}/*.jsonl").stdout.split()):
        assert time.monotonic() < deadline, f"no recording with {marker} under {SESSIONS}/{BASTION} on {COLLECTOR}"
        time.sleep(2)
    (recording,) = found
    shown = collector.run(f"stat -c '%G %a' {recording}").stdout.split()
    assert shown == ["adm", "640"], shown  # the auditors' group reads it, no one writes it
    first = json.loads(collector.check_output(f"head -1 {recording}"))
    assert first["user"] == "sysops" and first["rec"] in recording, first
    replayed = collector.run(f"timeout 60 script -qec 'tlog-play -i {recording}' /dev/null < /dev/null")
    assert replayed.rc == 0, replayed.stderr
    assert marker in replayed.stdout and APP in replayed.stdout, replayed.stdout


def test_the_bastion_is_the_only_way_in(lab, issue):
    """The same valid certificate, straight from the controller to a server, a router or the
    database: refused; the nodes admit operators from the bastions' addresses only."""
    key, _ = issue("zhang.wei", "sysops,netops,dba")
    for user, node in (("sysops", APP), ("netops", ROUTER), ("dba", DB)):
        assert refused(ssh(lab, key, user, node)), (user, node)
        assert via_bastion(lab, key, user, node).returncode == 0, (user, node)


def test_no_operator_becomes_root_on_the_bastion(lab, issue):
    """Root on the bastion could stop the recording: only automation has it there."""
    key, _ = issue("zhang.wei", "sysops")
    done = ssh(lab, key, "sysops", BASTION, "id -un; sudo -n true 2>/dev/null")  # tlog merges stderr into stdout
    assert done.stdout.split()[-1:] == ["sysops"] and done.returncode != 0, (done.stdout, done.stderr)


def test_a_dba_reaches_the_database_host_only_and_without_root(lab, issue):
    key, _ = issue("li.na", "dba")
    done = via_bastion(lab, key, "dba", DB, "id -un; sudo -n true 2>/dev/null")
    assert done.stdout.split()[-1:] == ["dba"] and done.returncode != 0  # in, but no sudo
    assert via_bastion(lab, key, "dba", APP).returncode != 0  # the middleware host has no dba role


def test_a_network_operator_administers_a_router_a_system_operator_does_not(lab, issue):
    netops, _ = issue("wang.fang", "netops")
    done = via_bastion(lab, netops, "netops", ROUTER, "sudo -n vtysh -c 'show version' | head -1")
    assert done.returncode == 0 and "FRRouting" in done.stdout, done.stderr
    sysops, _ = issue("zhao.lei", "sysops")
    assert via_bastion(lab, sysops, "sysops", ROUTER).returncode != 0


def test_an_auditor_reads_everywhere_but_changes_nothing(lab, issue):
    key, _ = issue("chen.jing", "auditor")
    for node in (APP, DB, ROUTER):
        done = via_bastion(lab, key, "auditor", node, "id -Gn; sudo -n true")
        assert done.returncode != 0 and "adm" in done.stdout.split(), (node, done.stdout, done.stderr)


def test_a_login_without_a_certificate_is_refused(lab, tmp_path):
    key = tmp_path / "plain"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert refused(ssh(lab, str(key), "sysops", BASTION))


def test_an_expired_certificate_is_refused(lab, issue):
    key, _ = issue("zhang.wei", "sysops", hours=1, starts_minutes=-180)  # valid from -3 h to -2 h
    assert refused(ssh(lab, key, "sysops", BASTION))


def test_a_principal_the_account_does_not_admit_is_refused(lab, issue):
    key, _ = issue("chen.jing", "auditor")
    assert refused(ssh(lab, key, "sysops", BASTION))  # an auditor's certificate, the sysops account
    assert refused(ssh(lab, key, lab.user, BASTION))  # nor the automation account


def test_a_revoked_certificate_is_refused_at_the_next_login(lab, issue):
    key, serial = issue("zhang.wei", "sysops")
    assert ssh(lab, key, "sysops", BASTION).returncode == 0
    revoked = [{"serial": int(serial), "reason": "lab test", "by": "test_access"}]
    try:
        revoking = json.dumps({"jinbao_access_revoked": revoked})
        pushed = lab.ansible("playbooks/access.yml", "-l", BASTION, "-e", revoking)
        assert pushed.returncode == 0, pushed.stdout[-2000:]
        assert refused(ssh(lab, key, "sysops", BASTION))
        other, _ = issue("zhang.wei", "sysops")  # another certificate of the same holder still works
        assert ssh(lab, other, "sysops", BASTION).returncode == 0
    finally:
        restored = lab.ansible("playbooks/access.yml", "-l", BASTION)
    assert restored.returncode == 0, restored.stdout[-2000:]
    assert ssh(lab, key, "sysops", BASTION).returncode == 0  # the list from revocations.yml again


def test_ansible_logs_in_under_the_automation_principal(lab):
    """The connection group_vars give Ansible offers the controller key's certificate, which
    the automation account admits by its principal; the collector records it by key id."""
    key = envstate.ssh_dir(lab.env) / "id_ed25519"
    listed = subprocess.run(["ssh-keygen", "-L", "-f", f"{key}-cert.pub"], capture_output=True, text=True, check=True)
    assert re.search(r"Principals:\s*\n\s*automation\s*\n", listed.stdout), listed.stdout
    serial = re.search(r"Serial: (\d+)", listed.stdout).group(1)
    shown = subprocess.run(
        ["ansible-inventory", "-i", str(lab.env), "--host", APP],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    connection = json.loads(shown.stdout)
    arguments = connection["ansible_ssh_common_args"].replace("{{ inventory_dir }}", str(lab.env)).split()
    before = log_length(lab, APP)
    fresh = ["-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes"]  # ssh takes the first value
    done = subprocess.run(
        ["ssh", "-i", str(key), *fresh, *arguments, f"{lab.user}@{lab.topology.nodes[APP].management}", "id -un"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == lab.user, done.stderr
    collected(
        lab, APP, f"Accepted publickey for {lab.user}", f"ID automation@{lab.env.name} (serial {serial})", after=before
    )
