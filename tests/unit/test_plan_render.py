"""`jinbao plan --render` leaves exactly the build a full render makes, after every kind of edit."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import GOLDEN, copy_inventory, edit_sites, remove_site
from test_ipam import COUNTY, COUNTY_TOWNSHIP, TOWNSHIP, move
from typer.testing import CliRunner

from network.cli import app
from network.render import Renderer


def site(sites: list[dict], site_id: str) -> dict:
    return next(s for s in sites if s["id"] == site_id)


def reparent_backup(sites: list[dict]) -> None:
    next(u for u in site(sites, "fotang")["uplinks"] if u["type"] == "4g")["parent"] = "yiwu"


def faster_line(sites: list[dict]) -> None:
    site(sites, "choucheng")["uplinks"][0]["bandwidth"] = "20M"


def rename(sites: list[dict]) -> None:
    site(sites, "yiwu")["slug"] = "yiwu-shi"


def grow_a_city(sites: list[dict]) -> None:
    site(sites, "jinhua")["posts"] = 200  # a new LAN, and the LAN's address is the city's OSPF area


VILLAGE = {"id": "v1", "slug": "v1", "name": "第1村", "tier": "village", "parent": "choucheng", "posts": 1}

EDITS = {
    "add": lambda sites: sites.append(TOWNSHIP),
    "add-a-village": lambda sites: sites.append(VILLAGE),  # its gateway is on its township's router
    "move": move("choucheng", "dongyang"),
    "move-to-another-province": move("choucheng", "jiangning"),
    "move-a-county": move("dongyang", "hangzhou"),
    "remove": remove_site("choucheng"),
    "re-parent-a-backup-line": reparent_backup,
    "faster-line": faster_line,
    "rename": rename,
    "grow-a-city": grow_a_city,
}


def jinbao(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.splitlines()[-1])


def tree(directory: Path) -> dict[str, bytes]:
    """The build's files; of the render record, what it says of the inputs (its `outputs` is where
    the files lie on disk, their times and inodes, which differ between any two builds)."""
    files = {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != ".render-outputs.marshal"}
    if ".render-state.json" in files:
        recorded = json.loads(files[".render-state.json"])
        recorded.pop("outputs")
        files[".render-state.json"] = json.dumps(recorded, sort_keys=True).encode()
    return files


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_plan_render_equals_a_full_render(lab: Path, in_tmp: Path, edit) -> None:
    edit_sites(lab, lambda sites: sites.extend([COUNTY, COUNTY_TOWNSHIP]))
    build = in_tmp / "build" / "configs" / "lab"
    jinbao("plan", str(lab), "--render")  # the build this change starts from, rendered in full
    devices = len(json.loads((build / ".manifest.json").read_text())["files"])

    edit_sites(lab, edit)
    report = jinbao("plan", str(lab), "--render", "--prune")  # --prune: the removal releases its allocations
    incremental = tree(build)
    shutil.rmtree(build)
    jinbao("render", str(lab))
    assert sorted(incremental) == sorted(tree(build)), "config files differ (stale or missing)"
    for name, text in tree(build).items():
        assert incremental[name] == text, f"{name} differs from a full render"
    assert len(report["render"]["written"]) + len(report["render"]["unchanged"]) < devices, "not incremental"


def test_a_render_with_nothing_changed_renders_nothing_but_mends_what_was_touched(
    lab: Path, in_tmp: Path, monkeypatch
) -> None:
    build = in_tmp / "build" / "configs" / "lab"
    first = jinbao("render", str(lab))
    assert first["written"] and not first["unchanged"]
    with monkeypatch.context() as patched:
        patched.setattr(Renderer, "render", lambda *_: pytest.fail("rendered although nothing changed"))
        again = jinbao("render", str(lab))
    assert not again["written"] and sorted(again["unchanged"]) == sorted(first["written"])
    edited, deleted = sorted(first["written"])[:2]
    (build / edited).write_text((build / edited).read_text() + "# by hand\n")
    (build / deleted).unlink()
    mended = jinbao("render", str(lab))
    assert sorted(mended["written"]) == [edited, deleted], "a config touched by hand is rendered again"
    assert "# by hand" not in (build / edited).read_text()
    assert not jinbao("render", str(lab))["written"]


def test_a_config_edited_with_its_times_put_back_is_still_rendered_again(lab: Path, in_tmp: Path) -> None:
    build = in_tmp / "build" / "configs" / "lab"
    jinbao("render", str(lab))
    edited = build / "ministry-r1.frr.conf"
    text, times = edited.read_text(), edited.stat()
    edited.write_text(text.replace("hostname", "HOSTNAME", 1))  # the same size
    os.utime(edited, ns=(times.st_atime_ns, times.st_mtime_ns))  # as `touch -r` or `rsync -t` would
    assert edited.stat().st_size == times.st_size and edited.stat().st_mtime_ns == times.st_mtime_ns
    assert jinbao("render", str(lab))["written"] == ["ministry-r1.frr.conf"]
    assert edited.read_text() == text


def test_a_config_edited_by_hand_before_an_incremental_plan_is_mended_by_the_next_render(
    lab: Path, in_tmp: Path
) -> None:
    build = in_tmp / "build" / "configs" / "lab"
    jinbao("plan", str(lab), "--render")
    edited = build / "ministry-r1.frr.conf"
    edited.write_text(edited.read_text() + "# by hand\n")
    edit_sites(lab, EDITS["add"])
    report = jinbao("plan", str(lab), "--render")
    assert report["render"]["written"] and "ministry-r1.frr.conf" not in report["render"]["written"]
    assert "ministry-r1.frr.conf" in jinbao("render", str(lab))["written"]
    assert "# by hand" not in edited.read_text()


def test_a_plan_without_render_in_between_is_not_lost(lab: Path, in_tmp: Path) -> None:
    build = in_tmp / "build" / "configs" / "lab"
    jinbao("plan", str(lab), "--render")
    edit_sites(lab, EDITS["add"])
    jinbao("plan", str(lab))  # allocations.yml moves on, build/ does not
    edit_sites(lab, faster_line)
    jinbao("plan", str(lab), "--render")
    incremental = tree(build)
    shutil.rmtree(build)
    jinbao("render", str(lab))
    assert incremental == tree(build)


def test_a_dcs_new_ntp_server_re_renders_the_devices_that_use_it(tmp_path: Path, in_tmp: Path) -> None:
    """VRP and Comware configs name their NTP servers: the province's DC serves the whole province."""
    env = copy_inventory(GOLDEN / "render" / "multivendor" / "inventory", tmp_path / "multivendor")
    build = in_tmp / "build" / "configs" / "multivendor"
    jinbao("plan", str(env), "--render")
    ntp = {"name": "ntp2", "role": "ops", "zone": "ops", "provides": ["ntp"]}
    edit_sites(env, lambda sites: site(sites, "ah-dc")["hosts"].append(ntp))
    report = jinbao("plan", str(env), "--render")
    incremental = tree(build)
    shutil.rmtree(build)
    jinbao("render", str(env))
    assert incremental == tree(build)
    assert (
        "cuogang-r1.cfg" in report["render"]["written"] and "ministry-r1.frr.conf" not in report["render"]["unchanged"]
    )
