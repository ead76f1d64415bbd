"""IPAM stability: what operators rely on when they add, grow or remove a site."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import edit_sites, remove_site

from network import ipam
from network.errors import IpamError
from network.model import load

TOWNSHIP = {
    "id": "xinzhen",
    "slug": "xinzhen",
    "name": "新镇",
    "tier": "township",
    "parent": "yiwu",
    "posts": 7,
    "uplinks": [
        {"carrier": "china-telecom", "type": "mstp", "bandwidth": "10M"},
        {"carrier": "china-mobile", "type": "4g", "bandwidth": "20M", "parent": "jinhua"},
    ],
}


def plan(env: Path) -> ipam.Plan:
    return ipam.allocate(load(env, cache=False), ipam.read(env))


def flatten(allocations: ipam.Allocations) -> dict[tuple[str, str], object]:
    sections = ("regions", "sites", "devices", "links", "zones", "hosts")
    return {(s, k): v for s in sections for k, v in allocations.section(s).items()}


def test_lab_allocations_are_current(lab: Path) -> None:
    assert plan(lab).changes == [], "inventories/lab/allocations.yml lags behind sites.yml: run jinbao plan"


@pytest.mark.parametrize("position", [0, 1, 7, -1], ids=["first", "second", "middle", "last"])
def test_inserting_a_township_anywhere_changes_no_existing_allocation(lab: Path, position: int) -> None:
    before = flatten(ipam.read(lab))
    edit_sites(lab, lambda sites: sites.insert(position if position >= 0 else len(sites), TOWNSHIP))
    result = plan(lab)
    after = flatten(result.allocations)
    assert {k: after[k] for k in before} == before, "an existing allocation moved"
    assert {c.action for c in result.changes} == {"added"}
    assert {(c.section, c.key) for c in result.changes} == {
        ("sites", "xinzhen"),
        ("devices", "xinzhen/r1"),
        ("links", "xinzhen:mstp"),
        ("links", "xinzhen:4g"),
    }


def test_removing_a_township_releases_only_its_own(lab: Path) -> None:
    before = flatten(ipam.read(lab))
    edit_sites(lab, remove_site("choucheng"))
    result = plan(lab)
    after = flatten(result.allocations)
    assert {c.action for c in result.changes} == {"released"}
    assert {k: before[k] for k in after} == after
    released = {("sites", "choucheng"), ("devices", "choucheng/r1"), ("links", "choucheng:mstp")}
    assert set(before) - set(after) == released


def test_re_adding_after_a_removal_reuses_freed_space_without_moving_others(lab: Path) -> None:
    edit_sites(lab, remove_site("choucheng"))
    ipam.write(lab, plan(lab).allocations)
    kept = flatten(ipam.read(lab))
    edit_sites(lab, lambda sites: sites.append(TOWNSHIP))
    after = flatten(plan(lab).allocations)
    assert {k: after[k] for k in kept} == kept
    assert after[("sites", "xinzhen")] == {"lan": "10.0.0.0/27"}, "first fit takes the freed LAN"


def test_a_growing_site_moves_only_its_own_lan(lab: Path) -> None:
    before = flatten(ipam.read(lab))

    def grow(sites):
        next(s for s in sites if s["id"] == "choucheng")["posts"] = 40

    edit_sites(lab, grow)
    result = plan(lab)
    assert [(c.action, c.section, c.key) for c in result.changes] == [("changed", "sites", "choucheng")]
    after = flatten(result.allocations)
    assert {k: v for k, v in after.items() if k != ("sites", "choucheng")} == {
        k: v for k, v in before.items() if k != ("sites", "choucheng")
    }


def test_a_shrinking_site_keeps_its_larger_lan(lab: Path) -> None:
    def shrink(sites):
        next(s for s in sites if s["id"] == "jinhua")["posts"] = 1

    edit_sites(lab, shrink)
    assert plan(lab).changes == [], "addresses never shrink under people"


def test_hand_edited_overlap_is_refused(lab: Path) -> None:
    text = (lab / "allocations.yml").read_text()
    fotang_lan = ipam.read(lab).sites["fotang"]["lan"]
    choucheng_lan = ipam.read(lab).sites["choucheng"]["lan"]
    edited = text.replace(f'"fotang": {{"lan": "{fotang_lan}"}}', f'"fotang": {{"lan": "{choucheng_lan}"}}')
    assert edited != text
    (lab / "allocations.yml").write_text(edited)
    with pytest.raises(IpamError, match=r"overlaps 'fotang' in pool zhejiang/lan-township"):
        plan(lab)


def test_allocations_survive_a_yaml_round_trip(lab: Path) -> None:
    """The file is plain YAML for other tools, though jinbao reads it as JSON lines."""
    text = (lab / "allocations.yml").read_text()
    assert yaml.safe_load(text)["devices"]["fotang/r1"] == ipam.read(lab).devices["fotang/r1"]


def test_ports_are_stable_per_device(lab: Path) -> None:
    before = ipam.read(lab).links
    edit_sites(lab, lambda sites: sites.insert(0, TOWNSHIP))
    after = plan(lab).allocations.links
    assert all(after[key]["ports"] == value["ports"] for key, value in before.items())
    used_on_yiwu = [v["ports"][1] for k, v in after.items() if k in ("choucheng:mstp", "fotang:mstp", "xinzhen:mstp")]
    assert len(set(used_on_yiwu)) == 3, "two lines on one port of the county router"


COUNTY = {
    "id": "dongyang",
    "slug": "dongyang",
    "name": "东阳市",
    "tier": "county",
    "parent": "jinhua",
    "posts": 12,
    "uplinks": [{"carrier": "china-telecom", "type": "mstp", "bandwidth": "50M"}],
}
COUNTY_TOWNSHIP = {
    "id": "wuning",
    "slug": "wuning",
    "name": "吴宁街道",
    "tier": "township",
    "parent": "dongyang",
    "posts": 5,
    "uplinks": [{"carrier": "china-telecom", "type": "mstp", "bandwidth": "10M"}],
}


def move(site_id: str, parent: str):
    return lambda sites: next(s for s in sites if s["id"] == site_id).update(parent=parent)


@pytest.mark.parametrize(
    ("moved", "new_parent", "bystander"),
    [("choucheng", "dongyang", "wuning:mstp"), ("choucheng", "jiangning", "dongshan:fibre")],
    ids=["same-province", "other-province"],
)
def test_moving_a_township_keeps_every_bystanders_port_and_address(
    lab: Path, moved: str, new_parent: str, bystander: str
) -> None:
    edit_sites(lab, lambda sites: sites.extend([COUNTY, COUNTY_TOWNSHIP]))  # a second county, planned
    ipam.write(lab, plan(lab).allocations)
    before = flatten(ipam.read(lab))
    # the moved line's old port on its old county is the one the bystander holds on the new county
    assert before[("links", f"{moved}:mstp")]["ports"][1] == before[("links", bystander)]["ports"][1]
    edit_sites(lab, move(moved, new_parent))
    result = plan(lab)
    after = flatten(result.allocations)
    mine = {("sites", moved), ("devices", f"{moved}/r1"), ("links", f"{moved}:mstp")}
    assert {k: after[k] for k in before if k not in mine} == {k: v for k, v in before.items() if k not in mine}
    assert {(c.section, c.key) for c in result.changes} <= mine
    on_new_parent = [v["ports"][1] for k, v in after.items() if k in (("links", bystander), ("links", f"{moved}:mstp"))]
    assert len(set(on_new_parent)) == 2, "two lines on one port of the new county router"
    assert after[("links", f"{moved}:mstp")]["ports"][0] == before[("links", f"{moved}:mstp")]["ports"][0], (
        "the moved router's own uplink port is kept"
    )
