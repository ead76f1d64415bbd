"""`jinbao rotate-passwords`: the routers' local accounts (vault_jinbao_user_passwords).

The order, so that no run leaves the vault with a password no device has:

1. choose: the accounts (named, or those rotations.yml says are due) and the devices whose
   configs set their passwords (VRP, Comware); new passwords by group_vars' policy. A device
   jinbao logs in to by key (FRR, the lab's routers) holds no such account and is said so.
2. per device, in a session logged in with the admin's current password: the lines that set
   the accounts' passwords, as the intent renders them with the new passwords, typed under
   the device's safety net (VRP V8 `commit trial`, Comware `configuration commit delay`, VRP
   V5 the controller's checkpoint). While the change is pending, each account logs in with
   its new password in a second session and its old one is refused; only then is it
   confirmed. Otherwise it is rolled back (the device's abort, else the old lines typed
   again) and the old passwords must log in again.
3. a device that fails stops the run, and the devices rotated before it get their old
   passwords back the same way: the vault is not touched.
4. the vault gets the new passwords (only those accounts' entries; encrypted again with its
   own password) and rotations.yml records who and when.

Secrets never reach the output: lines are shown scrubbed, as `jinbao push` shows them.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import yaml as pyyaml

from network import fleet
from network.drivers import Target, open_driver
from network.errors import JinbaoError, Problem
from network.passwords import RECORD, generate
from network.platforms import scrub
from network.render import Renderer, Secrets
from network.render.secrets import VAULT, password_file

GROUP = "devices"
VAULT_KEY = "vault_jinbao_user_passwords"
CONFIRM_IN = 90  # seconds (as push) a device waits for the confirm (its own timer: at least the platform's minimum)


@dataclass
class DeviceRotation:
    hostname: str
    platform: str
    status: str  # planned, rotated, rolled-back, failed, restored, not-held
    safety_net: str = ""
    lines: list[str] = field(default_factory=list, repr=False)  # as typed, secrets included: never shown
    back: list[str] = field(default_factory=list, repr=False)  # the lines that set the old passwords again
    accounts: list[str] = field(default_factory=list)  # whose passwords this device's lines set
    error: str = ""  # secrets replaced by <secret> (hide)

    def as_dict(self) -> dict:
        shown = scrub(self.platform, "\n".join(self.lines)).splitlines() if self.lines else []
        return {
            "hostname": self.hostname,
            "platform": self.platform,
            "status": self.status,
            "safety_net": self.safety_net,
            "lines": shown,
            "error": self.error,
        }


@dataclass
class Run:
    env: str
    accounts: list[str]
    devices: list[DeviceRotation]
    applied: bool
    vault_written: bool = False
    problem: str = ""  # what is left to do by hand, when the devices and the vault may disagree

    @property
    def ok(self) -> bool:
        done = {"planned", "not-held"} if not self.applied else {"rotated", "not-held"}
        rotated = self.vault_written or not self.applied
        return all(d.status in done for d in self.devices) and rotated and not self.problem

    def as_dict(self) -> dict:
        return {
            "env": self.env,
            "accounts": self.accounts,
            "applied": self.applied,
            "vault_written": self.vault_written,
            "ok": self.ok,
            "problem": self.problem,
            "devices": [d.as_dict() for d in self.devices],
        }


def hide(text: str, platform_name: str, *secrets: Secrets) -> str:
    """`text` with every password of `secrets` and every secret the platform's scrub rules
    know replaced by <secret>: errors quote the lines a device refused."""
    for held in secrets:
        for password in sorted(set(held.user_passwords.values()), key=len, reverse=True):
            if password:
                text = text.replace(password, "<secret>")
    return scrub(platform_name, text).rstrip("\n") if text else ""


def secret_lines(platform_name: str, before: str, after: str) -> list[str]:
    """The lines of `after` that set a secret and are not in `before` (the same config with
    the old secrets), each under the views that hold it, as typed: view, line, ` quit`."""
    seen = set(_paths(before))
    typed: list[str] = []
    opened: tuple[str, ...] = ()
    for path in _paths(after):
        line = path[-1]
        if path in seen or scrub(platform_name, line).rstrip("\n") == line:
            continue
        parents = path[:-1]
        while opened and opened != parents[: len(opened)]:
            typed.append(" " * len(opened) + "quit")
            opened = opened[:-1]
        for depth in range(len(opened), len(parents)):
            typed.append(" " * depth + parents[depth])
        opened = parents
        typed.append(" " * len(parents) + line)
    while opened:
        typed.append(" " * len(opened) + "quit")
        opened = opened[:-1]
    return typed


def _paths(text: str) -> list[tuple[str, ...]]:
    """Each line of a config with the lines of the views above it (by indentation)."""
    found, stack = [], []  # stack: (indent, line)
    for raw in text.splitlines():
        if not raw.strip() or raw.strip() == "#":
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        found.append((*(line for _, line in stack), raw.strip()))
        stack.append((indent, raw.strip()))
    return found


def plan(
    env: Path,
    accounts: list[str] | None,
    vault_password_file: str | None = None,
    new: dict[str, str] | None = None,
) -> tuple[Run, Secrets, Secrets, list[Target]]:
    """What would change: the accounts, the new passwords and each device's lines. Every
    device of the environment: the vault holds one password per account for all of them."""
    selected = fleet.select(env, None, vault_password_file)
    network = selected.network
    old = selected.secrets
    held = sorted(old.user_passwords)
    chosen = accounts if accounts else due(env, held, network.policy.host_hardening.password.max_age_days)
    unknown = [a for a in chosen if a not in held]
    if unknown:
        raise JinbaoError(
            Problem(str(VAULT), "", f"{VAULT_KEY}.{unknown[0]}", f"is not a device account (there: {', '.join(held)})")
        )
    policy = network.policy.host_hardening.password
    new = dict(new or {})
    for account in chosen:
        new.setdefault(account, generate(policy.min_length, policy.min_classes, policy.max_repeat))
    rotated = replace(old, user_passwords=old.user_passwords | new)
    # a device jinbao logs in to by key (FRR, the lab) holds no such account: not rendered
    by_password = [t.hostname for t in selected.targets if chosen and not t.optional_args.get("key_file")]
    before = Renderer(network, selected.allocations, old).render_hosts(by_password)
    after = Renderer(network, selected.allocations, rotated).render_hosts(by_password)
    devices = []
    for target in selected.targets:
        was, will = before.get(target.hostname, ""), after.get(target.hostname, "")
        lines = secret_lines(target.platform, was, will)
        if not lines:
            devices.append(DeviceRotation(target.hostname, target.platform, "not-held"))
            continue
        back = secret_lines(target.platform, will, was)
        sets = [a for a in chosen if any(new[a] in line for line in lines)]
        devices.append(
            DeviceRotation(target.hostname, target.platform, "planned", lines=lines, back=back, accounts=sets)
        )
    return Run(network.name, chosen, devices, applied=False), old, rotated, selected.targets


def due(env: Path, accounts: list[str], max_age_days: int) -> list[str]:
    """The accounts whose last rotation is older than the policy, or was never recorded."""
    from network.passwords import ages, load_record

    found = ages(dict.fromkeys(accounts, ""), load_record(env), max_age_days, datetime.now(UTC))
    return [a.account for a in found if a.stale]


def apply(
    env: Path,
    accounts: list[str] | None,
    vault_password_file: str | None = None,
    confirm_in: int = CONFIRM_IN,
    timeout: int = 30,
    new: dict[str, str] | None = None,
) -> Run:
    """Rotate on every device, then write the vault and the record (module docstring)."""
    run, old, rotated, targets = plan(env, accounts, vault_password_file, new)
    if not run.accounts:  # none named and none due: nothing to do, nothing written
        return run
    if not any(d.status == "planned" for d in run.devices):
        raise JinbaoError(
            Problem(
                str(VAULT), "", VAULT_KEY,
                f"no device of {run.env} sets the passwords of {', '.join(run.accounts)} (logged in by key): "
                "nothing to rotate, the vault is left as it is",
            )
        )  # fmt: skip
    passwords = {a: rotated.user_passwords[a] for a in run.accounts}
    staged = stage_vault(env, passwords, vault_password_file)  # checked before any device changes
    run.applied = True
    by_name = {t.hostname: t for t in targets}
    done: list[DeviceRotation] = []
    for device in run.devices:
        if device.status == "not-held":
            continue
        rotate_device(by_name[device.hostname], device, old, rotated, confirm_in, timeout)
        device.error = hide(device.error, device.platform, old, rotated)
        if device.status != "rotated":
            for earlier in reversed(done):  # back to the passwords the vault holds
                restore = replace(earlier, status="planned", lines=earlier.back, back=earlier.lines, error="")
                rotate_device(by_name[earlier.hostname], restore, rotated, old, confirm_in, timeout)
                earlier.status = "restored" if restore.status == "rotated" else "failed"
                why = hide(restore.error, earlier.platform, old, rotated)
                earlier.error = "" if restore.status == "rotated" else f"restoring the old passwords: {why}"
            if any(d.status == "failed" for d in run.devices):
                run.problem = _keep(env, staged, "a device may hold the new passwords")
            return run
        done.append(device)
    try:
        _replace(Path(env) / VAULT, staged)
    except OSError as exc:
        run.problem = _keep(env, staged, f"writing {VAULT} failed ({exc}); every device holds the new passwords")
        return run
    run.vault_written = True
    try:
        record(env, run.accounts)
    except (OSError, ValueError) as exc:
        run.problem = f"{VAULT} holds the new passwords, but {RECORD} could not be written ({exc}): record them by hand"
    return run


def _keep(env: Path, staged: bytes, why: str) -> str:
    """The staged vault (new passwords; encrypted as the vault is) kept in a private file, and what to do."""
    fd, path = tempfile.mkstemp(prefix=".vault-", suffix=".staged", dir=Path(env))  # 0600, not in group_vars
    with os.fdopen(fd, "wb") as out:
        out.write(staged)
    return (
        f"{why}: the vault with the new passwords is kept in {path} (as {VAULT} is: encrypted or not). "
        f"Check which password each device takes, then copy that file over {VAULT} or rotate again"
    )


def rotate_device(
    target: Target,
    device: DeviceRotation,
    old: Secrets,
    new: Secrets,
    confirm_in: int,
    timeout: int,
) -> None:
    """One device: type, check the logins of the accounts its lines set from a second session
    while the change is pending, confirm or roll back."""
    accounts = device.accounts
    admin = replace(target, password=old.user_passwords.get(target.username, target.password))
    try:
        session = open_driver(admin, timeout)
    except Exception as exc:
        device.status, device.error = "failed", f"nothing typed: cannot log in as {target.username}: {exc}"
        return
    try:
        device.safety_net = session.safety_net(confirm_in)
        session.load_merge_candidate(config="\n".join(device.lines))
        try:
            session.commit_config(message="jinbao rotate-passwords", revert_in=confirm_in)
        except Exception as exc:  # what it took before the refusal was undone, secrets aside
            device.error = f"the device refused the lines: {exc}"
            device.status = _old_again(target, session, device, old, new, accounts, timeout)
            return
        problem = _logins(target, accounts, new, old, timeout)
        if problem is None:
            try:
                session.confirm_commit()
                device.status = "rotated"
                return
            except Exception as exc:
                problem = f"not confirmed: {exc}"
        device.error = problem
        device.status = _roll_back(target, session, device, old, new, accounts, timeout)
    finally:
        with contextlib.suppress(Exception):
            session.close()


def _roll_back(target, session, device, old, new, accounts, timeout) -> str:
    """After a change that did not prove itself: the device's abort where it has one, else the
    old lines typed again; then the old passwords must log in (a scrubbed config cannot tell)."""
    step = lambda: session.rollback(secret_lines=device.back)  # noqa: E731
    return _undo(step, "rolling back", target, device, old, new, accounts, timeout)


def _old_again(target, session, device, old, new, accounts, timeout) -> str:
    """After a refused change: the old passwords must log in; a secret line the device took
    before the refusal (VRP V5, Comware: each line takes effect) is typed back first."""
    if _logins(target, accounts, old, new, timeout, checking_old=True) is None:
        return "rolled-back"

    def type_back() -> None:
        session.load_merge_candidate(config="\n".join(device.back))
        session.commit_config(message="jinbao rotate-passwords: back")

    return _undo(type_back, "typing the old passwords back", target, device, old, new, accounts, timeout)


def _undo(step, what, target, device, old, new, accounts, timeout) -> str:
    """`step`, then the old passwords must log in: "rolled-back", else "failed" and why (a step
    that fails may still have left them: a trial that expired by itself)."""
    try:
        step()
    except Exception as exc:
        device.error += f"; {what}: {exc}"
    problem = _logins(target, accounts, old, new, timeout, checking_old=True)
    if problem is not None:
        device.error += f"; after {what}: {problem}"
        return "failed"
    return "rolled-back"


def _logins(
    target: Target, accounts: list[str], good: Secrets, bad: Secrets, timeout: int, checking_old: bool = False
) -> str | None:
    """Each account logs in with its password in `good`, and is refused with the one in `bad`."""
    which = "old" if checking_old else "new"
    for account in accounts:
        accepted = _login(replace(target, username=account, password=good.user_passwords[account]), timeout)
        if accepted is not True:
            return f"{account} cannot log in with its {which} password: {accepted}"
        if bad.user_passwords[account] != good.user_passwords[account]:
            refused = _login(replace(target, username=account, password=bad.user_passwords[account]), timeout)
            if refused is True:
                other = "new" if checking_old else "old"
                return f"{account} still logs in with its {other} password"
    return None


def _login(target: Target, timeout: int) -> bool | str:
    try:
        driver = open_driver(target, min(timeout, 15))
    except Exception as exc:
        return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    with contextlib.suppress(Exception):
        driver.close()
    return True


def write_vault(env: Path, passwords: dict[str, str], vault_password_file: str | None = None) -> None:
    """The vault with these entries changed, written whole or not at all (stage_vault)."""
    _replace(Path(env) / VAULT, stage_vault(env, passwords, vault_password_file))


def stage_vault(env: Path, passwords: dict[str, str], vault_password_file: str | None = None) -> bytes:
    """The vault's new bytes: only these entries of vault_jinbao_user_passwords change
    (comments, order and every other entry stay; checked), encrypted again when it was."""
    from ruamel.yaml import YAML

    path = Path(env) / VAULT
    raw = path.read_bytes()
    vault = None
    if raw.startswith(b"$ANSIBLE_VAULT"):
        from ansible.constants import DEFAULT_VAULT_ID_MATCH
        from ansible.parsing.vault import VaultLib, VaultSecret

        secret_file = password_file(Path(env), vault_password_file)
        if secret_file is None:
            raise JinbaoError(Problem(str(VAULT), "", "", "is encrypted and no vault password was given"))
        vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(secret_file.read_bytes().strip()))])
        raw = vault.decrypt(raw)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.explicit_start = raw.lstrip().startswith(b"---")
    data = yaml.load(raw.decode())
    for account, password in passwords.items():
        data[VAULT_KEY][account] = password
    out = io.StringIO()
    yaml.dump(data, out)
    text = out.getvalue()

    before, after = pyyaml.safe_load(raw), pyyaml.safe_load(text)
    if after[VAULT_KEY] != before[VAULT_KEY] | passwords or {**after, VAULT_KEY: None} != {**before, VAULT_KEY: None}:
        raise JinbaoError(Problem(str(VAULT), "", VAULT_KEY, "editing it changed more than the rotated entries"))
    return vault.encrypt(text.encode()) if vault is not None else text.encode()


def record(env: Path, accounts: list[str]) -> None:
    """rotations.yml: who and when for each rotated account (no secret)."""
    from ruamel.yaml import YAML

    path = Path(env) / RECORD
    yaml = YAML()
    yaml.width = 4096
    text = path.read_text() if path.exists() else ""
    yaml.explicit_start = text.lstrip().startswith("---")
    data = yaml.load(text) if text else None
    if data is None:
        data = {"accounts": {}}
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for account in accounts:
        data["accounts"][account] = {"group": GROUP, "when": when, "by": who(), "how": "jinbao rotate-passwords"}
    out = io.StringIO()
    yaml.dump(data, out)
    _replace(path, out.getvalue().encode())


def who() -> str:
    """$JINBAO_ROTATED_BY (AWX: the job's user), else git's user.name, else the login."""
    if os.environ.get("JINBAO_ROTATED_BY"):
        return os.environ["JINBAO_ROTATED_BY"]
    with contextlib.suppress(Exception):
        name = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5).stdout.strip()
        if name:
            return name
    return getpass.getuser()


def _replace(path: Path, body: bytes) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
