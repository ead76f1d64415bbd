"""The jinbao command as people and tools use it: exit codes, messages, --json, nothing half-written."""

from __future__ import annotations

import fcntl
import html
import json
import os
from pathlib import Path

import yaml
from conftest import edit_sites, remove_site
from typer.testing import CliRunner

from network import build
from network.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def break_a_parent(env: Path) -> None:
    def change(sites):
        next(s for s in sites if s["id"] == "choucheng")["uplinks"][0]["parent"] = "yiwu-x"

    edit_sites(env, change)


def test_validate_counts_the_lab(lab: Path) -> None:
    result = run("validate", lab, "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]
    assert counts["township"] == 3 and counts["province"] == 2 and counts["devices"] == 13


def test_invalid_intent_exits_2_naming_site_and_field_and_writes_nothing(lab: Path, in_tmp: Path) -> None:
    break_a_parent(lab)
    allocations = (lab / "allocations.yml").read_bytes()
    for command in (["validate"], ["plan"], ["render"]):
        result = run(*command, lab)
        assert result.exit_code == 2, (command, result.output)
        assert "sites.yml: zhejiang/jinhua/yiwu/choucheng: uplinks[0].parent 'yiwu-x' does not exist" in result.stderr
        assert "nothing was written" in result.stderr
    assert (lab / "allocations.yml").read_bytes() == allocations
    assert not (in_tmp / "build").exists()


def test_invalid_intent_as_json(lab: Path) -> None:
    break_a_parent(lab)
    result = run("validate", lab, "--json")
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert problems == [
        {
            "file": "sites.yml",
            "where": "zhejiang/jinhua/yiwu/choucheng",
            "field": "uplinks[0].parent",
            "message": "'yiwu-x' does not exist",
        }
    ]


def test_plan_check_reports_pending_changes_with_exit_1(lab: Path) -> None:
    (lab / "allocations.yml").unlink()
    result = run("plan", lab, "--check", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["written"] is False and len(report["changes"]) > 40
    assert not (lab / "allocations.yml").exists()
    assert run("plan", lab).exit_code == 0
    assert run("plan", lab, "--check").exit_code == 0


def test_plan_runs_without_the_command_line(lab: Path) -> None:
    """network.build.apply_plan is `jinbao plan` without its console: a result, nothing printed."""
    (lab / "allocations.yml").unlink()
    checked = build.apply_plan(lab, check=True)
    assert not checked.written and len(checked.changes) > 40 and checked.refused is None
    assert not (lab / "allocations.yml").exists()
    assert build.apply_plan(lab).written
    edit_sites(lab, remove_site("choucheng"))
    refused = build.apply_plan(lab)
    assert refused.refused is not None and not refused.written
    assert {c.action for c in refused.changes} == {"released"}


def test_render_refuses_stale_allocations(lab: Path, in_tmp: Path) -> None:
    (lab / "allocations.yml").unlink()
    result = run("render", lab)
    assert result.exit_code == 2
    assert "allocations.yml: is out of date" in result.stderr and "jinbao plan" in result.stderr


def test_render_writes_each_router_once_then_nothing(lab: Path, in_tmp: Path) -> None:
    first = json.loads(run("render", lab, "--json").stdout)
    assert len(first["written"]) == 13 and first["unchanged"] == []
    config = (in_tmp / "build/configs/lab/fotang-r1.frr.conf").read_text()
    assert "ip address 10.0.0.33/27" in config, "the LAN gateway comes from allocations.yml"
    second = json.loads(run("render", lab, "--json").stdout)
    assert second["written"] == [] and len(second["unchanged"]) == 13


def test_removed_site_loses_its_config(lab: Path, in_tmp: Path) -> None:
    run("render", lab)
    edit_sites(lab, remove_site("choucheng"))
    assert run("plan", lab, "--prune").exit_code == 0
    result = json.loads(run("render", lab, "--json").stdout)
    assert result["removed"] == ["choucheng-r1.frr.conf"]
    assert "yiwu-r1.frr.conf" in result["written"], "the county router lost a downlink"


def test_plan_render_touches_only_the_new_township_and_its_parents(lab: Path, in_tmp: Path) -> None:
    run("render", lab)
    edit_sites(
        lab,
        lambda sites: sites.append(
            {
                "id": "xinzhen",
                "slug": "xinzhen",
                "name": "新镇",
                "tier": "township",
                "parent": "yiwu",
                "uplinks": [
                    {"carrier": "ct", "type": "mstp", "bandwidth": "10M"},
                    {"carrier": "cm", "type": "4g", "bandwidth": "20M", "parent": "jinhua"},
                ],
            }
        ),
    )
    report = json.loads(run("plan", lab, "--render", "--json").stdout)
    assert sorted(report["render"]["written"]) == ["jinhua-r1.frr.conf", "xinzhen-r1.frr.conf", "yiwu-r1.frr.conf"]
    assert report["render"]["unchanged"] == []
    # and a full render agrees that nothing else needed rewriting
    assert json.loads(run("render", lab, "--json").stdout)["written"] == []


def test_show_site_lists_lines_from_both_ends(lab: Path) -> None:
    view = json.loads(run("show", "site", lab, "jinhua", "--json").stdout)
    lines = {line["line"]: line for line in view["lines"]}
    assert lines["fotang:4g"]["direction"] == "downlink" and lines["fotang:4g"]["backup"] is True
    assert lines["jinhua:mstp"]["direction"] == "uplink"
    assert run("show", "site", lab, "nowhere").exit_code == 2


def test_diagram_is_an_svg_with_every_site(lab: Path, in_tmp: Path) -> None:
    target = in_tmp / "lab.svg"
    result = run("diagram", lab, "--out", target)
    assert result.exit_code == 0, result.output
    svg = html.unescape(target.read_text())
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for site in ("佛堂镇", "fotang (township)", "zj-dr (datacenter)"):
        assert site in svg


def test_the_lab_plan_builds_on_the_national_one_and_a_missing_base_is_named(lab: Path) -> None:
    assert "base: ../national/addressing.yml" in (lab / "addressing.yml").read_text()
    (lab.parent / "national" / "addressing.yml").unlink()
    result = run("validate", lab)
    assert result.exit_code == 2
    assert "addressing.yml: base '../national/addressing.yml' does not exist" in result.stderr


def test_piped_a_run_says_each_stage_in_plain_lines_and_with_json_nothing(lab: Path, in_tmp: Path) -> None:
    (lab / "allocations.yml").unlink()
    result = run("plan", lab, "--render")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    stages = [line.split(":", 1)[0] for line in lines]
    assert stages == ["read lab's sites files", "allocate addresses", "write allocations.yml", "render lab"], lines
    assert lines[0].startswith("read lab's sites files: 1/1 done in ")
    assert lines[-1].startswith("render lab: 13/13 done")
    assert "\x1b" not in result.stderr, "no terminal codes in a pipe"
    again = run("render", lab, "--json")
    assert again.exit_code == 0 and again.stderr == "" and json.loads(again.stdout)["ok"]


def test_validate_reads_zones_yml_too(lab: Path) -> None:
    result = run("validate", lab, "--json")
    assert json.loads(result.stdout)["zones"]["flows"] > 10
    assert "zones.yml:" in run("validate", lab).stdout
    zones = lab / "zones.yml"
    first_review = next(line for line in zones.read_text().splitlines() if "review:" in line)
    overdue = first_review.split("review:")[0] + "review: 2020-01-01"
    zones.write_text(zones.read_text().replace(first_review, overdue, 1))
    result = run("validate", lab)
    assert result.exit_code == 0 and "was due for review on 2020-01-01" in result.stderr
    assert json.loads(run("validate", lab, "--json").stdout)["zones"]["overdue"]
    zones.write_text(zones.read_text().replace("review:", "reviewed:", 1))
    for args in (["validate", lab], ["validate", lab, "--json"]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert "zones.yml" in result.output and "valid" not in result.stdout.replace("invalid", "")
    zones.unlink()
    result = run("validate", lab, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["zones"] is None


def test_plan_render_is_refused_before_it_writes_while_a_render_runs(lab: Path, in_tmp: Path) -> None:
    assert run("plan", lab, "--render").exit_code == 0
    fotang = {**next(s for s in yaml.safe_load((lab / "sites.yml").read_text())["sites"] if s["id"] == "fotang")}
    edit_sites(lab, lambda sites: sites.append({**fotang, "id": "x1", "slug": "x1"}))
    allocations = (lab / "allocations.yml").read_bytes()
    lock = os.open(in_tmp / "build" / "configs" / "lab" / ".render.lock", os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a render in another process
        result = run("plan", lab, "--render")
        assert result.exit_code == 4, result.output
        assert "another jinbao render is writing this directory; nothing was written" in result.stderr
        assert (lab / "allocations.yml").read_bytes() == allocations
    finally:
        os.close(lock)
    result = run("plan", lab, "--render", "--json")
    assert result.exit_code == 0 and "x1-r1.frr.conf" in json.loads(result.stdout)["render"]["written"]
