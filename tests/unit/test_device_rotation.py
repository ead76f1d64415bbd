"""`jinbao rotate-passwords`: the routers' local accounts rotated on replayed VRP V8, V5 and
Comware devices that log their accounts in by the passwords their running config sets
(tests/replay/server.py): the new lines under the device's safety net, each account's new
password logs in and its old one is refused before the confirm, then the vault and
rotations.yml; a new password that does not log in, or a device that refuses the lines, leaves
every device with its old passwords and the vault as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_vendor_push import COMWARE, CONFIRMING, DEVICES, SAFETY_NET, V5, V8, inventory, replayed, wait_for
from test_vendor_sessions import CONFIGS, Replay
from typer.testing import CliRunner

from network import rotate
from network.cli import app
from network.errors import JinbaoError
from network.render import load_secrets

OLD = {"netadmin": "Golden-Admin-1", "auditor": "Golden-Audit-1"}
NEW = {"netadmin": "Rotated-Admin-2x", "auditor": "Rotated-Audit-2x"}


@pytest.fixture(scope="module")
def replay():
    return Replay()


def devices(replay, monkeypatch, *kinds, refuses: dict[str, str] | None = None):
    """Replayed devices running their intended configs (the vault's passwords), as jinbao's targets."""
    found = []
    for kind in kinds:
        hostname, *_ = kind
        intended = (CONFIGS / f"{hostname}.cfg").read_text()
        device, _ = replayed(kind, running=intended, time_scale=CONFIRMING, refuses=(refuses or {}).get(hostname))
        found.append((device, replay.target(device)))
    monkeypatch.setattr("network.drivers.targets", lambda *a, **k: [t for _, t in found])
    return [d for d, _ in found]


def logs_in(device, passwords: dict[str, str]) -> bool:
    return all(device.accepts(account, password) for account, password in passwords.items())


def refuses(device, passwords: dict[str, str]) -> bool:
    return not any(device.accepts(account, password) for account, password in passwords.items())


@DEVICES
def test_rotation_checks_the_new_logins_before_the_confirm_then_writes_vault_and_record(
    replay, kind, tmp_path, monkeypatch
):
    env = inventory(tmp_path)
    (device,) = devices(replay, monkeypatch, kind)
    seen = []  # each login from a second session, and whether the device's own timer was running
    login = rotate._login

    def second_session(target, timeout):
        seen.append((target.username, target.password, device.pending is not None))
        return login(target, timeout)

    monkeypatch.setattr(rotate, "_login", second_session)
    run = rotate.apply(env, ["netadmin", "auditor"], new=NEW)
    assert run.ok and run.vault_written, run.as_dict()
    (result,) = run.devices
    assert result.status == "rotated" and result.safety_net.startswith(SAFETY_NET[kind]), result
    assert logs_in(device, NEW) and refuses(device, OLD)
    assert device.pending is None  # confirmed, not left to its timer
    # before the confirm: while the trial or commit delay runs (V5 has no device timer: the checkpoint)
    timer = kind != V5
    assert seen == [(a, p, timer) for a in ("netadmin", "auditor") for p in (NEW[a], OLD[a])]
    vault = (env / "group_vars" / "all" / "vault.yml").read_text()
    assert vault.startswith("---\n# Test secrets, in clear")  # comments and the rest kept
    secrets = load_secrets(env)
    assert secrets.user_passwords == NEW and secrets.snmp() == ("Golden-Auth-1", "Golden-Priv-1")
    record = yaml.safe_load((env / "rotations.yml").read_text())["accounts"]
    assert {a: (record[a]["group"], record[a]["how"]) for a in NEW} == dict.fromkeys(
        NEW, ("devices", "jinbao rotate-passwords")
    )


@DEVICES
def test_a_new_password_that_does_not_log_in_is_rolled_back_and_the_vault_kept(replay, kind, tmp_path, monkeypatch):
    env = inventory(tmp_path)
    (device,) = devices(replay, monkeypatch, kind)
    vault, record = (env / "group_vars/all/vault.yml").read_bytes(), (env / "rotations.yml").read_bytes()
    login = rotate._login

    def radius_only(target, timeout):  # the device took the line, but the account is not let in by it
        if target.password == NEW["auditor"]:
            return "Authentication failed."
        return login(target, timeout)

    monkeypatch.setattr(rotate, "_login", radius_only)
    run = rotate.apply(env, ["netadmin", "auditor"], new=NEW)
    assert not run.ok and not run.vault_written
    (result,) = run.devices
    assert result.status == "rolled-back", result
    assert "auditor cannot log in with its new password" in result.error
    assert wait_for(lambda: device.pending is None, 5)
    assert logs_in(device, OLD) and refuses(device, NEW)
    assert (env / "group_vars/all/vault.yml").read_bytes() == vault
    assert (env / "rotations.yml").read_bytes() == record


def test_a_device_that_refuses_the_lines_puts_the_devices_before_it_back(replay, tmp_path, monkeypatch):
    env = inventory(tmp_path)
    first, second = devices(replay, monkeypatch, V8, COMWARE, refuses={"hefei-r1": r"password simple Rotated-Audit.*"})
    vault = (env / "group_vars/all/vault.yml").read_bytes()
    run = rotate.apply(env, ["netadmin", "auditor"], new=NEW)
    assert not run.ok and not run.vault_written
    statuses = {d.hostname: d.status for d in run.devices}
    assert statuses == {"anhui-r1": "restored", "hefei-r1": "rolled-back"}, run.as_dict()
    # Comware took the netadmin line before it refused auditor's: typed back, as checked by a login
    assert logs_in(second, OLD) and refuses(second, NEW)
    assert logs_in(first, OLD) and refuses(first, NEW)
    assert (env / "group_vars/all/vault.yml").read_bytes() == vault
    # the refusal quotes the line the device refused: its password is never shown
    said = json.dumps(run.as_dict()) + repr(run)
    assert "refused" in said and not any(p in said for p in [*OLD.values(), *NEW.values()]), said


def test_a_vault_that_cannot_be_written_after_the_devices_keeps_the_new_passwords_and_says_where(
    replay, tmp_path, monkeypatch
):
    env = inventory(tmp_path)
    (device,) = devices(replay, monkeypatch, V8)
    vault = (env / "group_vars/all/vault.yml").read_bytes()
    real = rotate._replace

    def full_disk(path, body):
        if path.name == "vault.yml":
            raise OSError(28, "No space left on device")
        real(path, body)

    monkeypatch.setattr(rotate, "_replace", full_disk)
    run = rotate.apply(env, ["netadmin"], new=NEW)
    assert not run.ok and not run.vault_written and logs_in(device, {"netadmin": NEW["netadmin"]})
    assert "No space left on device" in run.problem and "every device holds the new passwords" in run.problem
    (staged,) = env.glob(".vault-*.staged")
    assert str(staged) in run.problem and staged.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(staged.read_text())["vault_jinbao_user_passwords"]["netadmin"] == NEW["netadmin"]
    assert (env / "group_vars/all/vault.yml").read_bytes() == vault


def test_the_plan_shows_secrets_scrubbed_and_refuses_what_is_not_a_device_account(replay, tmp_path, monkeypatch):
    env = inventory(tmp_path)
    devices(replay, monkeypatch, V8, COMWARE)
    run, *_ = rotate.plan(env, ["netadmin"], new=NEW)
    shown = run.as_dict()
    assert [d["status"] for d in shown["devices"]] == ["planned", "planned"]
    text = yaml.safe_dump(shown)
    assert NEW["netadmin"] not in text and OLD["netadmin"] not in text and "<secret>" in text
    assert shown["devices"][0]["lines"][0] == "aaa"
    with pytest.raises(JinbaoError, match=r"vault_jinbao_user_passwords\.dba_li is not a device account"):
        rotate.plan(env, ["dba_li"])


def test_devices_logged_in_by_key_hold_no_account_and_nothing_is_rotated(tmp_path, monkeypatch):
    env = inventory(tmp_path)
    from network.drivers import Target

    keyed = Target("anhui-r1", "huawei_vrp", "127.0.0.1", "jinbao", "", {"key_file": "/nonexistent", "port": 1})
    monkeypatch.setattr("network.drivers.targets", lambda *a, **k: [keyed])
    vault = (env / "group_vars/all/vault.yml").read_bytes()
    with pytest.raises(JinbaoError, match=r"no device of .* sets the passwords of netadmin .*nothing to rotate"):
        rotate.apply(env, ["netadmin"], new=NEW)
    assert (env / "group_vars/all/vault.yml").read_bytes() == vault


def test_the_command_asks_and_refuses_without_a_terminal(replay, tmp_path, monkeypatch):
    env = inventory(tmp_path)
    (device,) = devices(replay, monkeypatch, V8)
    vault = (env / "group_vars/all/vault.yml").read_bytes()
    shown = CliRunner().invoke(app, ["rotate-passwords", str(env), "--account", "auditor", "--json"])
    assert shown.exit_code == 0, shown.output
    assert [d["status"] for d in yaml.safe_load(shown.stdout)["devices"]] == ["planned"]
    refused = CliRunner().invoke(app, ["rotate-passwords", str(env), "--account", "auditor", "--apply"])
    assert refused.exit_code == 3 and "refusing to rotate without --yes" in refused.output
    assert (env / "group_vars/all/vault.yml").read_bytes() == vault and logs_in(device, OLD)
    done = CliRunner().invoke(app, ["rotate-passwords", str(env), "--account", "auditor", "--apply", "--yes"])
    assert done.exit_code == 0 and "vault written" in done.output, done.output
    assert not logs_in(device, OLD) and load_secrets(env).password("auditor") != OLD["auditor"]
    assert load_secrets(env).password("auditor") not in done.output


def test_json_output_with_apply_is_one_json_document(replay, tmp_path, monkeypatch):
    env = inventory(tmp_path)
    devices(replay, monkeypatch, COMWARE)
    done = CliRunner().invoke(
        app, ["rotate-passwords", str(env), "--account", "netadmin", "--apply", "--yes", "--json"]
    )
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["ok"] and report["vault_written"] and [d["status"] for d in report["devices"]] == ["rotated"]


def test_an_encrypted_vault_gets_the_new_entries_only_and_stays_encrypted(tmp_path):
    lab = Path(__file__).resolve().parents[2] / "inventories" / "lab"
    env = tmp_path / "env"
    (env / "group_vars" / "all").mkdir(parents=True)
    shutil.copy(lab / ".vault-password", env / ".vault-password")
    shutil.copy(lab / "group_vars" / "all" / "vault.yml", env / "group_vars" / "all" / "vault.yml")
    before = _plain(env)
    rotate.write_vault(env, {"auditor": "Rotated-Audit-2x"})
    raw = (env / "group_vars" / "all" / "vault.yml").read_bytes()
    assert raw.startswith(b"$ANSIBLE_VAULT") and b"Rotated" not in raw
    after = _plain(env)
    users = rotate.VAULT_KEY
    assert after.pop(users) == before.pop(users) | {"auditor": "Rotated-Audit-2x"}
    assert after == before


def _plain(env: Path) -> dict:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret((env / ".vault-password").read_bytes().strip())
    raw = (env / "group_vars" / "all" / "vault.yml").read_bytes()
    return yaml.safe_load(VaultLib([(DEFAULT_VAULT_ID_MATCH, secret)]).decrypt(raw))
