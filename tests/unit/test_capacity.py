"""`jinbao capacity`: lines against the need of the posts and insured people behind them.

The expected figures are worked by hand from the rule's defaults (256 kbit/s a post, 100 bit/s
a participant, 50 % of the insured participate; minimums: township 2M, county 20M, city 100M,
province 1G), not taken from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import NATIONAL_PLAN, edit_sites
from typer.testing import CliRunner

from network.capacity import capacity_report
from network.cli import app
from network.generate import generate_national
from network.model import load

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def site(sites: list[dict], site_id: str) -> dict:
    return next(s for s in sites if s["id"] == site_id)


# (site, line, to, carries, needs, status) for every line of the lab; kbit/s
LAB_LINES = [
    ("zhejiang", "mpls-vpn", "ministry", 0, 1_000_000, "ok"),  # its posts go to zj-dc, under it
    ("zj-dc", "fibre", "zhejiang", 34_688, 34_688, "ok"),  # zhejiang 7,680 + jinhua 16,768 + hangzhou 10,240
    ("jinhua", "mstp", "zhejiang", 16_768, 100_000, "ok"),  # 25 posts 6,400 + yiwu 10,368
    ("hangzhou", "mstp", "zhejiang", 10_240, 100_000, "ok"),  # 40 posts
    ("zj-dr", "fibre", "hangzhou", 0, None, "not sized"),  # replication
    ("yiwu", "mstp", "jinhua", 10_368, 20_000, "ok"),  # 18 posts 4,608 + 2,836 + 2,924
    ("choucheng", "mstp", "yiwu", 2_836, 2_836, "ok"),  # 6 posts 1,536 + 26,000 insured 1,300
    ("fotang", "mstp", "yiwu", 2_924, 2_924, "ok"),  # 4 posts 1,024 + 38,000 insured 1,900
    ("fotang", "4g", "jinhua", None, 2_000, "ok"),  # the township minimum (its posts: 1,024)
    ("jiangsu", "mpls-vpn", "ministry", 24_628, 1_000_000, "ok"),  # no DC in Jiangsu: on to the ministry
    ("nanjing", "mstp", "jiangsu", 16_948, 100_000, "ok"),
    ("jiangning", "mstp", "nanjing", 9_268, 20_000, "ok"),
    ("dongshan", "fibre", "jiangning", 4_148, 4_148, "ok"),  # 8 posts 2,048 + 42,000 insured 2,100
]


def test_the_lab_table(lab: Path) -> None:
    result = run("capacity", lab, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = [
        (r["site"], r["line"], r["parent"], r["carried_kbps"], r["need_kbps"], r["status"]) for r in report["lines"]
    ]
    assert rows == LAB_LINES
    assert report["ok"] is True
    assert report["summary"] == {
        "sites": 11,
        "lines": 13,
        "below": 0,
        "backups_below": 0,
        "insured": 106_000,
        "need_kbps": 7_680 * 2 + 6_400 + 10_240 + 4_608 + 2_836 + 2_924 + 7_680 + 5_120 + 4_148 + 10_240,
    }


def test_the_table_for_people(lab: Path) -> None:
    result = run("capacity", lab)
    assert result.exit_code == 0, result.output
    assert "zhejiang/jinhua/yiwu/fotang" in result.stdout and "4g (backup)" in result.stdout
    assert "0 line(s) below need, 0 backup(s) below the township minimum" in result.stdout


def test_a_line_below_need_and_a_backup_below_minimum_exit_1(lab: Path) -> None:
    def change(sites: list[dict]) -> None:
        site(sites, "choucheng")["insured"] = 300_000  # 1,536 + 15,000 over a 10M line
        site(sites, "fotang")["uplinks"][1]["bandwidth"] = "1M"  # a 4G backup under the 2M minimum

    edit_sites(lab, change)
    result = run("capacity", lab, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    below = {(r["site"], r["line"]): r["need_kbps"] for r in report["lines"] if r["status"] == "below need"}
    assert below == {("choucheng", "mstp"): 16_536, ("fotang", "4g"): 2_000}
    assert report["ok"] is False and report["summary"]["below"] == 1 and report["summary"]["backups_below"] == 1
    table = run("capacity", lab)
    assert table.exit_code == 1
    first = next(line for line in table.stdout.splitlines() if "below need" in line)
    assert "fotang" in first, "the tightest first: 2M asked of 1M before 16.5M of 10M"


def test_a_county_figure_is_spread_over_its_townships_by_posts(lab: Path) -> None:
    def change(sites: list[dict]) -> None:
        for township in ("choucheng", "fotang"):
            del site(sites, township)["insured"]
        site(sites, "yiwu")["insured"] = 100_001

    edit_sites(lab, change)
    insured = {s.id: s.insured for s in capacity_report(load(lab, cache=False)).sites}
    assert (insured["choucheng"], insured["fotang"], insured["yiwu"]) == (60_001, 40_000, 0)  # 6 : 4 posts


def test_a_township_stating_its_own_keeps_it_and_the_rest_is_spread(lab: Path) -> None:
    def change(sites: list[dict]) -> None:
        del site(sites, "fotang")["insured"]
        site(sites, "yiwu")["insured"] = 70_000  # choucheng keeps 26,000

    edit_sites(lab, change)
    insured = {s.id: s.insured for s in capacity_report(load(lab, cache=False)).sites}
    assert (insured["choucheng"], insured["fotang"]) == (26_000, 44_000)


def bad_intent(lab: Path, site_id: str, value: object) -> str:
    edit_sites(lab, lambda sites: site(sites, site_id).__setitem__("insured", value))
    result = run("capacity", lab)
    assert result.exit_code == 2, result.output
    assert "nothing was written" in result.stderr
    return result.stderr


def test_insured_on_a_city_is_refused(lab: Path) -> None:
    assert "sites.yml: zhejiang/jinhua: insured only a township, or a county for its townships" in bad_intent(
        lab, "jinhua", 500_000
    )


def test_insured_that_is_not_a_count_is_refused(lab: Path) -> None:
    assert "sites.yml: zhejiang/jinhua/yiwu/fotang: insured " in bad_intent(lab, "fotang", -5)
    assert "(got 'many')" in bad_intent(lab, "fotang", "many")


def test_a_county_total_below_its_townships_is_refused(lab: Path) -> None:
    stderr = bad_intent(lab, "yiwu", 50_000)
    assert "sites.yml: zhejiang/jinhua/yiwu: insured 50,000 is the county's total, but its townships state 64,000" in (
        " ".join(stderr.split())
    )


def test_a_county_total_nobody_gets_is_refused(lab: Path) -> None:
    stderr = " ".join(bad_intent(lab, "yiwu", 90_000).split())
    assert "every township states its own (64,000 in all): make it their sum, or drop it" in stderr


def test_the_rule_is_group_vars_jinbao_capacity(lab: Path) -> None:
    rule = lab / "group_vars" / "all" / "capacity.yml"
    rule.write_text("---\njinbao_capacity: {post_kbps: 2048}\n")  # 6 posts at 2M: 12M over choucheng's 10M
    result = run("capacity", lab, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["rule"]["post_kbps"] == 2048
    rule.write_text("---\njinbao_capacity: {minimum_kbps: {township: 2 Mbit}}\n")
    result = run("capacity", lab)
    assert result.exit_code == 2
    assert "group_vars/all: jinbao_capacity.minimum_kbps" in result.stderr and "2 Mbit" in result.stderr


def test_the_generator_sizes_every_line_by_the_rule(tmp_path: Path) -> None:
    env = tmp_path / "national"
    generate_national(env, scale=0.03)
    (env / "addressing.yml").write_text(NATIONAL_PLAN.read_text())
    network = load(env, cache=False)
    report = capacity_report(network)
    assert not report.below
    assert all(s.insured >= 1_000 for s in report.sites if s.tier == "township")
    rule = network.policy.capacity
    sized = [line for line in report.lines if not line.backup and line.need_kbps is not None]
    assert len(sized) > 1_000
    assert all(line.bandwidth_kbps == rule.line_size_kbps(line.need_kbps) for line in sized), "the smallest that fits"
    assert {line.bandwidth_kbps for line in sized if line.tier == "township"} >= {2_000, 4_000}
