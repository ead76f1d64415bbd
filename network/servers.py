"""Server drift for `jinbao audit`: the playbooks in check mode with --diff, per host.

Ansible is the source of a server's intended state (its roles), so "intended vs running"
for a server is what `ansible-playbook --check --diff` would change. The run's JSON
(ansible.posix.json callback) becomes one result per host: the tasks that would change
something, with their diffs (secret files show no content), or the host's failure. The
host's level-3 results (network/audit/hosts.py) join it in `compliance`.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = REPO / "playbooks" / "site.yml"


@dataclass
class HostDrift:
    hostname: str
    changes: list[dict] = field(default_factory=list)  # {task, diff}
    error: str = ""
    compliance: list = field(default_factory=list)  # compliance.RuleResult per level-3 rule
    checked: bool = True  # False: the playbooks' check mode does not cover it (the lab's firewalls)

    @property
    def noncompliant(self) -> list[str]:
        return [r.rule for r in self.compliance if r.failed]

    @property
    def clean(self) -> bool:
        return not self.changes and not self.error and not self.noncompliant

    def as_dict(self) -> dict:
        data = {**self.__dict__, "clean": self.clean, "noncompliant": self.noncompliant}
        data["compliance"] = [r.__dict__ | {"failed": r.failed} for r in self.compliance]
        return data


def _diff_text(diff) -> str:
    parts = diff if isinstance(diff, list) else [diff]
    lines = []
    for d in parts:
        if not isinstance(d, dict):
            continue
        if "prepared" in d:
            lines.append(str(d["prepared"]))
            continue
        header = d.get("after_header") or d.get("before_header") or ""
        before = str(d.get("before", "")).splitlines()
        after = str(d.get("after", "")).splitlines()
        lines += difflib.unified_diff(before, after, f"running {header}", f"intended {header}", lineterm="")
    return "\n".join(lines)


def parse(report: dict) -> dict[str, HostDrift]:
    """ansible.posix.json output → HostDrift per host."""
    hosts: dict[str, HostDrift] = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            name = task.get("task", {}).get("name", "")
            for host, result in task.get("hosts", {}).items():
                drift = hosts.setdefault(host, HostDrift(host))
                if result.get("unreachable") or result.get("failed"):
                    drift.error = drift.error or f"{name}: {result.get('msg', 'failed')}".strip()
                elif result.get("changed"):
                    diff = _diff_text(result.get("diff", []))
                    drift.changes.append({"task": name, "diff": diff})
    for host, stats in report.get("stats", {}).items():
        drift = hosts.setdefault(host, HostDrift(host))
        if stats.get("unreachable") and not drift.error:
            drift.error = "unreachable"
    return hosts


def check(env: Path, limit: str = "servers", playbook: Path = PLAYBOOK, timeout: int = 600) -> list[HostDrift]:
    """Run the playbook in check mode against the environment's servers."""
    try:
        report = run_json(env, playbook, ["--check", "--diff", "--limit", limit], timeout)
    except AnsibleRunFailed as exc:
        return [HostDrift("servers", error=f"ansible-playbook --check {exc}")]
    return sorted(parse(report).values(), key=lambda h: h.hostname)


class AnsibleRunFailed(Exception):
    """ansible-playbook gave no JSON report: its exit status and last line say why."""


def ansible_environment() -> dict[str, str]:
    """How the audit runs Ansible: this environment's binaries and ansible.cfg, JSON out."""
    bin_dir = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    }


def run_json(env: Path, playbook: Path, args: list[str], timeout: int = 600) -> dict:
    """ansible-playbook against the environment with the JSON callback: its report (per
    play, task and host), whatever the exit status; AnsibleRunFailed when there is none."""
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "ansible-playbook"), "-i", str(env), str(playbook), *args]
    done = subprocess.run(command, cwd=REPO, env=ansible_environment(), capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        message = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise AnsibleRunFailed(f"failed ({done.returncode}): {message[0]}") from None
