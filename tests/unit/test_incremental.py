"""Incremental planning gives exactly what the full planner gives, and only runs when it may."""

from __future__ import annotations

from pathlib import Path

from conftest import NATIONAL_PLAN, edit_sites, remove_site
from typer.testing import CliRunner

from network import ipam
from network.cli import app
from network.generate import generate_national
from network.ipam import incremental
from network.model import load

NEW_SITES = [
    {
        "id": "xinzhen",
        "slug": "xinzhen",
        "name": "新镇",
        "tier": "township",
        "parent": "yiwu",
        "posts": 9,
        "uplinks": [
            {"carrier": "ct", "type": "mstp", "bandwidth": "10M"},
            {"carrier": "cm", "type": "4g", "bandwidth": "20M", "parent": "jinhua"},
        ],
    },
    {
        "id": "lanxi",
        "slug": "lanxi",
        "name": "兰溪市",
        "tier": "county",
        "parent": "jinhua",
        "posts": 12,
        "uplinks": [{"carrier": "ct", "type": "mstp", "bandwidth": "50M"}],
    },
    {
        "id": "lanjiang",
        "slug": "lanjiang",
        "name": "兰江街道",
        "tier": "township",
        "parent": "lanxi",
        "posts": 3,
        "uplinks": [{"carrier": "ct", "type": "fibre", "bandwidth": "20M"}],
    },
    {
        "id": "jh-dc",
        "slug": "jh-dc",
        "name": "金华备份机房",
        "tier": "datacenter",
        "parent": "jinhua",
        "uplinks": [{"carrier": "ct", "type": "fibre", "bandwidth": "1G"}],
        "hosts": [{"name": "bak1", "role": "backup", "zone": "ops", "provides": ["ntp"]}],
    },
]


def planned(env: Path) -> None:
    result = CliRunner().invoke(app, ["plan", str(env), "--prune"])
    assert result.exit_code == 0, result.output


def both(env: Path) -> tuple[ipam.Plan, str, ipam.Plan]:
    network, previous = load(env), ipam.read(env)
    fast, how = incremental.plan(network, previous)
    return fast, how, ipam.allocate(load(env, cache=False), ipam.read(env))


def test_added_sites_are_planned_incrementally_and_exactly_as_in_full(lab: Path) -> None:
    planned(lab)
    edit_sites(lab, lambda sites: sites.extend(NEW_SITES))
    fast, how, full = both(lab)
    assert how == "incremental"
    assert fast.allocations == full.allocations
    assert fast.changes == full.changes and len(fast.changes) > 10


def test_inserted_in_the_middle_too(lab: Path) -> None:
    planned(lab)
    edit_sites(lab, lambda sites: [sites.insert(3, site) for site in reversed(NEW_SITES[:1])])
    fast, how, full = both(lab)
    assert (how, fast.allocations, fast.changes) == ("incremental", full.allocations, full.changes)


def test_nothing_changed_is_recognised(lab: Path) -> None:
    planned(lab)
    fast, how, full = both(lab)
    assert how == "unchanged" and fast.changes == full.changes == []


def test_a_removal_or_an_edit_plans_in_full(lab: Path) -> None:
    planned(lab)
    edit_sites(lab, remove_site("choucheng"))
    assert both(lab)[1] == "full"
    planned(lab)
    edit_sites(lab, lambda sites: next(s for s in sites if s["id"] == "fotang").update(posts=5))
    assert both(lab)[1] == "full"


def test_another_version_of_the_files_format_plans_in_full(lab: Path, monkeypatch) -> None:
    planned(lab)
    edit_sites(lab, lambda sites: sites.extend(NEW_SITES))
    monkeypatch.setattr(incremental, "_format_digest", lambda: "another version of store.py")
    assert both(lab)[1] == "full"


def test_a_hand_edited_allocations_file_plans_in_full(lab: Path) -> None:
    planned(lab)
    path = lab / "allocations.yml"
    path.write_text(path.read_text() + "\n")
    edit_sites(lab, lambda sites: sites.extend(NEW_SITES))
    assert both(lab)[1] == "full"


def test_incremental_equals_full_on_a_generated_country(tmp_path: Path) -> None:
    env = tmp_path / "national"
    generate_national(env, scale=0.04)
    (env / "addressing.yml").write_text(NATIONAL_PLAN.read_text())
    planned(env)
    province = env / "sites" / "zhejiang.yml"
    county = next(
        line.split("id: ")[1].split(",")[0] for line in province.read_text().splitlines() if "tier: county" in line
    )
    city = county.rsplit("-", 1)[0]
    province.write_text(
        province.read_text()
        + f"  - {{id: {county}-t900, slug: {county}-t900, name: 新乡镇, tier: township, parent: {county}, posts: 4,\n"
        + "     devices: [{name: r1, role: access, platform: huawei_vrp}],\n"
        + "     uplinks: [{carrier: ct, type: mstp, bandwidth: 10M},\n"
        + f"       {{carrier: cm, type: 4g, bandwidth: 20M, parent: {city}}}]}}\n"
    )
    fast, how, full = both(env)
    assert how == "incremental"
    assert fast.allocations == full.allocations and fast.changes == full.changes


def test_added_lines_go_where_a_full_write_puts_them(lab: Path) -> None:
    """store.dumps_added: the text of the allocations plus some, equal to dumps() of them all;
    first and last in a section, several in one place, a section opening, a key there already."""
    whole = ipam.read(lab)
    text = ipam.store.dumps(whole)
    for name in ("sites", "devices", "links", "zones", "hosts"):
        keys = sorted(whole.section(name))
        fewer = ipam.Allocations(**{s: dict(whole.section(s)) for s in ipam.store.SECTIONS})
        taken = keys[:2] + keys[len(keys) // 2 : len(keys) // 2 + 3] + keys[-2:]
        removed = {key: fewer.section(name).pop(key) for key in reversed(taken)}  # in no particular order
        assert ipam.store.dumps_added(ipam.store.dumps(fewer), {name: removed}) == text
        emptied = ipam.Allocations(**{s: dict(whole.section(s)) for s in ipam.store.SECTIONS if s != name})
        assert ipam.store.dumps_added(ipam.store.dumps(emptied), {name: whole.section(name)}) == text
    key = next(iter(whole.sites))
    assert ipam.store.dumps_added(text, {"sites": {key: whole.sites[key]}}) is None
    not_ours = text.replace('\n  "', "\n  '")  # not the shape dumps writes
    assert ipam.store.dumps_added(not_ours, {"sites": {"zz": {"lan": "10.0.0.0/24"}}}) is None


def test_an_incremental_plan_writes_what_a_full_one_would(lab: Path) -> None:
    planned(lab)
    edit_sites(lab, lambda sites: sites.extend(NEW_SITES))
    fast, how, full = both(lab)
    assert how == "incremental" and fast.text == ipam.store.dumps(full.allocations)
    planned(lab)
    fast, how, _full = both(lab)
    assert how == "unchanged" and fast.base == incremental.digest((lab / "allocations.yml").read_bytes())
