"""The national inventory: real scale, real skew, deterministic."""

from __future__ import annotations

from pathlib import Path

from conftest import NATIONAL_PLAN

from network import ipam
from network.generate import generate_national
from network.model import load


def test_real_scale_and_skew(tmp_path: Path) -> None:
    counts = generate_national(tmp_path / "national")
    assert counts["province"] == 31
    assert 320 <= counts["city"] <= 345
    assert 2_800 <= counts["county"] <= 2_900
    assert 38_000 <= counts["township"] <= 39_000
    sizes = {p.stem: p.read_text().count("tier: township") for p in (tmp_path / "national/sites").glob("*.yml")}
    assert max(sizes.values()) >= 3_000 and sizes["sichuan"] == max(sizes.values())
    assert min(sizes.values()) < 300, "some provinces are far smaller than others"


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    generate_national(tmp_path / "a", scale=0.05)
    generate_national(tmp_path / "b", scale=0.05)
    files = sorted((tmp_path / "a/sites").glob("*.yml"))
    assert len(files) == 32, "the ministry and 31 provinces"
    for path in files:
        assert path.read_bytes() == (tmp_path / "b/sites" / path.name).read_bytes()


def test_a_small_country_validates_and_plans(tmp_path: Path) -> None:
    env = tmp_path / "national"
    generate_national(env, scale=0.03)
    (env / "addressing.yml").write_text(NATIONAL_PLAN.read_text())
    network = load(env, cache=False)
    plan = ipam.allocate(network, ipam.Allocations())
    assert len(plan.allocations.devices) == sum(len(s.devices) for s in network.sites.values())
    assert len(plan.allocations.regions) == 32
