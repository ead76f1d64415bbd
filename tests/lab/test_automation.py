"""Device automation against the lab's routers: NAPALM FRR driver, backup, push with
commit-confirm and automatic rollback."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from network import push
from network.backup import backup, fetch_all
from network.drivers import open_driver, targets
from network.render import Renderer, load_secrets

ROOT = Path(__file__).resolve().parents[2]
JINBAO = str(Path(sys.executable).parent / "jinbao")
DEVICE = "fotang-r1"


@pytest.fixture(scope="module")
def all_targets(lab):
    return targets(lab.env, lab.network, lab.allocations)


def _target(all_targets, name=DEVICE):
    return next(t for t in all_targets if t.hostname == name)


def _intended(lab, name=DEVICE) -> str:
    return Renderer(lab.network, lab.allocations, load_secrets(lab.env)).render_hosts([name])[name]


def _jinbao(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([JINBAO, *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_driver_getters(all_targets):
    device = open_driver(_target(all_targets, "zhejiang-r1"))
    try:
        facts = device.get_facts()
        assert facts["hostname"] == "zhejiang-r1" and facts["vendor"] == "FRRouting"
        assert {"eth0", "eth1", "lan0"} <= set(facts["interface_list"])
        addresses = device.get_interfaces_ip()
        assert "10.7.128.1" in addresses["lo"]["ipv4"]
        bgp = device.get_bgp_neighbors()["global"]
        assert bgp["router_id"] == "10.7.128.1"
        assert [p["is_up"] for p in bgp["peers"].values()] == [True]
        running = device.get_config(retrieve="running")["running"]
        assert "hostname zhejiang-r1" in running
    finally:
        device.close()


def test_backup_is_one_commit_per_run_and_quiet_when_nothing_changed(lab, all_targets, tmp_path):
    repo = tmp_path / "backups"
    first = backup(lab.network.name, all_targets, repo)
    assert not first.failed and first.commit
    assert sorted(p.stem for p in repo.glob("*.cfg")) == sorted(t.hostname for t in all_targets)
    assert "hostname fotang-r1" in (repo / "fotang-r1.cfg").read_text()
    second = backup(lab.network.name, all_targets, repo)
    assert second.commit is None and not second.changed and len(second.unchanged) == len(all_targets)
    log = subprocess.run(["git", "-C", str(repo), "log", "--oneline"], capture_output=True, text=True, check=True)
    assert len(log.stdout.splitlines()) == 1


def test_unreachable_wrong_credentials_and_timeouts_are_per_device(lab, all_targets):
    good = _target(all_targets)
    # inside the lab's management network, given to no node (nor to this machine)
    taken = {n.management for n in lab.topology.nodes.values()} | {lab.topology.management_gateway}
    unused = next(str(a) for a in ipaddress.ip_network(lab.topology.management).hosts() if str(a) not in taken)
    broken = [
        dataclasses.replace(good, hostname="wrong-user", username="nobody"),
        dataclasses.replace(good, hostname="unreachable", address=unused),
        good,
    ]
    results = {r.hostname: r for r in fetch_all(broken, timeout=5)}
    assert results[DEVICE].error is None and results[DEVICE].text
    assert "authentication failed" in results["wrong-user"].error
    assert results["unreachable"].error and "unreachable" in results["unreachable"].error.lower()


def test_drift_is_shown_and_pushed_back(lab):
    host = lab.host(DEVICE)
    host.run_test("vtysh -c 'conf t' -c 'interface eth1' -c 'ip ospf cost 900'")
    check = _jinbao("push", str(lab.env), "--limit", DEVICE, "--check", "--json")
    assert check.returncode == 1, check.stdout + check.stderr
    outcome = json.loads(check.stdout)["devices"][0]
    assert outcome["status"] == "pending"
    assert outcome["diff"].splitlines() == [
        "- interface eth1",
        "-  no ip ospf cost 900",
        "+ interface eth1",
        "+  ip ospf cost 1000",
    ]
    done = _jinbao("push", str(lab.env), "--limit", DEVICE, "--yes", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["devices"][0]["status"] == "committed"
    again = _jinbao("push", str(lab.env), "--limit", DEVICE, "--check", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["devices"][0]["status"] == "unchanged"
    assert "ip ospf cost 1000" in host.check_output("vtysh -c 'show running-config'")


def test_push_that_cuts_management_is_rolled_back_byte_identical(lab, all_targets):
    target = _target(all_targets)
    host = lab.host(DEVICE)
    before_file = host.check_output("sha256sum /etc/frr/frr.conf")
    before_running = host.check_output("vtysh -c 'show running-config'")
    intended = _intended(lab)
    marker = "interface eth0\n description out-of-band management\n"
    assert marker in intended
    cutting = intended.replace(marker, marker + " shutdown\n")
    shown = push.diff(target, cutting)
    assert shown.status == "pending" and "+  shutdown" in shown.diff
    outcome = push.apply(target, cutting, shown.diff, confirm_in=20)
    assert outcome.status == "rolled-back", outcome
    assert "reverted by itself" in outcome.error
    lab._hosts.pop(DEVICE)
    host = lab.host(DEVICE)
    assert host.check_output("sha256sum /etc/frr/frr.conf") == before_file
    assert host.check_output("vtysh -c 'show running-config'") == before_running
    assert "UP" in json.loads(host.check_output("ip -j link show eth0"))[0]["flags"]


def test_audit_finds_drift_with_its_diff_and_push_remediates_it(lab, passwords_current, tmp_path):
    host = lab.host("yiwu-r1")
    host.run_test(
        "vtysh -c 'conf t' -c 'interface eth2' -c 'ip ospf cost 77' -c 'exit' -c 'ip route 10.255.255.0/24 Null0'"
    )
    report_dir = tmp_path / "audit"
    found = _jinbao("audit", str(lab.env), "--no-servers", "--out", str(report_dir), "--json")
    assert found.returncode == 1, found.stdout + found.stderr
    devices = {d["hostname"]: d for d in json.loads(found.stdout)["devices"]}
    assert [name for name, d in devices.items() if not d["clean"]] == ["yiwu-r1"]
    assert devices["yiwu-r1"]["drift"] == {
        "interfaces": ["  interface eth2", "+  ip ospf cost 1000", "-  ip ospf cost 77"],
        "routing": ["- ip route 10.255.255.0/24 Null0"],
    }
    assert "no ip route 10.255.255.0/24 Null0" in devices["yiwu-r1"]["remediation"]
    junit = (report_dir / "audit.junit.xml").read_text()
    assert 'failures="2"' in junit and 'classname="lab.yiwu-r1" name="routing"><failure' in junit
    assert "yiwu-r1" in (report_dir / "index.html").read_text()

    pushed = _jinbao("push", str(lab.env), "--limit", "yiwu-r1", "--yes", "--json")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    clean = _jinbao("audit", str(lab.env), "--no-servers", "--out", str(report_dir), "--json")
    assert clean.returncode == 0, clean.stdout
    assert all(d["clean"] for d in json.loads(clean.stdout)["devices"])
