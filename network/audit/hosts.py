"""Level-3 rules on the Linux hosts that are not routers: the servers, and the lab's firewalls
and gatekeepers (every node the baseline role manages besides the FRR routers, which the
device audit reads over its own session).

Ansible reaches these hosts in every environment (its inventory, keys and certificates), so
the rules' reads go through it: `ansible-inventory` gives each host the variables the
baseline applied (its collectors, time servers, management address), the rules' commands
are rendered from them exactly as for a router, and playbooks/level3-read.yml runs them as
root on each host in one shell, changing nothing. Each host is then evaluated against the
`linux` checks of network/rules/level3.yml with the environment's waivers.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from network import compliance
from network.errors import JinbaoError, Problem
from network.model import Network
from network.servers import REPO, AnsibleRunFailed, ansible_environment, run_json

PLATFORM = "linux"
GROUPS = ("servers", "firewalls", "gatekeepers")
PLAYBOOK = REPO / "playbooks" / "level3-read.yml"


@dataclass(frozen=True)
class LinuxHost:
    hostname: str
    site: str
    context: dict  # what its rules are rendered with


def inventory(env: Path, network: Network, timeout: int = 120) -> list[LinuxHost]:
    """The environment's Linux hosts besides the routers, from its Ansible inventory, each
    with the context its rules render with (`network`: the environment's planned model)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(env), "--list"],
        cwd=REPO,
        env=ansible_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise JinbaoError(Problem(str(env), "", "ansible-inventory", f"failed ({done.returncode}): {last}"))
    listed = json.loads(done.stdout)
    names = sorted({h for g in GROUPS for h in _members(listed, g)})
    hostvars = listed.get("_meta", {}).get("hostvars", {})
    return [LinuxHost(n, hostvars[n].get("jinbao_site", ""), context(network, n, hostvars[n])) for n in names]


def _members(listed: dict, group: str) -> set[str]:
    """A group's hosts, its children's included (ansible-inventory --list nests them)."""
    entry = listed.get(group, {})
    found = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        found |= _members(listed, child)
    return found


def context(network: Network, hostname: str, hostvars: dict) -> dict:
    """A Linux host's level-3 context: the management policy a router's config carries, from
    the variables the baseline applied, and the node's own rules (hardening). `forward`: the
    collectors and time servers other than the host itself (a collector keeps its own logs)."""
    from network.render.context import management_users

    missing = [v for v in ("ansible_host", "jinbao_management_network") if not hostvars.get(v)]
    if missing:
        raise JinbaoError(Problem("inventory", hostname, ", ".join(missing), "is not set; the baseline needs it"))
    policy = network.policy
    prefix = network.addressing.management.supernet.split("/")[1]
    own = hostvars.get("jinbao_address")
    syslog, ntp = list(hostvars.get("jinbao_syslog") or []), list(hostvars.get("jinbao_ntp") or [])
    return {
        "hostname": hostname,
        "site": {"id": hostvars.get("jinbao_site", "")},
        "management": {
            "address": f"{hostvars['ansible_host']}/{prefix}",
            "acl": hostvars["jinbao_management_network"],
            "users": management_users(policy),
            "lockout": {"attempts": policy.login_lockout.attempts, "minutes": policy.login_lockout.block_minutes},
            "snmp": {"user": policy.snmp.user, "group": policy.snmp.group},
        },
        "syslog": syslog,
        "ntp": ntp,
        "forward": {"syslog": [a for a in syslog if a != own], "ntp": [a for a in ntp if a != own]},
        "banner": policy.banner,
        "hardening": policy.host_hardening.model_dump(mode="json"),
    }


def selected(hosts: list[LinuxHost], limit: list[str] | None) -> list[LinuxHost]:
    """The hosts `limit` names (hostname or site id globs; every one: None)."""
    if not limit:
        return hosts
    return [h for h in hosts if any(fnmatch(h.hostname, p) or fnmatch(h.site, p) for p in limit)]


def sources(rules: list[compliance.Rule], host: LinuxHost) -> list[str]:
    """The distinct commands the rules read on this host, rendered with its context."""
    found: dict[str, None] = {}
    for rule in rules:
        for check in rule.checks.get(PLATFORM, ()):
            items = compliance.lookup(host.context, check.each) if check.each else [None]
            for item in items:
                found[compliance.render(check.source, host.context, item)] = None
    return list(found)


def script(commands: list[str], marker: str) -> str:
    """One shell script printing each command's output (stderr too) after its own marker line
    (on a line of its own even when the output before it has no final newline)."""
    return "".join(f"printf '\\n%s\\n' '{marker} {i}'\n{{ {command}\n}} 2>&1\n" for i, command in enumerate(commands))


def split(stdout: str, commands: list[str], marker: str) -> dict[str, str]:
    """The script's output, per command; a command whose marker never came is missing."""
    outputs: dict[str, str] = {}
    current: int | None = None
    lines: list[str] = []
    for line in stdout.split("\n"):
        if line.startswith(marker + " "):
            if current is not None:
                outputs[commands[current]] = "\n".join(lines).rstrip("\n")
            current, lines = int(line.split()[-1]), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        outputs[commands[current]] = "\n".join(lines).rstrip("\n")
    return outputs


def read(env: Path, wanted: dict[str, list[str]], timeout: int = 600) -> dict[str, dict[str, str] | str]:
    """Run each host's commands there (playbooks/level3-read.yml, as root, nothing changed):
    host → {command: output}, or host → the error that kept it from answering."""
    if not wanted:
        return {}
    marker = f"@@jinbao-level3-{uuid.uuid4().hex}@@"
    scripts = {host: base64.b64encode(script(cmds, marker).encode()).decode() for host, cmds in wanted.items()}
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="jinbao-level3-") as extra:
        json.dump({"jinbao_level3_scripts": scripts}, extra)
        extra.flush()
        try:
            report = run_json(env, PLAYBOOK, ["--limit", ",".join(sorted(wanted)), "-e", f"@{extra.name}"], timeout)
        except AnsibleRunFailed as exc:
            return {host: f"ansible-playbook {PLAYBOOK.name} {exc}" for host in wanted}
    results: dict[str, dict[str, str] | str] = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("unreachable") or result.get("failed"):
                    results[host] = str(result.get("msg") or "failed").strip()
                elif "stdout" in result and host in wanted:
                    results[host] = split(result["stdout"], wanted[host], marker)
    for host in wanted:
        results.setdefault(host, "not in the read's results")
    return results


def audit(
    env: Path,
    hosts: list[LinuxHost],
    rules: list[compliance.Rule],
    waivers: list[compliance.Waiver],
) -> dict[str, list[compliance.RuleResult]]:
    """Each host's level-3 results; a host that could not be read errs on every rule."""
    wanted = {h.hostname: sources(rules, h) for h in hosts}
    outputs = read(env, wanted)
    results = {}
    for host in hosts:
        got = outputs[host.hostname]
        if isinstance(got, str):
            results[host.hostname] = [
                compliance.RuleResult(r.id, r.title, "error", [f"cannot read the host: {got}"])
                for r in rules
                if PLATFORM in r.checks
            ]
            continue

        def answer(source: str, got: dict[str, str] = got) -> str:
            if source not in got:
                raise LookupError(f"`{source}` gave no output")
            return got[source]

        results[host.hostname] = compliance.evaluate(
            rules, PLATFORM, host.context, answer, host.hostname, host.site, waivers
        )
    return results
