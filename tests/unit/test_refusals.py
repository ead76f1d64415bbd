"""Intent that must be refused: exit 2, the file, site and field named, nothing written.

The messages themselves are golden cases (tests/golden/errors/<case>); these tests hold the
commands to what they do with them.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, NATIONAL_PLAN
from typer.testing import CliRunner

from network.cli import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def error_case(case: str, tmp_path: Path) -> Path:
    source, env = GOLDEN / "errors" / case, tmp_path / case
    env.mkdir()
    for name in ("sites.yml", "addressing.yml"):
        shutil.copy(source / name if (source / name).exists() else NATIONAL_PLAN, env / name)
    return env


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("case", ["parent-loop", "parent-loop-backup-line"])
def test_validate_refuses_a_parent_loop_instead_of_hanging(case: str, tmp_path: Path) -> None:
    """It once walked the loop forever, growing a list until the kernel killed it."""
    env = error_case(case, tmp_path)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "network.cli", "validate", str(env)],
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("jinbao validate did not return within 60 s")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "makes a parent loop" in done.stderr and "nothing was written" in done.stderr
