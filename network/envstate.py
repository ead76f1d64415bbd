"""Local state kept beside an environment's inventory: ``inventories/<env>/.lab/`` (not in git).

`jinbao lab up` makes the automation account's SSH key and pins the nodes' host keys there;
`jinbao lab down` removes it. The drivers, Ansible (group_vars/managed/connection.yml) and
the lab's tests read them from here, so that production code never imports the lab.

The disaster-recovery records live in the repository's ``build/dr/<env>/`` instead (the dr/
playbooks write operations.jsonl and status.json there, `jinbao dr drill` its reports and
drills.jsonl): they are the environment's history, which `jinbao audit` shows, not lab state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def state_dir(env: Path) -> Path:
    """Per-environment state (SSH key, known_hosts): made by lab up, removed by lab down."""
    return Path(env) / ".lab"


def ssh_dir(env: Path) -> Path:
    return state_dir(env) / "ssh"


def restore_tests_dir(env: Path) -> Path:
    """The dated results of playbooks/restore-test.yml (one JSON each), which `jinbao audit` shows."""
    return state_dir(env) / "restore-tests"


def dr_dir(env: Path, root: Path | None = None) -> Path:
    """build/dr/<env>/ of the repository (`root`): env is the inventory directory's name, as the
    dr/ playbooks name it."""
    return (root or REPO) / "build" / "dr" / Path(env).resolve().name


def drill_history(env: Path, root: Path | None = None) -> Path:
    """One JSON line per drill of `jinbao dr drill`, oldest first."""
    return dr_dir(env, root) / "drills.jsonl"


@dataclass(frozen=True)
class AutomationKey:
    """The automation account's private key and the host keys it trusts (pinned, never learned)."""

    key_file: Path
    known_hosts: Path


def automation_key(env: Path) -> AutomationKey | None:
    """The key `jinbao lab up` made for this environment; None where there is none."""
    directory = ssh_dir(env)
    private = directory / "id_ed25519"
    return AutomationKey(private, directory / "known_hosts") if private.exists() else None
