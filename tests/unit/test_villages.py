"""Villages (docs/addressing.md): access points of their townships, a /30 each, from the province's
lan-village pool and then from blocks of the villages supernet; the plan fits the country."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from conftest import NATIONAL_PLAN, edit_sites
from typer.testing import CliRunner

from network import ipam
from network.capacity import line_loads
from network.cli import app
from network.errors import IpamError, ModelError
from network.generate import PROVINCES, generate_national, village_counts
from network.ipam import incremental
from network.ipam.conventions import gateway_of
from network.ipam.pools import size_of
from network.ipam.store import SECTIONS
from network.model import load
from network.model.capacity import CapacityRule
from network.model.schema import AddressPlan
from network.render import Renderer, load_secrets


def village(number: int, parent: str = "choucheng", **extra) -> dict:
    site = {"id": f"v{number}", "slug": f"v{number}", "name": f"第{number}村", "tier": "village", "parent": parent}
    return site | {"posts": 1} | extra


def add_villages(env: Path, numbers: range, parent: str = "choucheng") -> None:
    edit_sites(env, lambda sites: sites.extend(village(n, parent) for n in numbers))


def plan(env: Path) -> ipam.Plan:
    return ipam.allocate(load(env, cache=False), ipam.read(env))


def tiny_village_space(env: Path) -> None:
    """The national plan, but a lan-village pool of one village and a villages supernet of two
    one-village blocks. A placeholder keeps every later pool where it was (pools are carved in
    order), so the lab's allocations hold."""
    data = yaml.safe_load(NATIONAL_PLAN.read_text())
    pools = data["provinces"]["pools"]
    index = next(n for n, p in enumerate(pools) if p["name"] == "lan-village")
    pools[index : index + 1] = [
        {"name": "lan-village", "prefixlen": 30, "allocate": 30},
        {"name": "placeholder", "prefixlen": 18, "allocate": 32},
    ]
    data["villages"] = {"supernet": "100.64.0.0/29", "prefixlen": 30, "allocate": 30}
    data["management"] = {"supernet": "172.24.0.0/24"}
    (env / "addressing.yml").write_text(yaml.safe_dump(data, sort_keys=False))


# --- the national plan fits -------------------------------------------------------------


def test_the_national_plan_fits_the_largest_province_and_the_country() -> None:
    """Capacity computed from inventories/national/addressing.yml against the generator's counts."""
    plan = AddressPlan.model_validate(yaml.safe_load(NATIONAL_PLAN.read_text()))
    villages = plan.villages
    assert villages is not None, "the national plan has no villages supernet"
    per_village = size_of(villages.allocate)
    in_province = size_of(next(p for p in plan.provinces.pools if p.name == "lan-village").prefixlen) // per_village
    per_block = size_of(villages.prefixlen) // per_village
    blocks = size_of(int(villages.supernet.split("/")[1])) // size_of(villages.prefixlen)
    counts = village_counts()
    assert 485_000 <= sum(counts.values()) <= 495_000 and max(counts.values()) >= 30_000
    needed = {slug: math.ceil(max(0, count - in_province) / per_block) for slug, count in counts.items()}
    assert sum(needed.values()) <= blocks // 2, f"the country takes {sum(needed.values())} of {blocks} blocks"
    largest = max(counts.values())
    assert in_province + (blocks - sum(needed.values()) + max(needed.values())) * per_block >= 2 * largest, (
        "the largest province cannot double its villages"
    )
    # one village: its gateway and the clerk's PC
    assert size_of(villages.allocate) - 2 >= 2


def test_the_villages_supernet_is_disjoint_from_the_rest(lab: Path) -> None:
    data = yaml.safe_load(NATIONAL_PLAN.read_text())
    data["villages"]["supernet"] = "172.24.0.0/16"
    (lab / "addressing.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(IpamError, match=r"addressing.yml: management.supernet .* overlaps villages.supernet"):
        plan(lab)


def test_a_village_block_smaller_than_a_village_is_refused(lab: Path) -> None:
    data = yaml.safe_load(NATIONAL_PLAN.read_text())
    data["villages"] |= {"prefixlen": 30, "allocate": 29}
    (lab / "addressing.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ModelError, match=r"addressing.yml: villages.* prefixlen /30 is smaller than one village's /29"):
        load(lab, cache=False)


# --- allocation: the province's pool, then blocks, and a clear refusal when all is full ----


def test_villages_fill_the_province_pool_then_take_blocks_and_then_are_refused(lab: Path) -> None:
    tiny_village_space(lab)
    add_villages(lab, range(1, 4))
    result = plan(lab)
    lans = {f"v{n}": result.allocations.sites[f"v{n}"]["lan"] for n in range(1, 4)}
    assert lans["v1"].startswith("10.") and lans["v1"].endswith("/30"), "the province's own pool first"
    assert [lans["v2"], lans["v3"]] == ["100.64.0.0/30", "100.64.0.4/30"]
    assert result.allocations.regions["zhejiang/villages-1"] == "100.64.0.0/30"
    assert result.allocations.regions["zhejiang/villages-2"] == "100.64.0.4/30"
    ipam.write(lab, result.allocations)
    add_villages(lab, range(4, 5))
    with pytest.raises(IpamError) as refused:
        plan(lab)
    assert str(refused.value).startswith(
        "addressing.yml: zhejiang/jinhua/yiwu/choucheng/v4: villages.supernet 100.64.0.0/29 has no /30 left "
        "for the villages of 'zhejiang' (2 block(s) of theirs are full); enlarge villages.supernet"
    )


def test_without_a_villages_supernet_a_full_pool_is_refused_as_before(lab: Path) -> None:
    tiny_village_space(lab)
    data = yaml.safe_load((lab / "addressing.yml").read_text())
    del data["villages"]
    (lab / "addressing.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    add_villages(lab, range(1, 3))
    with pytest.raises(IpamError, match=r"choucheng/v2: pool zhejiang/lan-village \(10\.\S+/30\) is full"):
        plan(lab)


# --- stability -----------------------------------------------------------------------------


def test_adding_villages_moves_nothing_and_blocks_stay_put(lab: Path) -> None:
    before = {(s, k): v for s in SECTIONS for k, v in ipam.read(lab).section(s).items()}
    tiny_village_space(lab)
    add_villages(lab, range(1, 3))
    first = plan(lab)
    after = {(s, k): v for s in SECTIONS for k, v in first.allocations.section(s).items()}
    assert {k: after[k] for k in before} == before, "a village moved an existing allocation"
    ipam.write(lab, first.allocations)
    # a village inserted before the others, in another township: the recorded ones and the block stay
    edit_sites(lab, lambda sites: sites.insert(0, village(9, parent="fotang")))
    second = plan(lab)
    for key in ("v1", "v2"):
        assert second.allocations.sites[key] == first.allocations.sites[key]
    assert second.allocations.regions["zhejiang/villages-1"] == "100.64.0.0/30"
    assert second.allocations.sites["v9"]["lan"] == "100.64.0.4/30"
    assert {(c.action, c.section, c.key) for c in second.changes} == {
        ("added", "sites", "v9"),
        ("added", "regions", "zhejiang/villages-2"),
    }


def test_villages_added_are_planned_incrementally_exactly_as_in_full(lab: Path) -> None:
    tiny_village_space(lab)
    add_villages(lab, range(1, 3))
    assert CliRunner().invoke(app, ["plan", str(lab)]).exit_code == 0
    add_villages(lab, range(3, 4), parent="fotang")
    fast, how = incremental.plan(load(lab), ipam.read(lab))
    full = ipam.allocate(load(lab, cache=False), ipam.read(lab))
    assert how == "incremental"
    assert (fast.allocations, fast.changes) == (full.allocations, full.changes)
    assert full.allocations.regions["zhejiang/villages-2"] == "100.64.0.4/30"


def test_a_townships_router_is_its_villages_gateway_and_the_province_announces_their_blocks(lab: Path) -> None:
    tiny_village_space(lab)
    add_villages(lab, range(1, 3))
    network = load(lab, cache=False)
    allocations = ipam.allocate(network, ipam.read(lab)).allocations
    renderer = Renderer(network, allocations, load_secrets(lab))
    contexts = renderer.contexts(["choucheng-r1", "zhejiang-r1", "ministry-r1"])
    villages = [i for i in contexts["choucheng-r1"]["interfaces"] if i["kind"] == "village"]
    lans = [allocations.sites[f"v{n}"]["lan"] for n in (1, 2)]
    assert lans[1] == "100.64.0.0/30"
    assert [(i["vlan"], i["address"], i["ospf"]["passive"]) for i in villages] == [
        (200, gateway_of(lans[0]), True),
        (201, "100.64.0.1/30", True),
    ]
    zhejiang = allocations.regions["zhejiang"]
    assert contexts["zhejiang-r1"]["bgp"]["networks"] == [zhejiang, "100.64.0.0/30"]
    to_zhejiang = next(n for n in contexts["ministry-r1"]["bgp"]["neighbors"] if n["description"] == "zhejiang-r1")
    assert to_zhejiang["accept"] == [zhejiang, "100.64.0.0/30"]


# --- what a village is -----------------------------------------------------------------------


def test_a_village_with_a_router_or_a_line_is_refused(lab: Path) -> None:
    router = [{"name": "r1", "role": "access", "platform": "frr"}]
    line = [{"carrier": "china-mobile", "type": "4g", "bandwidth": "10M"}]
    edit_sites(lab, lambda sites: sites.extend([village(1, devices=router), village(2, uplinks=line)]))
    with pytest.raises(ModelError) as refused:
        load(lab, cache=False)
    text = str(refused.value)
    assert "sites.yml: zhejiang/jinhua/yiwu/choucheng/v1: devices a village is an access point" in text
    assert "sites.yml: zhejiang/jinhua/yiwu/choucheng/v2: uplinks a village is an access point" in text


def test_a_village_with_more_than_one_clerk_is_refused_naming_its_posts(lab: Path) -> None:
    edit_sites(lab, lambda sites: sites.append(village(1, posts=2)))
    with pytest.raises(IpamError, match=r"sites.yml: zhejiang/jinhua/yiwu/choucheng/v1: posts 2 post\(s\)"):
        plan(lab)


def test_a_village_rides_its_townships_line(lab: Path) -> None:
    rule = CapacityRule()

    def carried() -> int:
        loads = line_loads(load(lab, cache=False).sites, rule)
        return next(line.carried_kbps for line in loads if line.site == "choucheng" and not line.backup)

    before = carried()
    add_villages(lab, range(1, 4))
    assert carried() == before + 3 * rule.post_kbps


# --- the generator ---------------------------------------------------------------------------


def test_generate_villages_gives_the_countrys_and_the_largest_provinces_count(tmp_path: Path) -> None:
    counts = generate_national(tmp_path / "national", villages=True)
    assert 485_000 <= counts["village"] <= 495_000
    files = tmp_path / "national/sites"
    sizes = {p.stem: p.read_text().count("tier: village") for p in files.glob("*-villages.yml")}
    assert len(sizes) == len(PROVINCES) and max(sizes.values()) >= 30_000
    assert sizes["sichuan-villages"] == max(sizes.values())
    assert sum(village_counts().values()) == counts["village"]


def test_villages_leave_the_tree_where_it_was(tmp_path: Path) -> None:
    generate_national(tmp_path / "plain", scale=0.03)
    generate_national(tmp_path / "villages", scale=0.03, villages=True)
    ids = {}
    for name in ("plain", "villages"):
        network_sites = (tmp_path / name / "sites").glob("*.yml")
        ids[name] = {
            site["id"]
            for path in network_sites
            for site in yaml.safe_load(path.read_text())["sites"]
            if site["tier"] != "village"
        }
    assert ids["plain"] == ids["villages"]
    assert not list((tmp_path / "plain/sites").glob("*-villages.yml"))


def test_a_small_country_with_villages_validates_and_plans(tmp_path: Path) -> None:
    env = tmp_path / "national"
    counts = generate_national(env, scale=0.03, villages=True)
    (env / "addressing.yml").write_text(NATIONAL_PLAN.read_text())
    network = load(env, cache=False)
    result = ipam.allocate(network, ipam.Allocations())
    lans = [result.allocations.sites[s.id]["lan"] for s in network.sites.values() if s.tier == "village"]
    assert len(lans) == counts["village"] and all(lan.endswith("/30") for lan in lans)
