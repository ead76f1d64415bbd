"""An audit run: every selected device read and compared with its intent and the level-3
rules, the servers checked by the playbooks in check mode meanwhile, the latest restore test
of the backups and the DR drill history read, the reports written.

`run_audit(env, ...)` is the whole of `jinbao audit` without its console: the command only
prints the returned `AuditRun` and maps it to an exit code.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from network import compliance, fleet
from network import servers as server_check
from network.audit import drills as dr_drills
from network.audit import hosts as linux_hosts
from network.audit import passwords as password_ages
from network.audit import restore
from network.audit.diff import drift, remediation
from network.audit.reports import write_reports
from network.drivers import Target, by_password, matches, open_driver
from network.envstate import automation_key
from network.errors import JinbaoError, Problem
from network.model import Network
from network.platforms import scrub
from network.servers import HostDrift


@dataclass
class DeviceAudit:
    hostname: str
    platform: str
    drift: dict[str, list[str]] = field(default_factory=dict)
    remediation: str = ""
    error: str = ""
    seconds: float = 0.0
    compliance: list[compliance.RuleResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the device said beside its output (stderr)

    @property
    def noncompliant(self) -> list[str]:
        return [r.rule for r in self.compliance if r.failed]

    @property
    def clean(self) -> bool:
        return not self.drift and not self.error and not self.noncompliant

    def as_dict(self) -> dict:
        data = {**self.__dict__, "clean": self.clean, "noncompliant": self.noncompliant}
        data["compliance"] = [r.__dict__ | {"failed": r.failed} for r in self.compliance]
        return data


@dataclass(frozen=True)
class Policy:
    """What the devices are held to besides their intended config."""

    rules: list[compliance.Rule] = field(default_factory=list)
    waivers: list[compliance.Waiver] = field(default_factory=list)
    contexts: dict[str, dict] = field(default_factory=dict)  # hostname → render context


def audit_device(target: Target, intended: str, policy: Policy = Policy(), timeout: int = 30) -> DeviceAudit:
    started = time.perf_counter()
    result = DeviceAudit(target.hostname, target.platform)
    try:
        device = open_driver(target, timeout)
        try:
            running = scrub(target.platform, device.get_config(retrieve="running")["running"])
            wanted = scrub(target.platform, intended)  # secrets are compared by neither side
            result.drift = drift(wanted, running)
            if result.drift:
                result.remediation = remediation(target.platform, device, running, intended, wanted)
            context = policy.contexts.get(target.hostname)
            if policy.rules and context is not None:

                def read(source: str) -> str:
                    return running if source == "running" else device.cli([source])[source]

                result.compliance = compliance.evaluate(
                    policy.rules, target.platform, context, read, target.hostname, context["site"]["id"], policy.waivers
                )
        finally:
            result.warnings = list(getattr(device, "warnings", []))
            device.close()
    except Exception as exc:  # reported per device; the audit goes on
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def audit(
    targets: list[Target], intended: dict[str, str], policy: Policy = Policy(), workers: int = 16, timeout: int = 30
) -> list[DeviceAudit]:
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        return list(pool.map(lambda t: audit_device(t, intended[t.hostname], policy, timeout), targets))


@dataclass
class AuditRun:
    environment: str
    devices: list[DeviceAudit]
    servers: list[HostDrift]  # empty: not checked
    reports: dict[str, str]  # json, junit, html → path
    seconds: float
    restore_test: dict | None = None  # the latest restore test of the backups; None: none on record
    drills: list[dict] = field(default_factory=list)  # the DR drill history, newest first
    passwords: list[password_ages.PasswordAge] = field(default_factory=list)  # the vault's, by account

    @property
    def ok(self) -> bool:
        return (
            all(r.clean for r in self.devices)
            and all(h.clean for h in self.servers)
            and not any(p.stale for p in self.passwords)
        )

    @property
    def failed(self) -> bool:
        """A device or server could not be audited."""
        return any(r.error for r in self.devices) or any(h.error for h in self.servers)

    @property
    def findings(self) -> bool:
        """Drift, a non-compliant device or host, a server the playbooks would change, or a
        password older than the policy."""
        return (
            any(r.drift or r.noncompliant for r in self.devices)
            or any(h.changes or h.noncompliant for h in self.servers)
            or any(p.stale for p in self.passwords)
        )

    def as_dict(self) -> dict:
        devices, servers = [r.as_dict() for r in self.devices], [h.as_dict() for h in self.servers]
        return {
            "ok": self.ok,
            "reports": self.reports,
            "devices": devices,
            "servers": servers,
            "restore_test": self.restore_test,
            "dr_drills": self.drills,
            "passwords": [p.as_dict() for p in self.passwords],
        }


def run_audit(
    env: Path,
    limit: list[str] | None = None,
    out_dir: Path | None = None,
    vault_password_file: Path | None = None,
    servers: bool = True,
) -> AuditRun:
    """Audit the devices and servers `limit` selects (hostname or site id globs; every one:
    None; `servers` False: devices only) and write the reports (default build/audit/<env>).
    Servers are the playbooks' check mode and the level-3 rules on every Linux host besides
    the routers (the lab's firewalls and gatekeepers too: network/audit/hosts.py).
    A limit that names neither a device nor a server (one the audit would check) is refused."""
    selected = fleet.select(env, limit, vault_password_file, some=False)
    renderer = selected.renderer()
    intended = renderer.render_hosts(selected.hostnames)
    rules = compliance.load_rules()
    network = selected.network
    hardening = network.policy.host_hardening.model_dump(mode="json")
    contexts = {h: c | {"hardening": hardening} for h, c in renderer.contexts(selected.hostnames).items()}
    policy = Policy(rules, compliance.load_waivers(env, rules), contexts)
    checked = servers_named(network, limit) if servers else []
    linux = linux_hosts.selected(linux_hosts.inventory(env, network), limit) if servers else []
    if limit and not selected.targets and not checked and not linux:
        what = "device or server" if servers else "device"
        raise JinbaoError(Problem("sites.yml", "", "--limit", f"matches no {what}: {', '.join(limit)}"))
    started = time.perf_counter()
    hosts: list[HostDrift] = []
    level3: dict[str, list[compliance.RuleResult]] = {}
    with ThreadPoolExecutor(max_workers=2) as background:  # while the devices are audited
        checking = reading = None
        if checked:
            scope = "servers" if not limit else ",".join(with_peers(network, checked))
            checking = background.submit(server_check.check, env, scope)
        if linux:
            reading = background.submit(linux_hosts.audit, env, linux, rules, policy.waivers)
        results = audit(selected.targets, intended, policy)
        if checking is not None:
            hosts = checking.result()
        if reading is not None:
            level3 = reading.result()
    if limit:  # a server named but absent from the check's results was not checked: never clean
        hosts = [h for h in hosts if h.hostname in checked]  # a peer ran as context only
        came_back = {h.hostname for h in hosts}
        hosts += [HostDrift(n, error="not in the playbooks' check results") for n in checked if n not in came_back]
    hosts = _with_level3(hosts, level3)
    target = out_dir or Path("build") / "audit" / network.name
    restore_test, drills = restore.latest(env), dr_drills.history(env)
    reports = write_reports(
        network.name, results, target, policy.waivers, hosts, restore_test=restore_test, drills=drills
    )
    max_age = network.policy.host_hardening.password.max_age_days
    key = automation_key(env)
    held = any(by_password(key, device.platform) for _, device in network.iter_devices())
    passwords = password_ages.audit(env, max_age, vault_password_file, devices_hold_accounts=held)
    password_ages.add_to_reports(reports, passwords)
    return AuditRun(
        network.name, results, hosts, reports, time.perf_counter() - started, restore_test, drills, passwords
    )


def _with_level3(hosts: list[HostDrift], level3: dict[str, list[compliance.RuleResult]]) -> list[HostDrift]:
    """Each host's level-3 results joined to its check-mode result; a host only the rules
    cover (the lab's firewalls and gatekeepers) is marked as not checked by the playbooks."""
    by_name = {h.hostname: h for h in hosts}
    for hostname, results in level3.items():
        by_name.setdefault(hostname, HostDrift(hostname, checked=False)).compliance = results
    return sorted(by_name.values(), key=lambda h: h.hostname)


# Roles whose hosts converge only together: postgresql_replication reads the other
# database's state, pgBackRest's two ends read each other's keys, in the same run.
CONVERGED_TOGETHER = ("database", "backup")


def with_peers(network: Network, hostnames: list[str]) -> list[str]:
    """The servers to run in check mode for `hostnames`: a database or backup host with every
    other host of those roles (each refuses to go on without its peers' state); the check
    changes nothing on any of them, and only `hostnames` are reported."""
    tier = [
        network.hostname(site, host.name)
        for site in network.sites.values()
        for host in site.hosts
        if host.role in CONVERGED_TOGETHER
    ]
    if not set(hostnames) & set(tier):
        return list(hostnames)
    return list(hostnames) + [h for h in tier if h not in hostnames]


def servers_named(network: Network, limit: list[str] | None) -> list[str]:
    """The model's servers `limit` names (every one: None), by hostname."""
    return [
        network.hostname(site, host.name)
        for site in network.sites.values()
        for host in site.hosts
        if not limit or any(matches(network.hostname(site, host.name), site, pattern) for pattern in limit)
    ]
