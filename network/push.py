"""`jinbao push`: intended configs onto devices, with a diff, commit-confirm and rollback.

Two phases. ``diff`` loads each device's intended config as a replace candidate and asks
the driver for the change (nothing is applied): FRR's own diff, the hier_config
remediation on VRP and Comware. ``apply`` commits each changed device with
``revert_in``: where the device has its own commit-confirm (FRR's revert timer, VRP V8's
trial commit, Comware 7's commit delay) it reverts by itself unless confirmed; where it has
none (VRP V5) the driver keeps a checkpoint and rollback applies the inverse remediation.
Each outcome names the safety net its device got. Then a *new* SSH session must open (the
management path survived) and the post-check must pass (the device runs the intended
config); only then does the committing session confirm. Otherwise it is rolled back: at
once if the device still answers, or by its own timer if it does not, after which jinbao
checks that it answers again with nothing pending. One device's failure never stops the
others. docs/push.md has the details per platform.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from napalm.base.exceptions import CommitError

from network import fleet
from network.drivers import Target, open_driver
from network.drivers.configure import NothingCommitted, RollbackFailed

CONFIRM_IN = 90  # seconds a device waits for confirmation before it reverts by itself


@dataclass
class Outcome:
    hostname: str
    status: str  # unchanged | pending (diff only) | committed | rolled-back | failed
    diff: str = ""
    error: str = ""
    seconds: float = 0.0
    safety_net: str = ""  # what would undo (or undid) the change: the device's own confirm, or the controller

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "pending", "committed")

    def as_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def diff(target: Target, intended: str, timeout: int = 30, confirm_in: int = CONFIRM_IN) -> Outcome:
    started = time.perf_counter()
    try:
        device = open_driver(target, timeout)
        try:
            device.load_replace_candidate(config=intended)
            text = device.compare_config()
            device.discard_config()
            net = device.safety_net(confirm_in) if text else ""
        finally:
            device.close()
    except NotImplementedError:  # a getters-only driver: never report such a device as unchanged
        error = f"jinbao has no push path for platform {target.platform}: its driver cannot load a candidate"
        return Outcome(target.hostname, "failed", error=error, seconds=time.perf_counter() - started)
    except Exception as exc:
        return Outcome(target.hostname, "failed", error=_error(exc), seconds=time.perf_counter() - started)
    status = "pending" if text else "unchanged"
    return Outcome(target.hostname, status, text, seconds=time.perf_counter() - started, safety_net=net)


def _post_check(device, intended: str) -> str | None:
    """None when the device runs what was intended, else what is wrong."""
    device.load_replace_candidate(config=intended)
    remaining = device.compare_config()
    device.discard_config()
    if remaining:
        return f"the device does not run the intended config after the commit:\n{remaining}"
    return None


def apply(
    target: Target, intended: str, expected_diff: str, confirm_in: int = CONFIRM_IN, timeout: int = 30
) -> Outcome:
    started = time.perf_counter()
    net = ""

    def done(status: str, error: str = "", text: str = expected_diff) -> Outcome:
        return Outcome(target.hostname, status, text, error, time.perf_counter() - started, net)

    try:
        device = open_driver(target, timeout)
    except Exception as exc:
        return done("failed", _error(exc))
    try:
        device.load_replace_candidate(config=intended)
        now = device.compare_config()
        if now != expected_diff:  # nothing to do any more, or someone changed the device since its diff
            device.discard_config()
            device.close()
            if not now:
                return done("unchanged", text="")
            return done("failed", f"the device changed since its diff was shown; run push again:\n{now}", now)
        net = device.safety_net(confirm_in)
    except Exception as exc:
        with contextlib.suppress(Exception):
            device.close()
        return done("failed", f"nothing committed: {_error(exc)}")
    try:
        return _commit_and_confirm(target, device, intended, confirm_in, timeout, done)
    finally:
        with contextlib.suppress(Exception):
            device.close()


def _commit_and_confirm(target: Target, device, intended: str, confirm_in: int, timeout: int, done) -> Outcome:
    """Commit on `device` and keep its session (a VRP trial is confirmed in the session that
    started it); check from a new session; confirm, or roll back."""
    refused = _commit(device, confirm_in, done)
    if refused is not None:
        return refused
    deadline = device.revert_deadline  # when the device reverts by itself; None: it has no timer
    before = device.config_before_commit  # what the device ran before the commit (None: not read)
    checker, problem = _new_session(target, confirm_in, timeout)
    if checker is None:
        return _await_revert(target, deadline, before, intended, problem, done, timeout)
    try:
        visible = checker.pending_is_visible()
        if deadline is not None and visible and not checker.has_pending_commit():  # its timer fired?
            return _settled(checker, before, intended, "the change was no longer pending after the commit", done)
        problem = _post_check(checker, intended)
        if problem is None:
            _confirm(device, checker)
            return done("committed")
        device.rollback()
        return done("rolled-back", problem)
    except Exception as exc:
        problem = _error(exc)
        try:
            device.rollback()
        except Exception:
            return _await_revert(target, deadline, before, intended, problem, done, timeout)
        return done("rolled-back", problem)
    finally:
        checker.close()


def _commit(device, confirm_in: int, done) -> Outcome | None:
    """Commit with `revert_in`; the outcome when the device took nothing or refused the change,
    None when the change may be in (committed, or the session died under it: checked next)."""
    try:
        device.commit_config(message="jinbao push", revert_in=confirm_in)
    except NothingCommitted as exc:  # the device took nothing: a refused line before the commit, or a pending change
        return done("failed", f"nothing committed: {_error(exc)}")
    except RollbackFailed as exc:  # a refused line, and what the device had taken could not be undone
        return done("failed", str(exc))
    except CommitError as exc:  # the device refused the change; the driver undid what it had applied
        return done("rolled-back", f"the device refused the commit: {_error(exc)}")
    except Exception:  # the session died under the change (management cut?): checked by the caller
        pass
    return None


def _new_session(target: Target, confirm_in: int, timeout: int):
    """A new session proves the management path survived the change: (driver, "") or (None, why not)."""
    wait_until = time.monotonic() + max(5, confirm_in // 3)
    problem = "unreachable over SSH after the commit"
    while time.monotonic() < wait_until:
        try:
            return open_driver(target, min(timeout, 10)), ""
        except Exception as exc:
            problem = f"unreachable over SSH after the commit ({_error(exc)})"
            time.sleep(2)
    return None, problem


def _confirm(device, checker) -> None:
    """Confirm in the committing session; raises unless the change was still pending and confirmed."""
    try:
        device.confirm_commit()
    except Exception as exc:
        try:  # FRR's revert timer can be stopped from any session; VRP and Comware refuse here
            checker.confirm_commit()
        except Exception:
            raise exc from None


def _device_state(device, before: str | None, intended: str) -> str:
    """Which config a session finds the device running: "before" (the config before the
    commit), "intended", or "unknown" (neither, or it cannot tell)."""
    for state, config in (("before", before), ("intended", intended)):
        if not config:
            continue
        try:
            device.load_replace_candidate(config=config)
            left = device.compare_config()
            device.discard_config()
        except Exception:
            continue
        if not left:
            return state
    return "unknown"


def _settled(device, before: str | None, intended: str, problem: str, done) -> Outcome:
    """The outcome of a change nothing is pending for any more, from what the device runs."""
    state = _device_state(device, before, intended)
    if state == "before":
        return done("rolled-back", f"{problem}; the device reverted by itself")
    if state == "intended":
        return done("committed", f"{problem}; but the device runs the intended config with nothing pending: committed")
    return done("failed", f"{problem}; device state unknown (neither the old nor the intended config)")


def _await_revert(
    target: Target, deadline: float | None, before: str | None, intended: str, problem: str, done, timeout: int
) -> Outcome:
    """jinbao cannot confirm or undo the change: the device's own timer reverts it at
    `deadline` (None: it has none; a VRP trial also reverts when its session drops). Wait
    until a new session finds nothing pending: at once where any session can tell (FRR's
    timer, VRP's trial status), else once the deadline has passed (Comware shows no timer).
    Then the device's running config says what happened: the config `before` the commit
    (reverted), the intended one (the confirm went through, its reply was lost), or neither."""
    if deadline is None:
        return done("failed", f"{problem}; the device has no revert timer and still runs the change")
    give_up = deadline + 60
    while time.monotonic() < give_up:
        try:
            device = open_driver(target, min(timeout, 10))
        except Exception:
            time.sleep(2)
            continue
        try:
            visible = device.pending_is_visible()
            if (visible or time.monotonic() >= deadline) and not device.has_pending_commit():
                return _settled(device, before, intended, problem, done)
        finally:
            device.close()
        time.sleep(min(2, max(0.2, deadline - time.monotonic())))
    return done("failed", f"{problem}; and it did not come back after its revert timer")


def run(
    targets: list[Target],
    intended: dict[str, str],
    *,
    check: bool,
    confirm: Callable[[list[Outcome]], bool],
    confirm_in: int = CONFIRM_IN,
    workers: int = 8,
) -> list[Outcome]:
    """Diff every target; unless check, ask confirm(diffs) and apply the changed ones."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        diffs = list(pool.map(lambda t: diff(t, intended[t.hostname], confirm_in=confirm_in), targets))
    pending = [d for d in diffs if d.status == "pending"]
    if check or not pending or not confirm(diffs):
        return diffs
    by_name = {t.hostname: t for t in targets}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(pending)))) as pool:
        applied = dict(
            zip(
                [d.hostname for d in pending],
                pool.map(lambda d: apply(by_name[d.hostname], intended[d.hostname], d.diff, confirm_in), pending),
                strict=True,
            )
        )
    return [applied.get(d.hostname, d) for d in diffs]


def push_environment(
    env: Path,
    limit: list[str] | None = None,
    *,
    check: bool,
    confirm: Callable[[list[Outcome]], bool],
    confirm_in: int = CONFIRM_IN,
    vault_password_file: Path | None = None,
) -> list[Outcome]:
    """`jinbao push` without its console: the selected devices' configs rendered, then run()."""
    selected = fleet.select(env, limit, vault_password_file)
    intended = selected.renderer().render_hosts(selected.hostnames)
    return run(selected.targets, intended, check=check, confirm=confirm, confirm_in=confirm_in)
