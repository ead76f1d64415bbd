"""`jinbao onboard township` / `offboard township`: the change set, the refusals, the round trip.

No lab here: a copy of inventories/lab without lab state, so --apply writes the files (and
renders) only; the lab's part is tests/lab/test_onboard.py.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path

import pytest
from conftest import GOLDEN, REPO, copy_inventory
from typer.testing import CliRunner

from network import build, envstate, scaffold
from network.cli import app
from network.onboard import plan
from network.onboard.plan import WAN_LABEL

runner = CliRunner()
NEW = ["yiwu", "xiaoshun", "--name", "孝顺镇", "--line", "mstp,10M", "--posts", "4", "--insured", "30000"]
BACKUP = ["--backup", "4g,20M,jinhua", "--backup-carrier", "china-mobile"]


def jinbao(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def env(lab: Path, tmp_path: Path, monkeypatch) -> Path:
    """The lab's copy; configs render under tmp_path/build, records under tmp_path/build/changes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(envstate, "REPO", tmp_path)
    return lab


def files(env: Path) -> dict[str, bytes]:
    return {name: (env / name).read_bytes() for name in ("sites.yml", "allocations.yml")}


def test_the_change_set_is_shown_and_nothing_is_written(env: Path, tmp_path: Path) -> None:
    before = files(env)
    result = jinbao("onboard", "township", env, *NEW, *BACKUP, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert files(env) == before and not (tmp_path / "build").exists()
    what = report["what"]
    assert (what["site"], what["path"], what["router"]) == ("xiaoshun", "zhejiang/jinhua/yiwu/xiaoshun", "xiaoshun-r1")
    assert what["upstream"] == ["yiwu-r1", "jinhua-r1"]  # the line and the backup land there
    assert sorted(a["key"] for a in what["allocations"]) == ["xiaoshun", "xiaoshun/r1", "xiaoshun:4g", "xiaoshun:mstp"]
    assert {a["action"] for a in what["allocations"]} == {"added"} and not report["applied"]
    diffs = report["diffs"]
    added = [line[1:] for line in diffs["sites.yml"].splitlines() if line.startswith("+ ")]
    assert added[:2] == ["  - id: xiaoshun", "    slug: xiaoshun"]
    assert "      - {carrier: china-mobile, type: 4g, bandwidth: 20M, parent: jinhua}" in added
    assert "+ description downlink xiaoshun-r1 china-telecom mstp 10M" in diffs["yiwu-r1"]
    assert "+ description downlink xiaoshun-r1 china-mobile 4g 20M" in diffs["jinhua-r1"]
    assert "+hostname xiaoshun-r1" in diffs["xiaoshun-r1"]
    # the DC firewalls' WAN set takes the township's LAN in (collapsed: neighbours may merge)
    wan = diffs.pop(WAN_LABEL).splitlines()[2:]
    lan = ipaddress.ip_network(next(a["new"]["lan"] for a in what["allocations"] if a["key"] == "xiaoshun"))
    after = [ipaddress.ip_network(line[1:]) for line in wan if line[:1] in ("+", " ")]
    assert any(lan.subnet_of(net) for net in after) and any(line.startswith("+") for line in wan), wan
    # only additions anywhere else: nothing else moves
    removed = [k for k, d in diffs.items() for line in d.splitlines() if line.startswith("-") and line[:3] != "---"]
    assert removed == []


def test_the_carrier_defaults_to_the_countys(env: Path) -> None:
    result = jinbao("onboard", "township", env, *NEW, "--json")
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)["diffs"]["sites.yml"]
    assert "+      - {carrier: china-telecom, type: mstp, bandwidth: 10M}" in added


def test_apply_writes_and_offboard_restores_both_files_byte_for_byte(env: Path, tmp_path: Path) -> None:
    before = files(env)
    onboarded = jinbao("onboard", "township", env, *NEW, *BACKUP, "--apply", "--json")
    assert onboarded.exit_code == 0, onboarded.output
    report = json.loads(onboarded.stdout)
    assert report["applied"] and report["ok"] and report["verification"][0]["ok"]
    assert files(env) != before
    assert (tmp_path / "build" / "configs" / "lab" / "xiaoshun-r1.frr.conf").exists()
    assert build.apply_plan(env, check=True).changes == []  # allocations.yml is what plan keeps
    record = Path(report["record"])
    assert record.parent == tmp_path / "build" / "changes" / "lab" and record.name.endswith("-onboard-xiaoshun.json")
    kept = json.loads(record.read_text())
    assert {"what", "who", "when", "diffs", "verification"} <= kept.keys() and kept["who"]

    shown = jinbao("offboard", "township", env, "xiaoshun", "--json")
    assert shown.exit_code == 0, shown.output
    assert {a["action"] for a in json.loads(shown.stdout)["what"]["allocations"]} == {"released"}
    refused = jinbao("offboard", "township", env, "xiaoshun", "--apply")  # no terminal to ask on, no --yes
    assert refused.exit_code == 2 and "--yes" in refused.stderr, refused.output
    assert files(env) != before
    offboarded = jinbao("offboard", "township", env, "xiaoshun", "--apply", "--yes", "--json")
    assert offboarded.exit_code == 0, offboarded.output
    assert files(env) == before
    assert not (tmp_path / "build" / "configs" / "lab" / "xiaoshun-r1.frr.conf").exists()


def _pool_full(tmp_path: Path) -> Path:
    """The golden pool-full case without fotang, planned: its township pool (a /27) is full with choucheng."""
    env = tmp_path / "full" / "env"
    shutil.copytree(GOLDEN / "errors" / "pool-full", env)
    text = (env / "sites.yml").read_text()
    (env / "sites.yml").write_text(text[: text.index("  - {id: fotang")])
    assert build.apply_plan(env).refused is None
    return env


REFUSALS = [
    (["nosuch", "xs", "--name", "某镇", "--line", "mstp,10M"], "sites.yml: xs: parent 'nosuch' is no site of lab"),
    (["jinhua", "xs", "--name", "某镇", "--line", "mstp,10M"], "parent 'jinhua' is a city; a township is onboarded"),
    (["yiwu", "fotang", "--name", "某镇", "--line", "mstp,10M"], "id 'fotang' is used by another site too"),
    (
        ["yiwu", "fotang", "--id", "fotang2", "--name", "某镇", "--line", "mstp,10M"],
        "zhejiang/jinhua/yiwu/fotang: slug 'fotang' is the slug of 'fotang' too",
    ),
    (
        ["yiwu", "xs", "--name", "某镇", "--line", "mstp,1M", "--posts", "4", "--insured", "30000"],
        "sites.yml: zhejiang/jinhua/yiwu/xs: uplinks[0].bandwidth 1M is below the capacity plan",
    ),
    (
        ["yiwu", "xs", "--name", "某镇", "--line", "mstp,10M", "--posts", "4", "--backup", "4g,64K,jinhua"],
        "sites.yml: zhejiang/jinhua/yiwu/xs: uplinks[1].bandwidth 64K is below the capacity plan",
    ),
    (
        ["yiwu", "xs", "--name", "某镇", "--line", "mstp,10M", "--backup", "4g,20M,zhejiang"],
        "sites.yml: zhejiang/jinhua/yiwu/xs: uplinks[1].parent 'zhejiang' is the province",
    ),
    (["yiwu", "xs", "--name", "某镇", "--line", "mstp10M"], "command line: --line 'mstp10M' is not type,bandwidth"),
    (["yiwu", "xs", "--name", "某镇", "--line", "mstp,10"], "command line: --line bandwidth '10' has no unit"),
]


@pytest.mark.parametrize(("args", "needle"), REFUSALS)
def test_a_bad_request_is_refused_before_anything_changes(env: Path, tmp_path: Path, args, needle) -> None:
    before = files(env)
    for extra in ([], ["--apply"]):
        result = jinbao("onboard", "township", env, *args, *extra)
        assert result.exit_code == 2, result.output
        assert needle in result.stderr and "nothing was written" in result.stderr, result.stderr
    assert files(env) == before and not (tmp_path / "build").exists()


def test_an_exhausted_pool_is_refused_before_anything_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = _pool_full(tmp_path)
    before = files(env)
    result = jinbao("onboard", "township", env, "yiwu", "fotang", "--name", "佛堂镇", "--line", "mstp,10M", "--apply")
    assert result.exit_code == 2, result.output
    assert "pool zhejiang/lan-township (10.0.0.0/27) is full" in result.stderr
    assert files(env) == before


@pytest.mark.parametrize(
    ("slug", "needle"),
    [
        ("nosuch", "sites.yml: nosuch: slug no site 'nosuch' in lab"),
        ("yiwu", "yiwu: tier is a county; offboard takes a township"),
    ],
)
def test_offboarding_what_is_no_township_is_refused(env: Path, slug: str, needle: str) -> None:
    before = files(env)
    result = jinbao("offboard", "township", env, slug, "--apply", "--yes")
    assert result.exit_code == 2 and needle in result.stderr, result.output
    assert files(env) == before


@pytest.mark.parametrize("inventory", ["lab", "sample-province"])
def test_taking_a_site_out_is_the_inverse_of_adding_it(inventory: str, tmp_path: Path) -> None:
    """The lab's sites follow each other; the sample's are separated by blank lines: both come back."""
    env = copy_inventory(REPO / "inventories" / inventory, tmp_path / inventory)
    county = "yiwu" if inventory == "lab" else "example-county"
    line = {"carrier": "china-telecom", "type": "mstp", "bandwidth": "10M"}
    staged = scaffold.stage_site(env, scaffold.site_record("township", county, "xs", "某镇", posts=4, uplinks=[line]))
    original = (env / "sites.yml").read_text()
    assert staged.text != original
    assert plan.without_site(staged.text, "xs", "sites.yml") == original


def test_apply_in_the_lab_runs_the_steps_in_order_and_stops_at_a_failure(env: Path, monkeypatch) -> None:
    """Onboarding: files, lab up, day 0, push, firewalls, DC, clerk; offboarding pushes before lab
    up takes the lines away (docs/lab.md, "Removing a township"), then the firewalls, then the
    other townships must reach their DC. A failed step ends the run: exit 3, said which."""
    from network.errors import LabError
    from network.onboard import apply

    calls: list[str] = []

    def step(name: str, fail: bool = False):
        def run(*args, **kwargs) -> str:
            calls.append(name)
            if fail:
                raise LabError(f"{name} failed on purpose")
            return name

        return run

    monkeypatch.setattr(apply, "in_lab", lambda _env: True)
    monkeypatch.setattr(apply, "clerk_identity", lambda *_a: None)
    for name in (
        "lab_up",
        "day0",
        "push_routers",
        "firewalls",
        "reaches_dc",
        "clerk_writes",
        "lab_matches",
        "neighbours_reach_dc",
    ):
        monkeypatch.setattr(apply, name, step(name))
    onboarded = jinbao("onboard", "township", env, *NEW, "--apply", "--json")
    assert onboarded.exit_code == 0, onboarded.output
    assert calls == ["lab_up", "day0", "push_routers", "firewalls", "reaches_dc", "clerk_writes"]
    assert "seconds_to_verified" in json.loads(onboarded.stdout)

    calls.clear()
    offboarded = jinbao("offboard", "township", env, "xiaoshun", "--apply", "--yes", "--json")
    assert offboarded.exit_code == 0, offboarded.output
    assert calls == ["push_routers", "lab_up", "lab_matches", "firewalls", "neighbours_reach_dc"]

    calls.clear()
    monkeypatch.setattr(apply, "day0", step("day0", fail=True))
    failed = jinbao("onboard", "township", env, *NEW, "--apply", "--json")
    assert failed.exit_code == 3, failed.output
    assert calls == ["lab_up", "day0"]
    steps = json.loads(failed.stdout)["verification"]
    assert [s["ok"] for s in steps] == [True, True, False] and "day0 failed on purpose" in steps[-1]["detail"]


def test_apply_refuses_a_plan_other_than_the_one_shown_and_puts_both_files_back(env: Path) -> None:
    """What --apply writes is the change set shown: the sites file changed since (another
    engineer's township), or a plan at write time that is not the one shown, stops it with
    both files as they were."""
    from dataclasses import replace

    from network.errors import JinbaoError
    from network.onboard import apply

    request = plan.Township("yiwu", "xiaoshun", "孝顺镇", plan.parse_line("mstp,10M", "--line", None, False))
    before = files(env)
    changes = plan.onboard(env, request)
    with pytest.raises(JinbaoError, match="differs from the change set shown"):
        apply.write_files(replace(changes, allocations_after=changes.allocations_after.replace("xiaoshun", "other")))
    assert files(env) == before

    (env / "sites.yml").write_text(changes.sites_before + "# another engineer's edit\n", encoding="utf-8")
    edited = files(env)
    with pytest.raises(JinbaoError, match="changed since the change set was made"):
        apply.write_files(changes)
    assert files(env) == edited
