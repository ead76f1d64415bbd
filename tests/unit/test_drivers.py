"""Backup scrubbing and the FRR driver's diff parsing, without devices."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from napalm.base.exceptions import CommitError

from network.drivers.frr import FrrDriver, _diff_from_reload
from network.platforms import scrub

GOLDEN_CONFIGS = Path(__file__).resolve().parents[1] / "golden" / "render" / "multivendor" / "expected" / "configs"

VRP_FETCH_1 = """!Software Version V800R021C10SPC100
!Last configuration was updated at 2026-11-20 10:01:02+08:00 by netadmin
aaa
 local-user netadmin password irreversible-cipher $1c$Wq3a%^%#salt-one$
snmp-agent usm-user v3 jinbao-nms authentication-mode sha cipher %^%#Ab12Cd%^%#
sysname zhejiang-r1
"""
VRP_FETCH_2 = """!Software Version V800R021C10SPC100
!Last configuration was updated at 2026-11-21 09:00:00+08:00 by auditor
aaa
 local-user netadmin password irreversible-cipher $1c$Zz9z%^%#salt-two$
snmp-agent usm-user v3 jinbao-nms authentication-mode sha cipher %^%#Xy98Zw%^%#
sysname zhejiang-r1
"""


def test_vrp_ciphers_and_timestamps_do_not_show_up_as_changes():
    first, second = scrub("huawei_vrp", VRP_FETCH_1), scrub("huawei_vrp", VRP_FETCH_2)
    assert first == second
    assert "salt" not in first and "Ab12" not in first
    assert "sysname zhejiang-r1" in first
    assert "irreversible-cipher <secret>" in first


def test_comware_and_frr_secrets_are_removed():
    comware = scrub(
        "h3c_comware",
        "local-user netadmin\n password hash $h$6$abc$def==\nsnmp-agent usm-user v3 n g "
        "cipher authentication-mode sha $c$3$xyz privacy-mode aes128 $c$3$uvw\n",
    )
    assert "$h$" not in comware and "$c$" not in comware and "local-user netadmin" in comware
    frr = scrub("frr", "router bgp 1\n neighbor 10.0.0.1 password s3cret\n neighbor 10.0.0.1 remote-as 2\n")
    assert "s3cret" not in frr and "neighbor 10.0.0.1 remote-as 2" in frr


def test_a_change_on_the_device_is_not_scrubbed_away():
    assert scrub("huawei_vrp", VRP_FETCH_1) != scrub("huawei_vrp", VRP_FETCH_1.replace("zhejiang-r1", "other"))


def test_frr_reload_output_becomes_a_diff():
    raw = """
Lines To Delete
===============
interface eth1
 no ip ospf cost 900

Lines To Add
============
interface eth1
 ip ospf cost 200
"""
    assert _diff_from_reload(raw).splitlines() == [
        "- interface eth1",
        "-  no ip ospf cost 900",
        "+ interface eth1",
        "+  ip ospf cost 200",
    ]
    assert _diff_from_reload("\nLines To Delete\n===============\n\nLines To Add\n============\n") == ""


FRR_RUNNING = "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nhostname yiwu-r1\n!\nend\n"
SUDO_WARNING = "sudo: unable to resolve host yiwu-r1: Name or service not known"


class _Terminal:
    """netmiko's session as the FRR driver sees it: a shell on a terminal, where a command's
    stderr arrives mixed with its stdout. Commands run in a local bash whose PATH starts with
    the fake device's programs."""

    def __init__(self, bin_dir: Path):
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def send_command(self, command: str, read_timeout: float = 30, strip_command: bool = True) -> str:
        done = subprocess.run(
            ["bash", "-c", command], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        return done.stdout

    def disconnect(self):
        pass


def _frr_device(tmp_path: Path, vtysh: str) -> FrrDriver:
    program = tmp_path / "vtysh"
    program.write_text(vtysh)
    program.chmod(0o755)
    driver = FrrDriver("yiwu-r1", "jinbao", optional_args={"sudo": False})
    driver.device = _Terminal(tmp_path)
    return driver


def test_frr_config_read_takes_stdout_only_and_keeps_stderr_as_a_warning(tmp_path):
    device = _frr_device(tmp_path, f"#!/bin/sh\necho '{SUDO_WARNING}' >&2\nprintf '%s' '{FRR_RUNNING}'\n")
    running = device.get_config(retrieve="running")["running"]
    assert running == FRR_RUNNING.rstrip("\n")
    assert "sudo" not in running
    assert device.warnings == [f"`vtysh -c 'show running-config'`: {SUDO_WARNING}"]


def test_frr_command_that_fails_raises_with_its_stderr(tmp_path):
    device = _frr_device(tmp_path, "#!/bin/sh\necho 'vtysh: failed to connect to any daemons.' >&2\nexit 1\n")
    with pytest.raises(CommitError, match=r"failed \(1\): vtysh: failed to connect to any daemons"):
        device.get_config(retrieve="running")


RELOAD_FAILS = "#!/bin/sh\necho 'vtysh failed to connect to any daemons: VtyshException' >&2\nexit 1\n"
RELOAD_DIFF = "#!/bin/sh\nprintf '\\nLines To Delete\\n===\\n\\nLines To Add\\n===\\nhostname r2\\n'\n"
RELOAD_IN_SYNC = "#!/bin/sh\nexit 0\n"  # FRR 8.4's frr-reload.py --test prints nothing when in sync


@pytest.mark.parametrize(
    "program", [RELOAD_FAILS, RELOAD_DIFF, RELOAD_IN_SYNC], ids=["frr-down", "frr-up", "frr-in-sync"]
)
def test_frr_diff_is_the_reloads_or_an_error_never_empty_when_frr_is_down(tmp_path, monkeypatch, program):
    from network.drivers import frr

    reload = tmp_path / "frr-reload.py"
    reload.write_text(program)
    reload.chmod(0o755)
    monkeypatch.setattr(frr, "RELOAD", str(reload))
    device = _frr_device(tmp_path, "#!/bin/sh\nexit 1\n")
    device._candidate = "hostname r2\n"
    if program == RELOAD_FAILS:
        with pytest.raises(CommitError, match=r"yiwu-r1: frr-reload.py --test could not compare: .*VtyshException"):
            device.compare_config()
    elif program == RELOAD_DIFF:
        assert device.compare_config() == "+ hostname r2"
    else:
        assert device.compare_config() == ""


def test_audit_reports_an_frr_warning_as_a_warning_not_as_drift(tmp_path, monkeypatch):
    from network import audit
    from network.drivers import Target

    device = _frr_device(tmp_path, f"#!/bin/sh\necho '{SUDO_WARNING}' >&2\nprintf '%s' '{FRR_RUNNING}'\n")
    monkeypatch.setattr(audit.run, "open_driver", lambda target, timeout=30: device)
    result = audit.audit_device(Target("yiwu-r1", "frr", "192.0.2.1", "jinbao", "", {}), "hostname yiwu-r1\n")
    assert result.error == "" and result.drift == {}
    assert result.clean
    assert [w.split(": ", 1)[1] for w in result.warnings] == [SUDO_WARNING]
    assert result.as_dict()["warnings"] == result.warnings


def test_audit_compares_configuration_not_decoration():
    from network.audit import drift

    intended = (
        "! rendered\nhostname r1\n!\ninterface eth1\n ip ospf cost 10\nexit\n!\nrouter ospf\n area 1 stub\nexit\nend\n"
    )
    running = (
        "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nhostname r1\n!\n"
        "interface eth1\n ip ospf cost 10\nexit\n!\nrouter ospf\n area 1 stub\nexit\n!\nend\n"
    )
    assert drift(intended, running) == {}
    changed = running.replace("ip ospf cost 10", "ip ospf cost 7") + "ip route 10.0.0.0/8 Null0\n"
    assert drift(intended, changed) == {
        "interfaces": ["  interface eth1", "+  ip ospf cost 10", "-  ip ospf cost 7"],
        "routing": ["- ip route 10.0.0.0/8 Null0"],
    }
    assert drift(intended, running.replace("router ospf\n area 1 stub\nexit\n", "")) == {
        "routing": ["+ router ospf", "+  area 1 stub"]
    }


class _Recorded:
    """A device that answers get_config with a recorded running config (a replayed session)."""

    def __init__(self, running: str):
        self.running = running

    def get_config(self, retrieve="all"):
        return {"running": self.running, "startup": "", "candidate": ""}

    def close(self):
        pass


def test_audit_of_a_comware_device_files_drift_by_feature_with_hier_config_remediation(monkeypatch):
    from network import audit
    from network.drivers import Target

    golden = (GOLDEN_CONFIGS / "hefei-r1.cfg").read_text()
    assert "ospf cost 200" in golden
    running = golden.replace("ospf cost 200", "ospf cost 7", 1)
    monkeypatch.setattr(audit.run, "open_driver", lambda target, timeout=30: _Recorded(running))
    target = Target("hefei-r1", "h3c_comware", "192.0.2.1", "netadmin", "x", {})
    result = audit.audit_device(target, golden)
    assert result.error == ""
    assert list(result.drift) == ["interfaces"]
    assert "+  ospf cost 200" in result.drift["interfaces"] and "-  ospf cost 7" in result.drift["interfaces"]
    lines = [line.strip() for line in result.remediation.splitlines() if line.strip()]
    assert lines[0].startswith("interface GigabitEthernet") and "ospf cost 200" in lines and lines[-1] == "quit"
    # the remediation, applied to the running config (hier_config's future), leaves no drift
    from network.render.hier import parse

    remediated = str(parse("h3c_comware", running).future(parse("h3c_comware", result.remediation)))
    monkeypatch.setattr(audit.run, "open_driver", lambda target, timeout=30: _Recorded(remediated))
    assert audit.audit_device(target, golden).clean


def test_frr_driver_says_its_safety_net_and_who_sees_its_timer():
    """push asks every driver the same questions; FRR answers them itself (no fallback in push)."""
    driver = FrrDriver("yiwu-r1", "jinbao", optional_args={"sudo": False})
    assert driver.safety_net(90) == "device commit-confirm (revert timer 90 s)"
    assert driver.pending_is_visible() is True
    assert driver.revert_deadline is None and driver.config_before_commit is None


def test_lab_routers_log_in_with_the_key_lab_up_made(lab: Path) -> None:
    """The drivers find the lab's key through network.envstate (the place lab up writes it), not the lab."""
    from network import ipam
    from network.drivers import targets
    from network.model import load

    network = load(lab, cache=False)
    allocations = ipam.read(lab)
    ssh = lab / ".lab" / "ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text("not a real key\n")
    found = targets(lab, network, allocations, limit=["zhejiang-r1"])
    assert [(t.hostname, t.username) for t in found] == [("zhejiang-r1", "jinbao")]
    assert found[0].optional_args == {"key_file": str(ssh / "id_ed25519"), "known_hosts": str(ssh / "known_hosts")}
