"""Rendered vendor configs parse with hier_config, and a change in intent remediates to exactly that change."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import GOLDEN, copy_inventory
from hier_config import WorkflowRemediation

from network import ipam
from network.model import load
from network.render import Renderer, load_secrets
from network.render.hier import parse

CASE = GOLDEN / "render" / "multivendor"
CONFIGS = sorted((CASE / "expected" / "configs").glob("*.cfg"))
assert len(CONFIGS) >= 6, "the golden vendor configs are missing: nothing to parse"


def platform_of(path: Path) -> str:
    """The golden inventory says which platform each device is."""
    sites = yaml.safe_load((CASE / "inventory" / "sites.yml").read_text())["sites"]
    slug = path.name.removesuffix("-r1.cfg")
    return next(s for s in sites if s["slug"] == slug)["devices"][0]["platform"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_vendor_config_parses_into_sections(path: Path) -> None:
    config = parse(platform_of(path), path.read_text())
    interfaces = [c for c in config.children if c.text.startswith("interface ")]
    assert interfaces, "no interface sections parsed"
    for interface in interfaces:
        children = [c.text for c in interface.children]
        assert any(t.startswith("ip address ") for t in children), f"{interface.text} lost its address: {children}"
    top = {c.text for c in config.children}
    assert "undo telnet server enable" in top
    assert not any(t.startswith("#") or t.startswith("!") for t in top), "comments must not become config lines"


def test_bandwidth_change_remediates_to_the_cost_only(tmp_path: Path) -> None:
    env = copy_inventory(CASE / "inventory", tmp_path / "env")
    sites_file = env / "sites.yml"
    data = yaml.safe_load(sites_file.read_text())
    feidong = next(s for s in data["sites"] if s["id"] == "feidong")
    feidong["uplinks"][0]["bandwidth"] = "100M"
    sites_file.write_text(yaml.safe_dump(data, allow_unicode=True))
    network = load(env, cache=False)
    allocations = ipam.read(CASE / "expected")
    plan = ipam.allocate(network, allocations)
    assert plan.changes == [], "a bandwidth change must not move any address"
    hefei = network.sites["hefei"]
    generated = Renderer(network, plan.allocations, load_secrets(env)).render(hefei, hefei.devices[0])
    running = (CASE / "expected" / "configs" / "hefei-r1.cfg").read_text()
    workflow = WorkflowRemediation(parse("h3c_comware", running), parse("h3c_comware", generated))
    remediation = [line.strip() for line in str(workflow.remediation_config).splitlines() if line.strip()]
    assert remediation[0] == "interface GigabitEthernet1/0/2"
    assert sorted(remediation[1:-1]) == ["description downlink feidong-r1 china-unicom mstp 100M", "ospf cost 100"]
    assert remediation[-1] == "quit", "Comware leaves a view with quit"
