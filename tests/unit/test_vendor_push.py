"""`jinbao push` to Huawei VRP (V8 and V5) and H3C Comware 7, against replayed devices that
hold state (tests/replay/server.py): the lines typed change the next
`display current-configuration`, a trial commit or commit delay reverts by itself after its
timer unless confirmed, a dropped VRP session reverts its trial, and a V5 device knows no
trial. Device timers run at ``SCALE`` real seconds per device second."""

from __future__ import annotations

import contextlib
import json
import shutil
import time

import pytest
from conftest import GOLDEN, copy_inventory, record_rotations
from napalm.base import NetworkDriver
from napalm.base.exceptions import ConnectionException
from test_vendor_sessions import CONFIGS, Replay, device
from typer.testing import CliRunner

from network import push
from network.cli import app
from network.drivers import open_driver
from network.drivers.configure import ConfigSession

SCALE = 0.05  # a 60 s VRP trial lasts 3 s here (the tests where it expires); the device still refuses less than 60
CONFIRMING = 0.25  # where jinbao must confirm in time: a 90 s trial lasts 22.5 s, room for a loaded machine
V8 = ("anhui-r1", "huawei_vrp", None)  # NE40E, VRP V8: commit trial
V5 = ("cuogang-r1", "huawei_vrp", "huawei_vrp_v5")  # a township's AR router, VRP V5: no trial
COMWARE = ("hefei-r1", "h3c_comware", None)  # MSR, Comware 7: configuration commit delay
DEVICES = pytest.mark.parametrize("kind", [V8, V5, COMWARE], ids=["vrp-v8", "vrp-v5", "comware7"])
SAFETY_NET = {
    V8: "device commit-confirm (commit trial 90 s)",
    V5: "controller checkpoint + inverse remediation",
    COMWARE: "device commit-confirm (configuration commit delay 2 min)",
}


@pytest.fixture(scope="module")
def replay():
    return Replay()


def drifted(intended: str) -> str:
    """The device as an operator left it: telnet on, no syslog host, a stray static route."""
    running = intended.replace("undo telnet server enable", "telnet server enable")
    running = running.replace("info-center loghost 10.5.0.10\n", "")
    assert running.count("\n") == intended.count("\n") - 1, "the drift did not apply to this config"
    return running.replace("\nreturn", "\nip route-static 192.0.2.0 255.255.255.0 NULL0\n#\nreturn")


def replayed(kind, running: str | None = None, **kw):
    hostname, platform, session = kind
    intended = (CONFIGS / f"{hostname}.cfg").read_text()
    return device(hostname, platform, running or drifted(intended), session_name=session, **kw), intended


def inventory(tmp_path):
    """The golden multivendor inventory with its planned allocations: renders CONFIGS."""
    env = copy_inventory(GOLDEN / "render" / "multivendor" / "inventory", tmp_path / "inv")
    shutil.copy(GOLDEN / "render" / "multivendor" / "expected" / "allocations.yml", env / "allocations.yml")
    return record_rotations(env)


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# --- drifted device -> jinbao push -> jinbao audit clean ---------------------------------
@DEVICES
def test_push_brings_a_drifted_device_to_its_intent_and_audit_then_finds_it_clean(replay, kind, tmp_path, monkeypatch):
    env = inventory(tmp_path)
    replayed_device, _ = replayed(kind, time_scale=CONFIRMING)
    target = replay.target(replayed_device)
    monkeypatch.setattr("network.drivers.targets", lambda *a, **k: [target])
    runner = CliRunner()

    checked = runner.invoke(app, ["push", str(env), "--check", "--json"])
    assert checked.exit_code == 1, checked.output
    (pending,) = json.loads(checked.stdout)["devices"]
    assert pending["status"] == "pending"
    assert {"undo telnet server enable", "info-center loghost 10.5.0.10"} <= set(pending["diff"].splitlines())
    assert pending["safety_net"].startswith(SAFETY_NET[kind])

    pushed = runner.invoke(app, ["push", str(env), "--yes", "--json"])
    assert pushed.exit_code == 0, pushed.output
    (outcome,) = json.loads(pushed.stdout)["devices"]
    assert outcome["status"] == "committed", outcome
    assert outcome["safety_net"].startswith(SAFETY_NET[kind])
    assert replayed_device.pending is None  # confirmed: no trial or commit delay left to revert it

    audited = runner.invoke(app, ["audit", str(env), "--no-servers", "--json", "--out", str(tmp_path / "audit")])
    assert audited.exit_code == 0, audited.output
    (result,) = json.loads(audited.stdout)["devices"]
    assert result["clean"] and result["drift"] == {}, result
    assert "ip route-static 192.0.2.0 255.255.255.0 NULL0" not in replayed_device.config
    again = runner.invoke(app, ["push", str(env), "--check", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["devices"][0]["status"] == "unchanged"


PRIVACY = "snmp-agent usm-user v3 jinbao-nms privacy-mode aes128 cipher Golden-Priv-1"  # a vault secret


def test_a_secret_to_send_is_typed_but_never_shown(replay, tmp_path, monkeypatch):
    env = inventory(tmp_path)
    intended = (CONFIGS / "anhui-r1.cfg").read_text()
    assert PRIVACY in intended
    replayed_device = device("anhui-r1", "huawei_vrp", intended.replace(PRIVACY + "\n", ""))
    target = replay.target(replayed_device)
    monkeypatch.setattr("network.drivers.targets", lambda *a, **k: [target])
    runner = CliRunner()

    checked = runner.invoke(app, ["push", str(env), "--check", "--json"])
    assert checked.exit_code == 1, checked.output
    assert json.loads(checked.stdout)["devices"][0]["diff"] == PRIVACY.replace("Golden-Priv-1", "<secret>")
    shown = runner.invoke(app, ["push", str(env), "--check"])
    pushed = runner.invoke(app, ["push", str(env), "--yes", "--json"])
    assert pushed.exit_code == 0, pushed.output
    for output in (checked.output, shown.output, pushed.output):
        assert "Golden-Priv-1" not in output
    assert PRIVACY in replayed_device.config  # typed as the intent has it


# --- a confirmation that never comes leaves the device byte-identical --------------------
def test_vrp_v8_trial_expires_without_confirmation(replay):
    replayed_device, intended = replayed(V8, time_scale=SCALE)
    before = replayed_device.config
    driver = open_driver(replay.target(replayed_device), timeout=10)
    try:
        driver.load_replace_candidate(config=intended)
        driver.commit_config(revert_in=60)
        assert replayed_device.config != before and driver.has_pending_commit()
        # the controller never confirms; its session stays open
        assert wait_for(lambda: replayed_device.config == before, 60 * SCALE + 2)
        assert not driver.has_pending_commit()
    finally:
        driver.close()
    assert replayed_device.config == before


def test_vrp_v8_trial_reverts_when_its_session_drops(replay):
    replayed_device, intended = replayed(V8, time_scale=1.0)  # a 600 s trial: only the drop can revert it
    before = replayed_device.config
    driver = open_driver(replay.target(replayed_device), timeout=10)
    driver.load_replace_candidate(config=intended)
    driver.commit_config(revert_in=600)
    assert replayed_device.config != before
    driver.device.remote_conn.get_transport().close()  # the controller dies mid-trial
    assert wait_for(lambda: replayed_device.config == before, 3)


def test_comware_commit_delay_expires_whoever_is_connected(replay):
    replayed_device, intended = replayed(COMWARE, time_scale=SCALE)
    before = replayed_device.config
    driver = open_driver(replay.target(replayed_device), timeout=10)
    driver.load_replace_candidate(config=intended)
    driver.commit_config(revert_in=60)  # configuration commit delay 1 (minute)
    driver.device.remote_conn.get_transport().close()  # the controller dies; Comware does not care
    time.sleep(0.5)
    assert replayed_device.config != before, "Comware reverts on its timer, not when a session drops"
    assert wait_for(lambda: replayed_device.config == before, 60 * SCALE + 2)


@DEVICES
def test_a_failed_post_check_rolls_back_to_byte_identical(replay, kind, monkeypatch):
    replayed_device, intended = replayed(kind, time_scale=1.0)  # device timers far away: jinbao undoes it
    before = replayed_device.config
    target = replay.target(replayed_device)
    monkeypatch.setattr(push, "_post_check", lambda checker, wanted: "the post-check failed (test)")
    (diffed,) = push.run([target], {target.hostname: intended}, check=True, confirm=lambda d: True)
    outcome = push.apply(target, intended, diffed.diff, confirm_in=90, timeout=10)
    assert outcome.status == "rolled-back", outcome
    assert outcome.safety_net.startswith(SAFETY_NET[kind])
    assert replayed_device.config == before


@pytest.mark.parametrize("kind", [V8, COMWARE], ids=["vrp-v8", "comware7"])
def test_a_confirm_that_comes_after_the_device_reverted_is_not_reported_committed(replay, kind, monkeypatch):
    """The post-check outlasts the trial (commit delay): the device goes back by itself, and
    the late confirm (VRP: "No configuration changes to commit", Comware: "No configuration
    commit delay is in progress", neither an error) must not make it "committed"."""
    replayed_device, intended = replayed(kind, time_scale=SCALE)
    before = replayed_device.config
    target = replay.target(replayed_device)

    def slow_post_check(checker, wanted):
        assert wait_for(lambda: replayed_device.config == before, 60 * SCALE + 3)
        return None

    monkeypatch.setattr(push, "_post_check", slow_post_check)
    (diffed,) = push.run([target], {target.hostname: intended}, check=True, confirm=lambda d: True)
    outcome = push.apply(target, intended, diffed.diff, confirm_in=60, timeout=10)
    assert outcome.status != "committed", outcome
    assert outcome.status == "rolled-back", outcome
    assert "no longer pending" in outcome.error or "did not confirm the change" in outcome.error, outcome
    assert replayed_device.config == before


@pytest.mark.parametrize("kind", [V8, COMWARE], ids=["vrp-v8", "comware7"])
def test_a_confirm_whose_reply_is_lost_is_reported_as_what_the_device_runs(replay, kind, monkeypatch):
    """The confirm reaches the device but its reply does not come back: nothing is pending
    any more, and nothing can be rolled back. Push reads the device afresh: it runs the
    intended config, so the change is committed, never "the device reverted by itself"."""
    replayed_device, intended = replayed(kind, time_scale=CONFIRMING)
    before = replayed_device.config
    target = replay.target(replayed_device)
    confirm = ConfigSession.confirm_commit

    def confirm_then_lose_the_reply(self):
        confirm(self)
        raise ConnectionException(f"{self.hostname}: the session died before the reply (test)")

    monkeypatch.setattr(ConfigSession, "confirm_commit", confirm_then_lose_the_reply)
    if kind == COMWARE:  # jinbao waits out a commit delay it cannot see: not a whole minute here
        timer = ConfigSession._timer
        monkeypatch.setattr(ConfigSession, "_timer", lambda self, *a: {**timer(self, *a), "seconds": 1})
    (diffed,) = push.run([target], {target.hostname: intended}, check=True, confirm=lambda d: True)
    outcome = push.apply(target, intended, diffed.diff, confirm_in=60, timeout=10)
    assert outcome.status == "committed" and "nothing pending" in outcome.error, outcome
    assert replayed_device.config != before and replayed_device.pending is None
    assert "undo telnet server enable" in replayed_device.config


CONTROLLER = "rule 5 permit source 172.24.0.0 0.0.0.255"  # the management ACL's line for jinbao's subnet


@pytest.mark.parametrize("kind", [V8, V5], ids=["vrp-v8", "vrp-v5"])
def test_a_change_that_cuts_management(replay, kind):
    """A typo in the intent locks jinbao out: VRP V8's trial reverts (its session dropped);
    VRP V5 has nothing that reverts, and push says so instead of claiming a rollback."""
    replayed_device, intended = replayed(kind, time_scale=SCALE, reachable=lambda config: CONTROLLER in config)
    before = replayed_device.config
    target = replay.target(replayed_device)
    cutting = intended.replace(CONTROLLER, CONTROLLER.replace("172.24.0.0", "172.42.0.0"))
    assert cutting != intended
    (diffed,) = push.run([target], {target.hostname: cutting}, check=True, confirm=lambda d: True)
    outcome = push.apply(target, cutting, diffed.diff, confirm_in=15, timeout=5)
    if kind == V8:
        assert outcome.status == "rolled-back" and "reverted by itself" in outcome.error, outcome
        assert replayed_device.config == before
    else:
        assert outcome.status == "failed" and "no revert timer and still runs the change" in outcome.error
        assert CONTROLLER not in replayed_device.config


@DEVICES
def test_a_line_the_device_refuses_undoes_what_it_took(replay, kind):
    # the last line of the change is refused, after the device took the others
    replayed_device, intended = replayed(kind, time_scale=1.0, refuses=r"info-center loghost .*")
    before = replayed_device.config
    target = replay.target(replayed_device)
    (diffed,) = push.run([target], {target.hostname: intended}, check=True, confirm=lambda d: True)
    assert diffed.diff.splitlines()[-1] == "info-center loghost 10.5.0.10"
    outcome = push.apply(target, intended, diffed.diff, confirm_in=90, timeout=10)
    if kind == V8:  # the lines waited in the candidate: discarded, nothing to roll back
        assert outcome.status == "failed" and "refused" in outcome.error, outcome
        assert "nothing was committed" in outcome.error and replayed_device.pending is None
    else:
        assert outcome.status == "rolled-back" and "refused" in outcome.error, outcome
    assert replayed_device.config == before


def test_a_refused_line_whose_undo_is_refused_too_fails_and_says_both(replay):
    replayed_device, intended = replayed(V5, refuses=r"info-center loghost .*|ip route-static .*")
    target = replay.target(replayed_device)
    (diffed,) = push.run([target], {target.hostname: intended}, check=True, confirm=lambda d: True)
    outcome = push.apply(target, intended, diffed.diff, confirm_in=90, timeout=10)
    assert outcome.status == "failed", outcome
    assert "`info-center loghost 10.5.0.10` refused" in outcome.error, outcome
    assert "undoing what it took failed" in outcome.error and "ip route-static" in outcome.error, outcome


def test_another_sessions_trial_is_left_alone(replay):
    """An operator's trial is pending on the VRP V8 device: push refuses to commit, and
    neither aborts nor confirms it."""
    replayed_device, intended = replayed(V8, time_scale=1.0)
    target = replay.target(replayed_device)
    with system_view(replay, replayed_device) as send:
        send("sysname operator-was-here")
        assert "trial configuration mode" in send("commit trial 600")
        theirs = replayed_device.config
        (diffed,) = push.run([target], {target.hostname: intended}, check=True, confirm=lambda d: True)
        outcome = push.apply(target, intended, diffed.diff, confirm_in=90, timeout=10)
        assert outcome.status == "failed" and "already pending confirmation" in outcome.error, outcome
        assert outcome.error.startswith("nothing committed")
        assert replayed_device.pending is not None and replayed_device.config == theirs


@DEVICES
def test_without_a_confirm_a_commit_takes_effect_and_rollback_restores_it(replay, kind):
    replayed_device, intended = replayed(kind)
    before = replayed_device.config
    driver = open_driver(replay.target(replayed_device), timeout=10)
    try:
        driver.load_replace_candidate(config=intended)
        driver.commit_config()  # no revert_in: a plain commit, the checkpoint still kept
        assert not driver.has_pending_commit()
        driver.load_replace_candidate(config=intended)
        assert driver.compare_config() == ""
        driver.discard_config()
        driver.rollback()
    finally:
        driver.close()
    assert replayed_device.config == before


# --- no push path: a clear failure, never "unchanged" ----------------------------------------
class GettersOnly(NetworkDriver):
    """A driver that can read a device and nothing else (NAPALM's base methods)."""

    def __init__(self, hostname, username, password, timeout=60, optional_args=None):
        self.hostname = hostname

    def open(self):
        pass

    def close(self):
        pass


def test_a_platform_with_no_push_path_fails_and_never_says_unchanged(tmp_path, monkeypatch):
    env = inventory(tmp_path)
    monkeypatch.setattr("network.drivers.driver_class", lambda platform_name: GettersOnly)
    shown = CliRunner().invoke(app, ["push", str(env), "--limit", "anhui-r1", "--yes"])
    assert shown.exit_code == 3, shown.output
    assert "failed" in shown.output and "unchanged" not in shown.output
    told = CliRunner().invoke(app, ["push", str(env), "--limit", "anhui-r1", "--yes", "--json"])
    assert told.exit_code == 3
    (outcome,) = json.loads(told.stdout)["devices"]
    assert outcome["status"] == "failed" and not outcome["ok"]
    assert outcome["error"].startswith("jinbao has no push path for platform huawei_vrp")


# --- the replayed devices behave as the devices do ---------------------------------------
@contextlib.contextmanager
def system_view(replay, replayed_device):
    """An operator's session in system-view: yields send(command) -> what the device printed."""
    driver = open_driver(replay.target(replayed_device), timeout=10)
    try:
        send = driver.device.send_command
        send("system-view", expect_string=r"\]")
        yield lambda command: send(command, expect_string=r"\]")
        send("return", expect_string=r">")
    finally:
        driver.close()


TELNET_OFF = ("\ntelnet server enable\n", "\nundo telnet server enable\n")


def test_vrp_v5_knows_no_trial_and_applies_lines_at_once(replay):
    replayed_device, _ = replayed(V5)
    before = replayed_device.config
    with system_view(replay, replayed_device) as send:
        assert "Error: Unrecognized command" in send("commit trial 90")
        send("undo telnet server enable")
        assert replayed_device.config == before.replace(*TELNET_OFF)


def test_vrp_v8_lines_wait_in_the_candidate_until_commit(replay):
    replayed_device, _ = replayed(V8)
    before = replayed_device.config
    with system_view(replay, replayed_device) as send:
        send("undo telnet server enable")
        assert replayed_device.config == before
        assert "Wrong parameter" in send("commit trial 30")  # the device's minimum is 60 s
        assert "Unrecognized" in send("configuration commit delay 1")  # Comware's, not VRP's
        assert replayed_device.config == before
        send("commit")
    assert replayed_device.config == before.replace(*TELNET_OFF)
