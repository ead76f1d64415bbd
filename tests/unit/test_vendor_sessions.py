"""Production drivers against replayed device sessions over real SSH on loopback:
napalm-huawei-vrp (netmiko ``huawei``) and network/drivers/comware.py (netmiko
``hp_comware``) as `jinbao audit` and `jinbao backup` use them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from network import audit, compliance
from network.drivers import Target, open_driver
from network.platforms import scrub

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from replay.server import Device
from replay.server import Replay as Servers

CONFIGS = Path(__file__).resolve().parents[1] / "golden" / "render" / "multivendor" / "expected" / "configs"
VRP, COMWARE = "anhui-r1", "hefei-r1"


class Replay(Servers):
    def target(
        self, device: Device, password: str | None = None, name: str | None = None, username: str = "netadmin"
    ) -> Target:
        """jinbao's view of the device: by default it logs in with the password the device's
        config sets for the account (the vault's, as the config was rendered from it)."""
        port = self.add(device)
        if password is None:
            password = device.password_of(username) or device.password
        return Target(name or device.hostname, device.platform, "127.0.0.1", username, password, {"port": port})


@pytest.fixture(scope="module")
def replay():
    return Replay()


def device(hostname: str, platform: str, config: str | None = None, **kw) -> Device:
    return Device(hostname, platform, config if config is not None else (CONFIGS / f"{hostname}.cfg").read_text(), **kw)


def policy(contexts) -> audit.Policy:
    return audit.Policy(compliance.load_rules(), [], contexts)


@pytest.mark.parametrize(("hostname", "platform"), [(VRP, "huawei_vrp"), (COMWARE, "h3c_comware")])
def test_a_device_as_rendered_audits_clean_and_compliant(replay, multivendor_contexts, hostname, platform):
    target = replay.target(device(hostname, platform))
    intended = (CONFIGS / f"{hostname}.cfg").read_text()
    result = audit.audit_device(target, intended, policy(multivendor_contexts), timeout=10)
    assert result.error == ""
    assert result.drift == {}
    assert [(r.rule, r.status) for r in result.compliance if r.status != "pass"] == []
    assert len(result.compliance) == 8


def test_vrp_fetches_differ_in_ciphers_but_back_up_identically(replay):
    target = replay.target(device(VRP, "huawei_vrp"))
    fetched = []
    for _ in range(2):
        driver = open_driver(target, timeout=10)
        try:
            fetched.append(driver.get_config(retrieve="running")["running"])
        finally:
            driver.close()
    assert fetched[0] != fetched[1], "a VRP prints fresh cipher salts on every fetch"
    assert "!Software Version V800R021C00SPC100" in fetched[0]
    assert scrub("huawei_vrp", fetched[0]) == scrub("huawei_vrp", fetched[1])
    assert "sysname anhui-r1" in fetched[0]


def test_vrp_drift_is_found_with_hier_config_remediation(replay, multivendor_contexts):
    intended = (CONFIGS / f"{VRP}.cfg").read_text()
    assert "undo telnet server enable" in intended
    running = intended.replace("undo telnet server enable", "telnet server enable")
    target = replay.target(device(VRP, "huawei_vrp", running))
    result = audit.audit_device(target, intended, policy(multivendor_contexts), timeout=10)
    assert result.error == ""
    assert "+ undo telnet server enable" in result.drift["system"]
    assert "- telnet server enable" in result.drift["system"]
    assert "undo telnet server enable" in result.remediation.splitlines()
    assert [r.rule for r in result.compliance if r.failed] == ["L3-SSH-ONLY"]


def test_comware_facts_and_a_non_compliant_change(replay, multivendor_contexts):
    intended = (CONFIGS / f"{COMWARE}.cfg").read_text()
    running = intended.replace("snmp-agent sys-info version v3", "snmp-agent sys-info version all")
    target = replay.target(device(COMWARE, "h3c_comware", running))
    driver = open_driver(target, timeout=10)
    try:
        facts = driver.get_facts()
        assert facts["hostname"] == COMWARE and facts["os_version"] == "7.1.064 Release 0821P16"
        driver.load_replace_candidate(config=intended)  # the change push would type, nothing applied
        assert driver.compare_config() == "undo snmp-agent sys-info version all\nsnmp-agent sys-info version v3"
        driver.discard_config()
    finally:
        driver.close()
    result = audit.audit_device(target, intended, policy(multivendor_contexts), timeout=10)
    assert [r.rule for r in result.compliance if r.failed] == ["L3-SNMPV3"]
    assert "snmp-agent sys-info version v3" in result.remediation


def test_wrong_password_unreachable_and_hung_devices_fail_apart(replay, multivendor_contexts):
    intended = (CONFIGS / f"{VRP}.cfg").read_text()
    good = replay.target(device(VRP, "huawei_vrp"), name="good")
    wrong = replay.target(device(VRP, "huawei_vrp"), password="not-it", name="wrong-password")
    hung = replay.target(device(VRP, "huawei_vrp", mute=True), name="hung")
    closed = Target("closed", "huawei_vrp", "127.0.0.1", "netadmin", "replay", {"port": 1})  # nothing listens
    names = ["good", "wrong-password", "hung", "closed"]
    found = audit.audit([good, wrong, hung, closed], dict.fromkeys(names, intended), timeout=5)
    results = {r.hostname: r for r in found}
    assert results["good"].clean
    assert "authentication" in results["wrong-password"].error.lower()
    assert results["closed"].error and "closed" not in results["good"].error
    assert results["hung"].error
    assert len({results[n].error for n in ("wrong-password", "hung", "closed")}) == 3


class _Reads:
    """A netmiko connection that returns the given reads in turn (what the bench's load produced)."""

    def __init__(self, *reads: str):
        self.reads = list(reads)

    def send_command(self, command, read_timeout=None):
        return self.reads.pop(0)

    def clear_buffer(self):
        pass


def test_a_config_read_is_whole_or_refused():
    from napalm.base.exceptions import ConnectionException

    from network.drivers.vrp import read_config

    whole = "#\n sysname r1\n#\nreturn"
    assert read_config(_Reads(whole), "r1", 5) == whole
    # the echo arrived after a late prompt, so netmiko left it in
    assert read_config(_Reads("<r1>display current-configuration\n" + whole), "r1", 5) == whole
    # cut short once: read again
    assert read_config(_Reads("#\n sysname r1\n", whole), "r1", 5) == whole
    with pytest.raises(ConnectionException, match="r1: the configuration read was cut short"):
        read_config(_Reads("#\n sysname", "#\n sysname r1"), "r1", 5)
