"""`--apply`: a change set written and carried out, each step timed and recorded.

The files: the staged sites file replaced in one rename, then `jinbao plan --render`'s own
network.build.apply_plan writes allocations.yml and renders the devices the change touches;
what it writes must be the allocations the change set showed, else the files go back.

In the lab (the environment has lab state), onboarding then runs `jinbao lab up` (the new
router and its lines), gives the new router its day 0 (playbooks/router-day0.yml: the baseline
and frr_router roles: the management plane, FRR's daemons for its config and the rendered
config, as `make lab` gives every router: a push cannot start ospfd), pushes the routers its
lines land on and the new one with commit-confirm (network.push, as `jinbao push --limit ...
--yes`), has the DC firewalls take the township's LAN into the private WAN (zones.yml), and
verifies from the township's LAN: it reaches its province's data centre, and a clerk there
writes through web -> middleware -> database with the clerk's certificate (the DR drill's
clerk, network/dr/load.py). Offboarding goes the other way round: the routers stop using the
lines first (push), then `lab up` takes the router and its lines away, the lab must match the
model again, the firewalls let the LAN go, and the other townships must still reach their DC and the ministry.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from network import build, envstate, ipam, push, servers, zones
from network.errors import JinbaoError, LabError, Problem
from network.fileio import write_atomic
from network.ipam.conventions import gateway_of, ip_of
from network.onboard.plan import ChangeSet
from network.planned import planned

VERIFY_S = 60.0  # how long the township may take to reach its data centre (OSPF adjacencies form)
DAY0 = servers.REPO / "playbooks" / "router-day0.yml"
ZONES = servers.REPO / "playbooks" / "zones.yml"


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Run:
    """What --apply did, step by step; `say` tells the console as it goes."""

    changes: ChangeSet
    say: Callable[[str], None] = lambda _text: None
    started: float = field(default_factory=time.monotonic)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    steps: list[Step] = field(default_factory=list)
    pushed: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def step(self, name: str, action: Callable[[], str]) -> bool:
        """Run one step; a JinbaoError or a failed check ends it not ok, and the run stops there."""
        began = time.monotonic()
        self.say(f"{name} ...")
        try:
            detail, ok = action(), True
        except (JinbaoError, servers.AnsibleRunFailed, subprocess.TimeoutExpired, OSError, LookupError) as exc:
            detail, ok = str(exc), False
        self.steps.append(Step(name, ok, round(time.monotonic() - began, 1), detail))
        self.say(f"{name}: {'ok' if ok else 'FAILED'} in {self.steps[-1].seconds} s{f' ({detail})' if detail else ''}")
        return ok


def in_lab(env: Path) -> bool:
    return envstate.automation_key(env) is not None


def write_files(changes: ChangeSet, vault_password_file: Path | None = None) -> str:
    """The sites file, then allocations.yml and the configs by network.build.apply_plan."""
    env, path = changes.env, changes.env / changes.sites_label
    if path.read_text(encoding="utf-8") != changes.sites_before:
        raise JinbaoError(Problem(changes.sites_label, "", "", "changed since the change set was made; run it again"))
    write_atomic(path, changes.sites_after.encode(), mode=path.stat().st_mode & 0o777)
    try:
        run = build.apply_plan(
            env, prune_released=changes.action == "offboard", render=True, vault_password_file=vault_password_file
        )
        if run.refused is not None:
            raise run.refused
        written = (env / ipam.store.FILE).read_text(encoding="utf-8")
        if written != changes.allocations_after:
            raise JinbaoError(
                Problem("allocations.yml", "", "", "the plan differs from the change set shown; nothing is applied")
            )
    except BaseException:
        write_atomic(path, changes.sites_before.encode(), mode=path.stat().st_mode & 0o777)
        (env / ipam.store.FILE).write_text(changes.allocations_before, encoding="utf-8")
        raise
    rendered = len(run.rendered.written) if run.rendered else 0
    written = f"{changes.sites_label} and allocations.yml written ({len(run.changes)} change(s))"
    return f"{written}; {rendered} config(s) rendered"


def _topology(env: Path):
    from network.lab import topology

    network, allocations = planned(env)
    return network, allocations, topology.build(network, allocations, zones.load_if_any(env, network))


def lab_up(env: Path) -> str:
    from network.lab import runtime

    network, _allocations, topo = _topology(env)
    report = runtime.up(env, topo, network.settings, network.policy.debian_mirror)
    return "; ".join([*(f"+ {c}" for c in report.created), *(f"- {r}" for r in report.removed)]) or "nothing changed"


def day0(env: Path, hostname: str) -> str:
    """The new lab router's first converge, limited to it, as `make lab` gives every router: the
    management plane (the baseline role: sshd trusting the operator CA, which the push's
    certificate login needs, syslog, NTP, the level-3 rules the audit checks), then the
    frr_router role (FRR's daemons for its config, the rendered config: a push cannot start ospfd)."""
    report = servers.run_json(env.resolve(), DAY0, ["--limit", hostname], timeout=300)
    failed = [f"{h.hostname}: {h.error}" for h in servers.parse(report).values() if h.error]
    if failed or hostname not in servers.parse(report):
        raise LabError(f"playbooks/router-day0.yml --limit {hostname}: {'; '.join(failed) or 'the host did not run'}")
    return f"playbooks/router-day0.yml --limit {hostname}"


def firewalls(env: Path) -> str:
    """The DC firewalls take the private WAN's new addresses: zones.yml compiled and loaded on the
    lab's zone firewalls (playbooks/zones.yml, its compile and firewall plays only)."""
    limit = "localhost,firewalls"
    parsed = servers.parse(servers.run_json(env.resolve(), ZONES, ["--limit", limit], timeout=300))
    failed = [f"{h.hostname}: {h.error}" for h in parsed.values() if h.error]
    walls = sorted(h for h in parsed if h != "localhost")
    if failed or not walls:
        raise LabError(f"playbooks/zones.yml --limit {limit}: {'; '.join(failed) or 'no firewall ran'}")
    return f"playbooks/zones.yml --limit {limit}: {', '.join(walls)}"


def push_routers(run: Run, hostnames: list[str], vault_password_file: Path | None = None) -> str:
    """`jinbao push --limit <each> --yes`: diff, commit with commit-confirm, check, confirm."""
    outcomes = push.push_environment(
        run.changes.env, hostnames, check=False, confirm=lambda _diffs: True, vault_password_file=vault_password_file
    )
    run.pushed += [o.as_dict() for o in outcomes]
    failed = [f"{o.hostname}: {o.status} {o.error}".strip() for o in outcomes if not o.ok]
    if failed:
        raise LabError("; ".join(failed))
    return ", ".join(f"{o.hostname} {o.status}" + (f" ({o.safety_net})" if o.safety_net else "") for o in outcomes)


def _must_reach(network, allocations, site_id: str) -> list[tuple[str, str]]:
    """(what, address) the township must reach: its province's data centres' router loopbacks and
    the ministry's LAN (the same destinations the lab's WAN check pings)."""
    province = network.province_of(network.sites[site_id])
    found = []
    for site in network.sites.values():
        if site.tier == "datacenter" and site.dr_for is None and network.province_of(site) == province:
            for device in site.devices:
                found.append((f"{site.id} loopback", allocations.devices[f"{site.id}/{device.name}"]["loopback"]))
    for site in network.sites.values():
        if site.tier == "ministry" and site.id in allocations.sites:
            lan = allocations.sites[site.id]["lan"]
            found.append(("ministry LAN", ip_of(gateway_of(lan))))
    return found


def reaches_dc(env: Path, site_id: str, seconds: float = VERIFY_S) -> str:
    """Ping from the township's LAN address to its DCs and the ministry until they answer (or
    `seconds` pass)."""
    from network.dr.plan import drill_plan
    from network.lab.control import NodeControl

    network, allocations, topo = _topology(env)
    clerk = drill_plan(network, allocations, site_id)
    nodes = NodeControl(env, topo, network.settings)
    targets = _must_reach(network, allocations, site_id)
    if not targets:
        raise LabError(f"{site_id}: its province has no data centre to reach")
    deadline, began = time.monotonic() + seconds, time.monotonic()
    while True:
        ping = ["ping", "-c", "1", "-W", "2", "-I", clerk.clerk_source]
        missing = [f"{what} {a}" for what, a in targets if nodes.exec(clerk.clerk, [*ping, a])[0] != 0]
        if not missing:
            where = ", ".join(f"{what} {a}" for what, a in targets)
            return f"{clerk.clerk} ({clerk.clerk_source}) reaches {where} after {time.monotonic() - began:.1f} s"
        if time.monotonic() > deadline:
            where = f"{clerk.clerk} ({clerk.clerk_source})"
            raise LabError(f"{where} does not reach {', '.join(missing)} in {seconds:.0f} s")
        time.sleep(1)


def clerk_identity(env: Path, site_id: str) -> Future:
    """The township clerk's certificate from the CA, asked for at once (a playbook run of some
    seconds that needs nothing of the new router), in the background."""
    from network.dr.identity import clerk_certificate

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(clerk_certificate, env, f"clerk.{site_id}")
    pool.shutdown(wait=False)
    return future


def clerk_writes(env: Path, site_id: str, stamp: str, identity: Future) -> str:
    """One enrollment by the township's clerk (client certificate from the CA), acknowledged."""
    from network.dr import load as clerk
    from network.dr import measure
    from network.dr.identity import IdentityError
    from network.dr.plan import drill_plan
    from network.lab.control import NodeControl

    network, allocations, topo = _topology(env)
    plan = drill_plan(network, allocations, site_id)
    nodes = NodeControl(env, topo, network.settings)
    # one write a second at most, stopped at the first acknowledgement (the load retries a failed
    # write with its request id, so whatever is acknowledged was written once)
    load = clerk.Load(plan, f"/tmp/jinbao-onboard-{stamp}", f"onboard-{stamp}-", writes=30, seconds=30.0)
    try:
        command = clerk.prepare(nodes, load, identity.result(timeout=150))
    except IdentityError as exc:
        raise LabError(str(exc)) from None
    writing = threading.Thread(target=nodes.exec, args=(plan.clerk, command), daemon=True)
    writing.start()
    while writing.is_alive() and not any(a.acknowledged for a in measure.parse(clerk.read(nodes, load))[0]):
        time.sleep(0.3)
    clerk.stop(nodes, load)
    writing.join(timeout=clerk.TIMEOUT_S + 5)
    attempts = measure.parse(clerk.read(nodes, load))[0]
    nodes.exec(plan.clerk, ["rm", "-rf", load.directory])
    acknowledged = [a for a in attempts if a.acknowledged]
    if not acknowledged:
        said = ", ".join(sorted({a.status for a in attempts})) or "no attempt"
        raise LabError(f"the clerk's write from {plan.clerk} was not acknowledged ({said})")
    first = acknowledged[0]
    return (
        f"clerk.{site_id} enrolled one person through {plan.web_name} ({first.address}): "
        f"HTTP {first.status} in {first.seconds:.2f} s, request {first.id}"
    )


def lab_matches(env: Path) -> str:
    from network.lab import runtime

    _network, _allocations, topo = _topology(env)
    state = runtime.status(topo)
    if not state.ok:
        raise LabError(f"the lab does not match the model: missing {state.missing}, extra {state.extra}")
    return f"{len(topo.nodes)} nodes as the model says"


def neighbours_reach_dc(changes: ChangeSet, seconds: float = VERIFY_S) -> str:
    """After an offboarding, every other township under the routers whose lines changed still
    reaches its province's DC and the ministry (OSPF given `seconds` to settle)."""
    network = changes.network
    if network is None:
        raise LabError("the change set has no model after the change")
    upstream = {
        site.id for site, device in network.iter_devices() if network.hostname(site, device.name) in changes.upstream
    }
    townships = [s.id for s in network.sites.values() if s.tier == "township" and s.parent in upstream]
    if not townships:
        return "no other township under " + ", ".join(changes.upstream)
    return "; ".join(reaches_dc(changes.env, site_id, seconds) for site_id in townships)


def _firewalls(changes: ChangeSet) -> list[tuple[str, Callable[[], str]]]:
    """The firewalls' step, when the change set changes their rules."""
    if not changes.firewalls_change:
        return []
    return [("the DC firewalls take the private WAN's addresses", lambda: firewalls(changes.env))]


def _write_then(run: Run, vault_password_file: Path | None) -> bool:
    """The files first; the lab's steps only where there is a lab. Whether to go on."""
    written = run.step(
        "write sites.yml, allocations.yml, configs", lambda: write_files(run.changes, vault_password_file)
    )
    return written and in_lab(run.changes.env)


def _steps(run: Run, steps: list[tuple[str, Callable[[], str]]]) -> Run:
    for name, action in steps:
        if not run.step(name, action):
            break
    return run


def onboard(run: Run, vault_password_file: Path | None = None) -> Run:
    changes = run.changes
    env, new, stamp = changes.env, changes.new_router or "", run.started_at.strftime("%Y%m%dT%H%M%SZ")
    if not _write_then(run, vault_password_file):
        return run
    identity = clerk_identity(env, changes.site_id)  # meanwhile
    return _steps(
        run,
        [
            ("lab up: the router and its lines", lambda: lab_up(env)),
            (f"day 0 of {new} (baseline and frr_router roles)", lambda: day0(env, new)),
            ("push with commit-confirm", lambda: push_routers(run, [*changes.upstream, new], vault_password_file)),
            *_firewalls(changes),
            ("reaches its provincial DC and the ministry", lambda: reaches_dc(env, changes.site_id)),
            ("a clerk writes through the application", lambda: clerk_writes(env, changes.site_id, stamp, identity)),
        ],
    )


def offboard(run: Run, vault_password_file: Path | None = None) -> Run:
    changes, env = run.changes, run.changes.env
    if not _write_then(run, vault_password_file):
        return run
    return _steps(
        run,
        [
            ("push: the lines out of use", lambda: push_routers(run, changes.upstream, vault_password_file)),
            ("lab up: the router and its lines go", lambda: lab_up(env)),
            ("the lab matches the model", lambda: lab_matches(env)),
            *_firewalls(changes),
            (
                "the upstream routers' other townships reach their DC and the ministry",
                lambda: neighbours_reach_dc(changes),
            ),
        ],
    )
