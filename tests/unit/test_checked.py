"""The rules across sites, run for added sites only, find what a check of every site finds."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import edit_sites

from network.errors import ModelError
from network.model import Network, checked, load
from network.model.network import children_of
from network.model.rules import check_tree
from network.model.schema import SiteSpec

R1 = [{"name": "r1", "role": "access", "platform": "frr"}]
LINE = [{"carrier": "ct", "type": "mstp", "bandwidth": "10M"}]


def township(site_id: str, parent: str = "yiwu", **fields) -> dict:
    base = {"id": site_id, "slug": site_id, "name": "新镇", "tier": "township", "parent": parent}
    return base | {"devices": R1, "uplinks": LINE} | fields


# (the sites added, where in the file they go: None at its end)
CASES = {
    "a township": ([township("xinzhen", insured=1000)], None),
    "a county and its township": (
        [township("lanxi", "jinhua", tier="county"), township("lanjiang", "lanxi")],
        None,
    ),
    "a slug taken, after its owner": ([township("xinzhen", slug="fotang")], None),
    "a slug taken, before its owner": ([township("xinzhen", slug="fotang")], 1),
    "a slug taken, before its owner, with other routers": (
        [township("xinzhen", slug="fotang", devices=[{**R1[0], "name": "r2"}])],
        1,
    ),
    "a hostname taken, after its owner": ([township("zj", devices=[{**R1[0], "name": "dc-r1"}])], None),
    "a hostname taken, before its owner": ([township("zj", devices=[{**R1[0], "name": "dc-r1"}])], 1),
    "a hostname taken by a server": ([township("zj", devices=[{**R1[0], "name": "dc-db1"}])], None),
    "a hostname taken by a server, before it": ([township("zj", devices=[{**R1[0], "name": "dc-db1"}])], 1),
    "two added sites, one hostname": (
        [township("ab", devices=[{**R1[0], "name": "c-r1"}]), township("ab-c")],
        None,
    ),
    "a second ministry": ([{"id": "m2", "slug": "m2", "name": "部", "tier": "ministry", "devices": R1}], None),
    "a second ministry, first in the file": (
        [{"id": "m2", "slug": "m2", "name": "部", "tier": "ministry", "devices": R1}],
        0,
    ),
    "its own parent": ([township("xinzhen", "xinzhen")], None),
    "a parent loop, and a site under it": (
        [township("a1", "a2"), township("a2", "a1"), township("a3", "a2")],
        None,
    ),
    "no such parent": ([township("xinzhen", "nowhere")], None),
    "a parent two tiers up": ([township("xinzhen", "jinhua")], None),
    "a line to nowhere, a line too high": (
        [township("xinzhen", uplinks=[*LINE, {**LINE[0], "parent": "nowhere"}])],
        None,
    ),
    "a backup on the province": ([township("xinzhen", uplinks=[*LINE, {**LINE[0], "parent": "zhejiang"}])], None),
    "a county's insured exceeded": (
        [township("lanxi", "jinhua", tier="county", insured=5000), township("lanjiang", "lanxi", insured=9000)],
        None,
    ),
    "a township's insured, its county stating none": (
        [township("xinzhen", "jiangning", insured=1000)],
        None,
    ),
    "a DR site for a township": (
        [township("zj-dr2", "zhejiang", tier="datacenter", dr_for="fotang", devices=[{**R1[0], "role": "border"}])],
        None,
    ),
    "a second DR site of the business DC, its servers missing": (
        [township("zj-dr2", "zhejiang", tier="datacenter", dr_for="zj-dc", devices=[{**R1[0], "role": "border"}])],
        None,
    ),
    "a router named twice, a village with a router": (
        [township("xinzhen", devices=R1 * 2), township("cun", "fotang", tier="village", uplinks=[])],
        None,
    ),
}


def with_added(network: Network, raws: list[dict], at: int | None) -> tuple[Network, list[str]]:
    """The network with these sites added to its sites file (at position `at`, or at its end)."""
    added = [SiteSpec.model_validate(raw).to_site() for raw in raws]
    items = list(network.sites.items())
    at = len(items) if at is None else at
    sites = dict(items[:at] + [(site.id, site) for site in added] + items[at:])
    files = {**network.site_files, **{site.id: "sites.yml" for site in added}}
    grown = dataclasses.replace(network, sites=sites, site_files=files, children=children_of(sites))
    grown._paths, grown._province = {}, {}
    return grown, [site.id for site in added]


@pytest.mark.parametrize("case", CASES)
def test_added_sites_alone_find_what_every_site_finds(lab: Path, case: str) -> None:
    raws, at = CASES[case]
    network, added = with_added(load(lab, cache=False), raws, at)
    everything = check_tree(network)
    assert check_tree(network, added) == everything
    fine = ("a township", "a county and its township", "a township's insured, its county stating none")
    assert bool(everything) == (case not in fine)


def test_a_county_whose_townships_all_state_theirs_gains_one(lab: Path) -> None:
    edit_sites(lab, lambda sites: next(s for s in sites if s["id"] == "yiwu").update(insured=64000))
    for insured in (None, 1000):
        network, added = with_added(load(lab, cache=False), [township("xinzhen", insured=insured)], None)
        assert check_tree(network, added) == check_tree(network)
    assert [p.where for p in check_tree(network)] == ["zhejiang/jinhua/yiwu"]


def appended(env: Path, *raws: dict) -> None:
    edit_sites(env, lambda sites: sites.extend(raws))


def spy(monkeypatch: pytest.MonkeyPatch) -> list:
    """What each load passed to check_tree as `added`."""
    seen: list = []

    def recorded(network, added=None):
        seen.append(added)
        return check_tree(network, added)

    monkeypatch.setattr(sys.modules["network.model.load"], "check_tree", recorded)
    return seen


def test_a_load_after_sites_were_added_checks_those(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy(monkeypatch)
    load(lab)
    load(lab)
    appended(lab, township("xinzhen"))
    assert "xinzhen" in load(lab).sites
    appended(lab, township("lanjiang", slug="fotang"))
    with pytest.raises(ModelError) as incremental:
        load(lab)
    with pytest.raises(ModelError) as full:
        load(lab, cache=False)
    assert seen == [None, [], ["xinzhen"], ["lanjiang"], None]
    assert incremental.value.problems == full.value.problems
    assert [p.field for p in full.value.problems] == ["slug"]


def test_anything_but_additions_checks_every_site(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy(monkeypatch)
    load(lab)
    edit_sites(lab, lambda sites: next(s for s in sites if s["id"] == "fotang").update(posts=5))
    load(lab)
    edit_sites(lab, lambda sites: sites.remove(next(s for s in sites if s["id"] == "fotang")))
    load(lab)
    (lab / "group_vars" / "all" / "zz-test.yml").write_text(yaml.safe_dump({"jinbao_business_site": None}))
    load(lab)
    load(lab)
    assert seen == [None, None, None, None, []]


def test_a_failed_check_is_not_remembered(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = spy(monkeypatch)
    load(lab)
    appended(lab, township("xinzhen", "nowhere"))
    with pytest.raises(ModelError):
        load(lab)
    edit_sites(lab, lambda sites: next(s for s in sites if s["id"] == "xinzhen").update(parent="yiwu"))
    load(lab)
    assert seen == [None, ["xinzhen"], ["xinzhen"]]
    assert checked.added_since(load(lab)) == []


def test_an_edit_that_adds_no_site_is_remembered_too(lab: Path) -> None:
    load(lab)
    (lab / "sites.yml").write_text((lab / "sites.yml").read_text() + "# a comment\n")
    network = load(lab)
    record = json.loads((lab / ".cache" / checked.STATE_FILE).read_text())
    assert record["files"] == network.file_digests  # the next load compares no site again
