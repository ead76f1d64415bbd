"""Server drift for `jinbao audit`: the playbooks in check mode with --diff, per host.

Ansible is the source of a server's intended state (its roles), so "intended vs running"
for a server is what `ansible-playbook --check --diff` would change. The run's JSON
(ansible.posix.json callback) becomes one result per host: the tasks that would change
something, with their diffs (secret files show no content), or the host's failure.
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

    @property
    def clean(self) -> bool:
        return not self.changes and not self.error

    def as_dict(self) -> dict:
        return {**self.__dict__, "clean": self.clean}


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
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "ansible-playbook"),
        "-i",
        str(env),
        str(playbook),
        "--check",
        "--diff",
        "--limit",
        limit,
    ]
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    }
    done = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout)
    try:
        report = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        message = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return [HostDrift("servers", error=f"ansible-playbook --check failed ({done.returncode}): {message[0]}")]
    return sorted(parse(report).values(), key=lambda h: h.hostname)
