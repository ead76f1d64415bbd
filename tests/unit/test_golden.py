"""netlab's golden style: an input topology and its expected configs; error cases and their messages."""

from __future__ import annotations

import json
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import GOLDEN, NATIONAL_PLAN, copy_inventory
from golden import compare_text, compare_tree

from network import ipam
from network.errors import JinbaoError
from network.ipam.store import dumps
from network.model import load
from network.render import Renderer, load_secrets

RENDER_CASES = sorted(p.name for p in (GOLDEN / "render").iterdir() if p.is_dir())
ERROR_CASES = sorted(p.name for p in (GOLDEN / "errors").iterdir() if p.is_dir())
assert RENDER_CASES and len(ERROR_CASES) >= 9, "golden cases are missing"


@pytest.mark.parametrize("case", RENDER_CASES)
def test_render_golden(case: str, tmp_path: Path) -> None:
    source = GOLDEN / "render" / case
    env = copy_inventory(source / "inventory", tmp_path / case)
    network = load(env, cache=False)
    plan = ipam.allocate(network, ipam.Allocations())
    compare_text(dumps(plan.allocations), source / "expected" / "allocations.yml")
    out = tmp_path / "out"
    Renderer(network, plan.allocations, load_secrets(env)).render_all(out)
    compare_tree(out, source / "expected" / "configs")


def error_inventory(case: str, tmp_path: Path) -> Path:
    source = GOLDEN / "errors" / case
    env = tmp_path / case
    env.mkdir()
    for name in ("sites.yml", "addressing.yml", "allocations.yml"):
        if (source / name).exists():
            shutil.copy(source / name, env / name)
    if not (env / "addressing.yml").exists():
        shutil.copy(NATIONAL_PLAN, env / "addressing.yml")
    return env


@contextmanager
def time_limit(seconds: float):
    """Fail instead of hanging: a parent loop once made load() walk ancestors forever."""

    def expired(_signum, _frame):
        raise TimeoutError(f"no answer within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error_golden(case: str, tmp_path: Path) -> None:
    env = error_inventory(case, tmp_path)
    with time_limit(5), pytest.raises(JinbaoError) as caught:
        network = load(env, cache=False)
        ipam.allocate(network, ipam.read(env))
    compare_text("".join(f"{p}\n" for p in caught.value.problems), GOLDEN / "errors" / case / "expected.txt")


CONTEXT_CASE = "multivendor"  # every tier, every vendor, a dual-homed township and a DC


def test_render_context_golden(multivendor_contexts: dict[str, dict], tmp_path: Path) -> None:
    """The routing design as data: each device's render context (device_context), as sorted
    YAML under tests/golden/context/<case>/expected/, so a design change reads as a diff of values."""
    for hostname, context in multivendor_contexts.items():
        plain = json.loads(json.dumps(context))  # tuples as lists, as YAML has them
        (tmp_path / f"{hostname}.yml").write_text(yaml.safe_dump(plain, sort_keys=True, allow_unicode=True))
    compare_tree(tmp_path, GOLDEN / "context" / CONTEXT_CASE / "expected")
