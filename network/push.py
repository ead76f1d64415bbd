"""`jinbao push`: intended configs onto devices, with a diff, commit-confirm and rollback.

Two phases. ``diff`` loads each device's intended config as a replace candidate and asks
the device for the difference (nothing is applied). ``apply`` commits each changed device
with commit-confirm: the device itself reverts unless confirmed within ``confirm_in``
seconds. Then a *new* SSH session must open (the management path survived) and the
post-checks must pass (the device runs the intended config, FRR's daemons are up); only
then is the commit confirmed. Otherwise it is rolled back: at once if the device still
answers, or by its own timer if it does not, after which jinbao checks that it answers
again with the config it had. One device's failure never stops the others.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from napalm.base.exceptions import CommitError

from network.drivers import Target, open_driver

CONFIRM_IN = 90  # seconds a device waits for confirmation before it reverts by itself


@dataclass
class Outcome:
    hostname: str
    status: str  # unchanged | pending (diff only) | committed | rolled-back | failed
    diff: str = ""
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("unchanged", "pending", "committed")

    def as_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def diff(target: Target, intended: str, timeout: int = 30) -> Outcome:
    started = time.perf_counter()
    try:
        device = open_driver(target, timeout)
        try:
            device.load_replace_candidate(config=intended)
            text = device.compare_config()
            device.discard_config()
        finally:
            device.close()
    except Exception as exc:
        return Outcome(target.hostname, "failed", error=_error(exc), seconds=time.perf_counter() - started)
    status = "pending" if text else "unchanged"
    return Outcome(target.hostname, status, text, seconds=time.perf_counter() - started)


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

    def done(status: str, error: str = "", text: str = expected_diff) -> Outcome:
        return Outcome(target.hostname, status, text, error, time.perf_counter() - started)

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
    except Exception as exc:
        with contextlib.suppress(Exception):
            device.close()
        return done("failed", f"nothing committed: {_error(exc)}")
    try:
        device.commit_config(message="jinbao push", revert_in=confirm_in)
    except CommitError as exc:  # the device refused the change: undo it now
        with contextlib.suppress(Exception):
            device.rollback()
        return done("rolled-back", f"the device refused the commit: {_error(exc)}")
    except Exception:  # the session died under the change (management cut?): checked below
        pass
    finally:
        with contextlib.suppress(Exception):
            device.close()

    # a new session proves the management path survived the change
    deadline = time.monotonic() + max(5, confirm_in // 3)
    checker, problem = None, "unreachable over SSH after the commit"
    while time.monotonic() < deadline:
        try:
            checker = open_driver(target, min(timeout, 10))
            break
        except Exception as exc:
            problem = f"unreachable over SSH after the commit ({_error(exc)})"
            time.sleep(2)
    if checker is None:
        return _await_revert(target, confirm_in, started, problem, expected_diff, timeout)
    try:
        if not checker.has_pending_commit():  # its timer fired: the change had cut it off
            return done("rolled-back", "unreachable after the commit; the device reverted by itself")
        problem = _post_check(checker, intended)
        if problem is None:
            checker.confirm_commit()
            return done("committed")
        checker.rollback()
        return done("rolled-back", problem)
    except Exception as exc:
        try:
            checker.rollback()
        except Exception:
            return _await_revert(target, confirm_in, started, _error(exc), expected_diff, timeout)
        return done("rolled-back", _error(exc))
    finally:
        checker.close()


def _await_revert(target: Target, confirm_in: int, started: float, problem: str, text: str, timeout: int) -> Outcome:
    """The device is out of reach: its own timer reverts the commit; wait and check it answers."""
    deadline = time.monotonic() + confirm_in + 60
    while time.monotonic() < deadline:
        try:
            device = open_driver(target, min(timeout, 10))
        except Exception:
            time.sleep(3)
            continue
        try:
            if not device.has_pending_commit():
                return Outcome(
                    target.hostname,
                    "rolled-back",
                    text,
                    f"{problem}; the device reverted by itself",
                    time.perf_counter() - started,
                )
        finally:
            device.close()
        time.sleep(3)
    return Outcome(
        target.hostname,
        "failed",
        text,
        f"{problem}; and it did not come back after its revert timer",
        time.perf_counter() - started,
    )


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
        diffs = list(pool.map(lambda t: diff(t, intended[t.hostname]), targets))
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
