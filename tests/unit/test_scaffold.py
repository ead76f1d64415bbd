"""`jinbao new`: a province's environment from the sample, and sites added to sites.yml."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import LAB, REPO, copy_inventory
from test_inventory_plugin import ansible_inventory
from typer.testing import CliRunner

from network import scaffold
from network.cli import app
from network.errors import ModelError
from network.model import load

SAMPLE = REPO / "inventories" / "sample-province"
runner = CliRunner()


def jinbao(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def line(bandwidth: str = "10M", kind: str = "mstp") -> dict[str, str]:
    return {"carrier": "china-unicom", "type": kind, "bandwidth": bandwidth}


def added_lines(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails if it removes or changes any."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    assert not [d for d in diff if d.startswith("- ")], "an existing line changed"
    return [d[2:] for d in diff if d.startswith("+ ")]


def ready(env: Path) -> None:
    """What a province's environment must pass: the model, zones.yml, a current plan, the inventory."""
    for command in (("validate", env), ("zones", "validate", env), ("plan", env, "--check")):
        result = jinbao(*command)
        assert result.exit_code == 0, f"jinbao {' '.join(map(str, command))}: {result.output}"
    inventory = ansible_inventory(env, "--list")
    assert inventory.returncode == 0, inventory.stderr


def test_the_sample_province_is_ready_as_it_stands(tmp_path: Path) -> None:
    env = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    ready(env)
    assert {p.name for p in env.iterdir()} >= {"zones.yml", "waivers.yml", "sites.yml", "allocations.yml"}


def test_a_new_province_is_ready_and_holds_only_its_own_sites(tmp_path: Path) -> None:
    sample = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    env = tmp_path / "inventories" / "zhejiang"
    result = jinbao(
        "new", "province", env, "--id", "zhejiang", "--name", "浙江省人力资源和社会保障厅", "--block", "10.8.0.0/13",
        "--from", sample,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ready(env)
    network = load(env)
    assert {s.id: s.tier for s in network.sites.values()} == {
        "ministry": "ministry",
        "zhejiang": "province",
        "zhejiang-dc": "datacenter",
    }
    dc = network.sites["zhejiang-dc"]
    assert dc.parent == "zhejiang" and dc.name == "浙江省人力资源和社会保障厅数据中心"
    assert {h.role for h in dc.hosts} == {h.role for h in load(sample).sites["example-dc"].hosts}
    assert network.addressing.provinces.assigned == {"zhejiang": "10.8.0.0/13"}
    assert yaml.safe_load((env / "addressing.yml").read_text())["base"] == "../national/addressing.yml"
    assert network.settings["jinbao_domain"] == "zhejiang.jinbao.internal"
    assert network.policy.business_site == "zhejiang-dc"
    assert (env / "group_vars/all/vault.yml.example").exists() and not (env / "group_vars/all/vault.yml").exists()
    allocations = yaml.safe_load((env / "allocations.yml").read_text())
    assert allocations["regions"]["zhejiang"] == "10.8.0.0/13" and "example" not in allocations["sites"]
    assert "example" not in (env / "sites.yml").read_text().split("defaults:")[1]  # nothing of the sample's sites


def test_a_new_province_refused_leaves_no_directory(tmp_path: Path) -> None:
    sample = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    env = tmp_path / "inventories" / "zhejiang"
    # a block that is not a /13 of the provinces' supernet: the plan refuses it
    result = jinbao(
        "new", "province", env, "--id", "zhejiang", "--name", "浙江", "--block", "192.0.2.0/24", "--from", sample
    )
    assert result.exit_code == 2, result.output
    assert "addressing.yml" in result.output or "zhejiang" in result.output
    assert not env.exists() and sorted(p.name for p in env.parent.iterdir()) == ["national", "sample-province"]
    (env).mkdir()
    again = jinbao(
        "new", "province", env, "--id", "zhejiang", "--name", "浙江", "--block", "10.8.0.0/13", "--from", sample
    )
    assert again.exit_code == 2 and "exists already" in again.output


def test_a_township_goes_after_its_county_and_only_adds_lines(lab: Path) -> None:
    before = (lab / "sites.yml").read_text()
    result = jinbao(
        "new", "township", lab, "yiwu", "xintang", "--name", "新塘街道", "--posts", "5",
        "--uplink", "china-telecom:mstp:10M", "--uplink", "china-mobile:4g:20M",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    after = (lab / "sites.yml").read_text()
    assert added_lines(before, after) == [
        "  - id: xintang",
        "    slug: xintang",
        "    name: 新塘街道",
        "    tier: township",
        "    parent: yiwu",
        "    posts: 5",
        "    uplinks:",
        "      - {carrier: china-telecom, type: mstp, bandwidth: 10M}",
        "      - {carrier: china-mobile, type: 4g, bandwidth: 20M}",
    ]
    ids = [s["id"] for s in yaml.safe_load(after)["sites"]]
    assert ids[ids.index("fotang") + 1] == "xintang"  # the last of yiwu's subtree, before Jiangsu's comment
    assert after.index("xintang") < after.index("# --- Jiangsu")
    assert load(lab).sites["xintang"].uplinks[1].backup


def test_sites_separated_by_blank_lines_stay_so(tmp_path: Path) -> None:
    env = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    before = (env / "sites.yml").read_text()
    edit = scaffold.add_site(env, scaffold.site_record("county", "example-city", "xin", "新县", uplinks=[line()]))
    after = (env / "sites.yml").read_text()
    assert after == edit.text
    assert added_lines(before, after)[:2] == ["", "  - id: xin"] and after.endswith("bandwidth: 10M}\n")
    # a township of the first county goes between it and the second, a blank line either side
    scaffold.add_site(env, scaffold.site_record("township", "example-county", "xin-town", "新镇", uplinks=[line()]))
    text = (env / "sites.yml").read_text()
    assert len(added_lines(after, text)) == 8 and "\n\n  - id: xin-town\n" in text
    assert re.search(r"bandwidth: 10M\}\n\n  - id: xin\n", text)
    assert [s["id"] for s in yaml.safe_load(text)["sites"]][-3:] == ["example-town", "xin-town", "xin"]


@pytest.mark.parametrize(
    ("tier", "parent", "slug", "field", "message"),
    [
        ("township", "nowhere", "xin", "parent", "'nowhere' does not exist"),
        ("township", "example-city", "xin", "parent", "is a city; a township hangs under a county"),
        ("city", "example-county", "xin", "parent", "is a county; a city hangs under a province"),
        ("township", "example-county", "example-town", "id", "'example-town' is used by another site"),
        ("township", "example-county", "Bad_Slug", "slug", "should match pattern"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    tmp_path: Path, tier: str, parent: str, slug: str, field: str, message: str
) -> None:
    env = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    before = sorted((p.name, p.read_bytes()) for p in env.iterdir() if p.is_file())
    result = jinbao("new", tier, env, parent, slug, "--name", "新", "--uplink", "china-unicom:mstp:10M")
    assert result.exit_code == 2
    assert re.search(rf"^error: sites\.yml: \S*{re.escape(slug)}: {field} .*{re.escape(message)}", result.output, re.M)
    assert sorted((p.name, p.read_bytes()) for p in env.iterdir() if p.is_file()) == before
    assert not [p for p in env.iterdir() if p.name.startswith(".sites.yml")]  # no temporary left


def test_a_slug_taken_elsewhere_is_refused_with_the_site_that_has_it(tmp_path: Path) -> None:
    env = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    record = scaffold.site_record("township", "example-county", "example-city", "新", site_id="xin", uplinks=[line()])
    taken = r"sites\.yml: example/example-city/example-county/example-city: slug 'example-city' is the slug of"
    with pytest.raises(ModelError, match=taken):
        scaffold.stage_site(env, record)


def test_staging_writes_nothing_and_returns_the_model_with_the_site(tmp_path: Path) -> None:
    """What `jinbao onboard township` builds on: the edited text and the model validated with it."""
    env = copy_inventory(LAB, tmp_path / "lab")
    before = (env / "sites.yml").read_bytes()
    edit = scaffold.stage_site(
        env, scaffold.site_record("township", "jiangning", "tangshan", "汤山街道", uplinks=[line()])
    )
    assert (env / "sites.yml").read_bytes() == before
    assert edit.label == "sites.yml" and edit.site_id == "tangshan"
    assert edit.network.sites["tangshan"].parent == "jiangning" and "tangshan" not in load(env).sites
    assert edit.network.path(edit.network.sites["tangshan"]) == "jiangsu/nanjing/jiangning/tangshan"
    assert yaml.safe_load(edit.text)["sites"][-1]["id"] == "tangshan"


def test_a_site_goes_into_its_parents_file(tmp_path: Path) -> None:
    """An environment split into sites/*.yml (the national inventory): the parent's file is edited."""
    env = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    data = yaml.safe_load((env / "sites.yml").read_text())
    (env / "sites").mkdir()
    below = [s for s in data["sites"] if s["tier"] in ("county", "township")]
    data["sites"] = [s for s in data["sites"] if s not in below]
    (env / "sites.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    (env / "sites/counties.yml").write_text(
        yaml.safe_dump({"defaults": data["defaults"], "sites": below}, allow_unicode=True, sort_keys=False)
    )
    edit = scaffold.add_site(env, scaffold.site_record("township", "example-county", "xin", "新镇", uplinks=[line()]))
    assert edit.label == "sites/counties.yml"
    assert "xin" in (env / "sites/counties.yml").read_text() and "xin" not in (env / "sites.yml").read_text()


def test_the_json_report_names_the_file_and_the_path(tmp_path: Path) -> None:
    env = copy_inventory(SAMPLE, tmp_path / "inventories" / "sample-province")
    result = jinbao(
        "new", "city", env, "example", "xin", "--name", "新市", "--uplink", "china-unicom:mstp:100M", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == {"ok": True, "file": str(env / "sites.yml"), "site": "xin", "path": "example/xin"}


def test_the_vault_example_lists_every_vault_variable_the_content_reads() -> None:
    used = set()
    for folder in ("roles", "playbooks", "dr", "inventories/lab/group_vars"):
        for path in (REPO / folder).rglob("*.yml"):
            if path.name != "vault.yml":
                used |= set(re.findall(r"\bvault_jinbao_[a-z0-9_]+", path.read_text()))
    example = yaml.safe_load((SAMPLE / "group_vars/all/vault.yml.example").read_text())
    assert used and used <= set(example), sorted(used - set(example))
    accounts = yaml.safe_load((SAMPLE / "group_vars/all/business.yml").read_text())["jinbao_db_maintainers"]
    assert set(accounts) <= set(example["vault_jinbao_db_passwords"])
