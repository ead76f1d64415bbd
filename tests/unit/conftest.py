"""Shared fixtures: throw-away copies of inventories, so tests never touch the repository."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "inventories" / "lab"
NATIONAL_PLAN = REPO / "inventories" / "national" / "addressing.yml"
GOLDEN = REPO / "tests" / "golden"
UPDATE_GOLDEN = os.environ.get("JINBAO_UPDATE_GOLDEN") == "1"


def copy_inventory(source: Path, target: Path) -> Path:
    """Copy an inventory, and the national plan its addressing.yml builds on, keeping their relative places."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".cache", ".lab"))
    addressing = target / "addressing.yml"
    base = (yaml.safe_load(addressing.read_text()) or {}).get("base") if addressing.exists() else None
    if base:
        (target / base).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / base, target / base)
    return target


def record_rotations(env: Path) -> Path:
    """A rotations.yml saying every password of env's vault was set just now, so that an audit
    of a test inventory finds its passwords within the policy (network/audit/passwords.py)."""
    import datetime as dt

    from network.audit.passwords import vault_accounts

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    accounts = {a: {"group": g, "when": now, "by": "tests", "how": "fixture"} for a, g in vault_accounts(env).items()}
    (env / "rotations.yml").write_text(yaml.safe_dump({"accounts": accounts}))
    return env


def edit_sites(env: Path, change) -> None:
    """Apply change(list of site mappings) to env/sites.yml, as a person editing the file would."""
    path = env / "sites.yml"
    data = yaml.safe_load(path.read_text())
    change(data["sites"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def remove_site(site_id: str):
    return lambda sites: sites.remove(next(s for s in sites if s["id"] == site_id))


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A private copy of inventories/lab, allocations included."""
    return copy_inventory(LAB, tmp_path / "lab")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run with the temporary directory as cwd, so build/ lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def multivendor_contexts(tmp_path_factory) -> dict[str, dict]:
    """Render contexts of the golden multivendor case's devices (VRP, Comware, FRR)."""
    from network import ipam
    from network.model import load
    from network.render import Renderer, load_secrets

    env = copy_inventory(GOLDEN / "render" / "multivendor" / "inventory", tmp_path_factory.mktemp("mv") / "inv")
    network = load(env, cache=False)
    plan = ipam.allocate(network, ipam.Allocations())
    renderer = Renderer(network, plan.allocations, load_secrets(env))
    return renderer.contexts([network.hostname(s, d.name) for s, d in network.iter_devices()])
