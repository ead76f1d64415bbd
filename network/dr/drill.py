"""`jinbao dr drill`: a DR drill in the lab, measured by request id.

    load     the clerk's writes from a township (network/dr/load.py), bounded in count and time
    inject   switchover: dr/switchover.yml; failover: the business site's database and middleware
             containers' power cut (SIGKILL), then dr/failover.yml
    measure  RTO from the attempts log once the writes come back (network/dr/measure.py); RPO: the
             acknowledged request ids the primary does not hold, after the event and after return
    return   switchover: dr/switchover.yml again; failover: the containers started, dr/failback.yml
With `asynchronous`, dr/replication-mode.yml -e mode=async first and mode=sync at the end. Every
playbook runs with -e confirm=yes; their output goes to build/dr/<env>/<drill>.log.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from network import envstate
from network.dr import load as clerk
from network.dr import measure
from network.dr.identity import clerk_certificate
from network.dr.load import Load, Nodes
from network.dr.plan import DrillPlan
from network.errors import JinbaoError, LabError

KINDS = ("switchover", "failover")
BASELINE_ACKS, BASELINE_S = 3, 30.0  # acknowledged writes before anything is injected
SETTLE_ACKS = 3  # acknowledged writes after recovery before the load is stopped
QUIET_S = 10.0  # after the event's playbook, without a disruption seen: the event was seamless
SCHEMA = "pension"  # the application's schema (roles/pension_app)


class DrillRefused(JinbaoError):
    """A drill asked where it must not run: nothing was touched."""


class DrillError(JinbaoError):
    """The drill could not start (the load got no write through, a mode change failed)."""

    exit_code = 3


def refuse(env: Path, kind: str) -> None:
    """A drill of another kind than KINDS, or outside the lab, is refused before anything is touched."""
    if kind not in KINDS:
        raise DrillRefused(f"--kind {kind}: a drill is one of {', '.join(KINDS)}")
    if envstate.automation_key(env) is None:
        raise DrillRefused(
            f"{env}: no lab state ({envstate.state_dir(env)}): a drill injects failures into the lab's containers "
            "(stops the business site's database and middleware, moves the primary), so it runs in the lab only; "
            "bring it up with `make lab`"
        )


@dataclass(frozen=True)
class PlaybookRun:
    playbook: str
    args: list[str]
    rc: int
    seconds: float
    tail: str = ""


def run_playbook(env: Path, playbook: str, args: list[str], log: Path) -> PlaybookRun:
    """ansible-playbook -i <env> dr/<playbook> <args> from the repository; output appended to `log`."""
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "ansible-playbook"), "-i", str(Path(env).resolve()), f"dr/{playbook}", *args]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=envstate.REPO, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(command[1:])}\n{done.stdout}{done.stderr}\n")
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
    return PlaybookRun(f"dr/{playbook}", args, done.returncode, round(time.monotonic() - started, 1), tail)


def stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def iso(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Drill:
    env: Path
    plan: DrillPlan
    nodes: Nodes
    kind: str
    asynchronous: bool = False
    writes: int = 600
    seconds: float = 240.0
    runner: object = run_playbook
    identity: object = clerk_certificate  # (env, holder) -> the clerk's (key, certificate)
    root: Path | None = None  # where build/dr/ is (the repository)
    say: object = print
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    timeline: list[dict] = field(default_factory=list)
    playbooks: list[PlaybookRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    injected_at: float | None = None  # epoch s: the event's start (the outage is measured from it)

    @property
    def name(self) -> str:
        return f"drill-{stamp(self.started)}"

    def event(self, text: str) -> None:
        self.timeline.append({"at": iso(), "event": text})
        self.say(text)

    def playbook(self, playbook: str, *args: str) -> bool:
        self.event(f"running dr/{playbook} {' '.join(args)}")
        log = envstate.dr_dir(self.env, self.root) / f"{self.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        run = self.runner(self.env, playbook, [*args, "-e", "confirm=yes"], log)
        self.playbooks.append(run)
        self.event(f"dr/{playbook}: {'ok' if run.rc == 0 else f'failed ({run.rc})'} in {run.seconds} s")
        if run.rc != 0:
            self.problems.append(f"dr/{playbook} failed ({run.rc}); its output is in {log}")
        return run.rc == 0

    # --- the load -------------------------------------------------------------------------
    def _attempts(self, load: Load) -> list[measure.Attempt]:
        return measure.parse(clerk.read(self.nodes, load))[0]

    def _start(self, load: Load) -> threading.Thread:
        try:
            identity = self.identity(self.env, f"clerk.{self.plan.township}")
            command = clerk.prepare(self.nodes, load, identity)
        except LookupError as exc:
            raise DrillError(f"{self.plan.clerk}: {exc}") from None
        thread = threading.Thread(target=self.nodes.exec, args=(self.plan.clerk, command), daemon=True)
        thread.start()
        self.event(f"load started on {self.plan.clerk}: at most {self.writes} writes in {self.seconds:.0f} s")
        return thread

    def _baseline(self, load: Load, thread: threading.Thread) -> None:
        deadline = time.monotonic() + BASELINE_S
        while True:
            attempts = self._attempts(load)
            if sum(a.acknowledged for a in attempts) >= BASELINE_ACKS:
                self.event(f"{BASELINE_ACKS} writes acknowledged: the business system works")
                return
            if time.monotonic() >= deadline or not thread.is_alive():
                break
            time.sleep(1)
        why = measure.writes(attempts).why or {"no attempt logged": 1}
        raise DrillError(
            f"the clerk's writes are not acknowledged before anything is injected ({why}): "
            "the business system does not work from the township; nothing was injected"
        )

    def _settled(self, attempts: list[measure.Attempt], event_done: float) -> bool:
        window = measure.window(attempts, event_at=self.injected_at)
        if not window.disrupted:
            return time.time() - event_done >= QUIET_S
        if not window.recovered:
            return False
        return sum(1 for a in attempts if a.acknowledged and a.start >= window.first_ack_after) >= SETTLE_ACKS

    def _finish_load(self, load: Load, thread: threading.Thread, event_done: float) -> list[measure.Attempt]:
        while thread.is_alive() and not self._settled(self._attempts(load), event_done):
            time.sleep(1)
        clerk.stop(self.nodes, load)
        thread.join(timeout=clerk.TIMEOUT_S + 5)
        attempts, unreadable = measure.parse(clerk.read(self.nodes, load))
        if unreadable:
            self.problems.append(f"{unreadable} line(s) of the attempts log could not be read")
        self.event(f"load stopped: {len(attempts)} attempts")
        return attempts

    # --- the event and the return ---------------------------------------------------------
    def _inject(self) -> bool:
        if self.kind == "switchover":
            return self.playbook("switchover.yml")
        for host in self.plan.lost_in_failover:
            self.event(f"cutting the power of {host} ({self.nodes.container(host)})")
            self.nodes.kill(host)
            self.stopped.append(host)
        return self.playbook("failover.yml")

    def _restart_stopped(self) -> None:
        for host in list(self.stopped):
            try:
                if not self.nodes.running(host):
                    self.event(f"starting {host} again")
                    self.nodes.start(host)
                self.stopped.remove(host)
            except JinbaoError as exc:
                self.problems.append(f"{host} could not be started again: {exc}")

    def _return(self) -> bool:
        if self.kind == "switchover":
            return self.playbook("switchover.yml")
        self._restart_stopped()
        return self.playbook("failback.yml")

    # --- RPO --------------------------------------------------------------------------------
    def _psql(self, host: str, sql: str) -> tuple[int, str, str]:
        return self.nodes.exec(host, ["psql", "-d", self.plan.db_name, "-XAtc", sql], user="postgres")

    def primary(self) -> str | None:
        for host in self.plan.db_hosts:
            if self.nodes.running(host) and self._psql(host, "SELECT pg_is_in_recovery()")[1].strip() == "f":
                return host
        return None

    def check(self, after: str, prefix: str, acknowledged: list[str]) -> dict:
        """The acknowledged request ids the primary does not hold."""
        host = self.primary()
        if host is None:
            return {"after": after, "primary": "", "missing": [], "error": "no database answers as the primary"}
        code, out, err = self._psql(host, f"SELECT request_id FROM {SCHEMA}.requests WHERE request_id LIKE '{prefix}%'")
        if code != 0:
            return {"after": after, "primary": host, "missing": [], "error": f"psql on {host}: {err.strip()}"}
        missing = measure.lost(acknowledged, set(out.split()))
        self.event(f"after {after}: {len(missing)} of {len(acknowledged)} acknowledged writes missing on {host}")
        return {"after": after, "primary": host, "missing": missing, "error": ""}

    # --- the whole drill ------------------------------------------------------------------
    def run(self) -> dict:
        """Run the drill; its report (see report())."""
        refuse(self.env, self.kind)
        load = Load(self.plan, f"/tmp/jinbao-{self.name}", f"{self.name}-", self.writes, self.seconds)
        self.event(f"{self.kind} drill of {self.plan.environment} ({self.mode}) starts")
        if self.asynchronous and not self.playbook("replication-mode.yml", "-e", "mode=async"):
            raise DrillError("dr/replication-mode.yml -e mode=async failed: nothing was injected")
        try:
            attempts, checks, returned = self._measured(load)
        finally:
            clerk.stop(self.nodes, load)
            self._restart_stopped()
            if self.asynchronous:
                self.playbook("replication-mode.yml", "-e", "mode=sync")
        return self.report(attempts, checks, returned)

    @property
    def mode(self) -> str:
        return "async" if self.asynchronous else "sync"

    def _measured(self, load: Load) -> tuple[list[measure.Attempt], list[dict], bool | None]:
        thread = self._start(load)
        self._baseline(load, thread)
        self.injected_at = time.time()
        injected = self._inject()
        attempts = self._finish_load(load, thread, time.time())
        acknowledged = measure.writes(attempts).acknowledged
        checks = [self.check(f"the {self.kind}", load.prefix, acknowledged)]
        returned = self._return() if injected or self.kind == "failover" else None
        checks.append(self.check("the return", load.prefix, acknowledged))
        return attempts, checks, returned

    def report(self, attempts: list[measure.Attempt], checks: list[dict], returned: bool | None) -> dict:
        """`returned`: the return's playbook passed (None: not run, the event's playbook failed first)."""
        window, counted = measure.window(attempts, event_at=self.injected_at), measure.writes(attempts)
        lost_ids = [i for i in counted.acknowledged if any(i in c["missing"] for c in checks)]
        self.problems += [c["error"] for c in checks if c["error"]]
        back = returned is not False and checks[-1]["primary"] == self.plan.db_hosts[0]
        if not back:
            where = checks[-1]["primary"] or "none"
            self.problems.append(f"after the drill the primary is {where}, not {self.plan.db_hosts[0]}")
        ok = window.recovered and back and (not lost_ids or self.asynchronous) and all(not c["error"] for c in checks)
        answered = {self.plan.hosts_by_address.get(a, a or "?"): n for a, n in counted.answered_by.items()}
        return {
            "drill": self.name,
            "environment": self.plan.environment,
            "kind": self.kind,
            "mode": self.mode,
            "started": iso(self.started),
            "finished": iso(),
            "client": {
                "township": self.plan.township,
                "router": self.plan.clerk,
                "source": self.plan.clerk_source,
                "name": self.plan.web_name,
                "name_servers": list(self.plan.name_servers),
            },
            "bounds": {"writes": self.writes, "seconds": self.seconds},
            "stall_s": measure.STALL_S,
            "rto_s": window.rto_s,
            "rto_at_least_s": window.rto_at_least_s,
            "recovered": window.recovered,
            "window": {
                "event_at": self.injected_at,
                **{k: v for k, v in window.__dict__.items() if k not in ("recovered", "rto_s", "rto_at_least_s")},
            },
            "acknowledged": len(counted.acknowledged),
            "lost": len(lost_ids),
            "rpo": {"lost_ids": lost_ids, "checks": checks},
            "writes": {**counted.__dict__, "acknowledged": len(counted.acknowledged), "answered_by": answered},
            "back_to_normal": back,
            "ok": ok,
            "problems": self.problems,
            "timeline": self.timeline,
            "playbooks": [run.__dict__ for run in self.playbooks],
            "attempts": [a.__dict__ for a in attempts],
        }


def lab_nodes_needed(plan: DrillPlan) -> list[str]:
    """The nodes a drill touches: the clerk, the web and database hosts, the failover's victims."""
    return sorted({plan.clerk, *plan.web_hosts, *plan.db_hosts, *plan.lost_in_failover})


def check_nodes(nodes: Nodes, plan: DrillPlan) -> None:
    """Every node the drill touches is running before anything is injected."""
    down = [n for n in lab_nodes_needed(plan) if not nodes.running(n)]
    if down:
        raise LabError(f"not running: {', '.join(down)}; a drill starts from a healthy lab (jinbao lab status)")
