"""Intent that must be refused: exit 2, the file, site and field named, nothing written.

The messages themselves are golden cases (tests/golden/errors/<case>); these tests hold the
commands to what they do with them.
"""

from __future__ import annotations

import importlib
import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, NATIONAL_PLAN, copy_inventory, edit_sites, remove_site
from typer.testing import CliRunner

from network import ipam
from network.cli import app
from network.errors import ModelError
from network.model import chunks, load, schema
from network.render import Renderer, load_secrets

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def error_case(case: str, tmp_path: Path) -> Path:
    source, env = GOLDEN / "errors" / case, tmp_path / case
    env.mkdir()
    for name in ("sites.yml", "addressing.yml"):
        shutil.copy(source / name if (source / name).exists() else NATIONAL_PLAN, env / name)
    return env


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("case", ["parent-loop", "parent-loop-backup-line"])
def test_validate_refuses_a_parent_loop_instead_of_hanging(case: str, tmp_path: Path) -> None:
    """It once walked the loop forever, growing a list until the kernel killed it."""
    env = error_case(case, tmp_path)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "network.cli", "validate", str(env)],
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("jinbao validate did not return within 60 s")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "makes a parent loop" in done.stderr and "nothing was written" in done.stderr


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("pool-full", "pool zhejiang/lan-township (10.0.0.0/27) is full"),
        (
            "province-block-assigned-twice",
            "addressing.yml: provinces.assigned.jiangsu 10.8.0.0/13 is the block assigned to 'zhejiang'",
        ),
    ],
)
def test_validate_runs_the_addressing_checks_and_writes_nothing(case: str, needle: str, tmp_path: Path) -> None:
    env = error_case(case, tmp_path)
    result = run("validate", env)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert "restore it from git" not in result.stderr
    assert not (env / "allocations.yml").exists()


def test_validate_is_read_only_and_says_allocations_are_pending(lab: Path) -> None:
    (lab / "allocations.yml").unlink()
    result = run("validate", lab, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pending"] > 40
    assert not (lab / "allocations.yml").exists()


def test_an_emptied_sites_file_is_refused_and_allocations_kept(lab: Path) -> None:
    before = (lab / "allocations.yml").read_bytes()
    (lab / "sites.yml").write_text("sites: []\n")
    for command in (["validate"], ["plan"], ["plan", "--prune"]):
        result = run(*command, lab)
        assert result.exit_code == 2, (command, result.output)
        assert "sites.yml: sites lists no site" in result.stderr
    assert (lab / "allocations.yml").read_bytes() == before


def test_a_plan_that_releases_lists_them_and_writes_only_with_prune(lab: Path) -> None:
    before = (lab / "allocations.yml").read_bytes()
    edit_sites(lab, remove_site("choucheng"))
    released = {("sites", "choucheng"), ("devices", "choucheng/r1"), ("links", "choucheng:mstp")}

    refused = run("plan", lab)
    assert refused.exit_code == 2, refused.output
    assert "releases 3 allocation(s)" in refused.stderr and "--prune" in refused.stderr
    assert "choucheng/r1" in refused.stdout, "the refusal lists what it would release"
    assert (lab / "allocations.yml").read_bytes() == before

    as_json = json.loads(run("plan", lab, "--json").stdout)
    assert as_json["ok"] is False and as_json["written"] is False
    assert {(c["section"], c["key"]) for c in as_json["changes"] if c["action"] == "released"} == released

    check = run("plan", lab, "--check")
    assert check.exit_code == 1 and "--prune" in check.stdout
    assert (lab / "allocations.yml").read_bytes() == before

    pruned = run("plan", lab, "--prune", "--json")
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.stdout)["written"] is True
    assert "choucheng" not in (lab / "allocations.yml").read_text()
    assert run("plan", lab).exit_code == 0, "nothing left to release: a plain plan works again"


def test_every_rendered_ospf_cost_is_inside_the_platforms_range(tmp_path: Path) -> None:
    """A 64K line costs 156,250 against 10G, which FRR, VRP and Comware all refuse."""
    env = copy_inventory(GOLDEN / "render" / "multivendor" / "inventory", tmp_path / "inv")
    path = env / "sites.yml"
    text = path.read_text()
    slow = re.sub(r"bandwidth: \d+M", "bandwidth: 64K", text)
    assert slow != text
    path.write_text(slow)
    network = load(env, cache=False)
    plan = ipam.allocate(network, ipam.Allocations())
    out = tmp_path / "out"
    Renderer(network, plan.allocations, load_secrets(env)).render_all(out)
    costs = [
        int(c)
        for f in out.iterdir()
        if not f.name.startswith(".")
        for c in re.findall(r"ospf cost (\d+)", f.read_text())
    ]
    assert costs, "no OSPF cost rendered at all"
    assert max(costs) == 65_535 and min(costs) >= 1, sorted(set(costs))


def test_a_cache_written_under_older_rules_is_not_trusted(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """<env>/.cache keeps validated sites; after an upgrade, intent the new rules refuse must not pass from it."""
    edit_sites(lab, lambda sites: next(s for s in sites if s["id"] == "choucheng")["uplinks"][0].update(bandwidth=10))
    loader = importlib.import_module("network.model.cache")
    refuse_numbers = schema.parse_bandwidth
    with monkeypatch.context() as before:  # jinbao as it was: a bare number was kbit/s
        before.setattr(schema, "parse_bandwidth", lambda v: v if isinstance(v, int) else refuse_numbers(v))
        before.setattr(loader, "CACHE_VERSION", b"4")
        before.setattr(chunks, "MEMO_VERSION", 1)
        assert load(lab).sites["choucheng"].uplinks[0].bandwidth_kbps == 10
        assert list((lab / ".cache").glob("memo-*")) and list((lab / ".cache").glob("sites-*"))
    with pytest.raises(ModelError, match="has no unit"):
        load(lab)


def test_the_business_site_must_be_a_dc_with_each_service_and_a_backup_host(lab: Path) -> None:
    settings = lab / "group_vars" / "all" / "business.yml"
    text = settings.read_text()
    settings.write_text(text.replace("jinbao_business_site: zj-dc", "jinbao_business_site: zj-dx"))
    result = run("validate", lab)
    assert result.exit_code == 2 and "jinbao_business_site" in result.output and "zj-dx" in result.output
    settings.write_text(text)

    def no_backup_host(sites: list) -> None:
        dc = next(s for s in sites if s["id"] == "zj-dc")
        dc["hosts"] = [h for h in dc["hosts"] if h["role"] != "backup"]

    edit_sites(lab, no_backup_host)
    result = run("validate", lab)
    assert result.exit_code == 2, result.output
    assert "sites.yml" in result.output and "hosts" in result.output and "role backup" in result.output


def test_a_dr_site_stands_in_for_a_datacenter_with_the_same_tiers(lab: Path) -> None:
    """sites.yml dr_for: a datacenter naming another datacenter, and the DR site of the business
    site has a host for each service name and a name server (the names move there)."""

    def dr_for(target: str):
        def change(sites: list) -> None:
            next(s for s in sites if s["id"] == "zj-dr")["dr_for"] = target

        return change

    for target, said in (("jinhua", "not a datacenter"), ("zj-nowhere", "not a site"), ("zj-dr", "not a datacenter")):
        edit_sites(lab, dr_for(target))
        result = run("validate", lab)
        assert result.exit_code == 2, result.output
        assert "sites.yml" in result.output and "zj-dr" in result.output and "dr_for" in result.output
        assert said in result.output, result.output
    edit_sites(lab, dr_for("zj-dc"))

    def no_dr_web(sites: list) -> None:
        dr = next(s for s in sites if s["id"] == "zj-dr")
        dr["hosts"] = [h for h in dr["hosts"] if h["role"] != "web"]

    edit_sites(lab, no_dr_web)
    result = run("validate", lab)
    assert result.exit_code == 2, result.output
    assert "zj-dr" in result.output and "role web" in result.output


@pytest.mark.parametrize(
    ("file", "old", "new", "said"),
    [
        (
            "revocations.yml",
            "jinbao_access_revoked: []",
            "jinbao_access_revoked: [{reason: lost, by: li.na}]",
            "exactly one of serial",
        ),
        (
            "revocations.yml",
            "jinbao_access_revoked: []",
            "jinbao_access_revoked: [{serial: 7, key_id: zhang.wei, reason: lost, by: li.na}]",
            "exactly one of serial",
        ),
        ("revocations.yml", "jinbao_access_revoked: []", "jinbao_access_revoked: [{serial: 7, by: li.na}]", "reason"),
        ("access.yml", "{name: dba,", "{name: sysops,", "sysops named twice"),
        (
            "access.yml",
            "jinbao_access_certificate_hours: 8",
            "jinbao_access_certificate_hours: 72",
            "certificate_hours",
        ),
        ("access.yml", "ssh-ed25519 AAAA", "ssh-ed25519 not a key AAAA", "ssh_ca_public_key"),
        ("access.yml", "-----BEGIN CERTIFICATE-----", "-----BEGIN PRIVATE KEY-----", "tls_ca_certificate"),
        ("access.yml", "jinbao_access_tls_renew_days: 30", "jinbao_access_tls_renew_days: 365", "renews every"),
        ("access.yml", "jinbao_access_clerk_roles: [clerk]", "jinbao_access_clerk_roles: [dba]", "operator role too"),
    ],
    ids=[
        "revocation-names-nothing",
        "revocation-names-both",
        "revocation-without-reason",
        "role-twice",
        "hours",
        "key",
        "tls-ca-not-a-certificate",
        "tls-renewal-longer-than-life",
        "clerk-role-is-an-operator-role",
    ],
)
def test_the_access_policy_is_validated_with_its_file_and_field(
    lab: Path, file: str, old: str, new: str, said: str
) -> None:
    """group_vars access.yml and revocations.yml (docs/access.md): every node's sshd is built from them."""
    path = lab / "group_vars" / "all" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    result = run("validate", lab)
    path.write_text(text)
    assert result.exit_code == 2, result.output
    assert "group_vars/all" in result.output and said in result.output, result.output


@pytest.mark.parametrize(
    ("file", "fact"), [("business.yml", "jinbao_app_tls"), ("management.yml", "jinbao_syslog_tls")]
)
def test_tls_needs_the_ca(tmp_path: Path, file: str, fact: str) -> None:
    """jinbao_app_tls (pension_app serves, web_proxy verifies) and jinbao_syslog_tls (ops_server
    listens, every node checks) without the CA that issues the certificate are refused by
    validate, naming the file and field, before any converge."""
    sample = copy_inventory(GOLDEN.parents[1] / "inventories" / "sample-province", tmp_path / "sample")
    path = sample / "group_vars" / "all" / file
    text = path.read_text()
    assert f"{fact}: false" in text
    assert run("validate", sample).exit_code == 0
    path.write_text(text.replace(f"{fact}: false", f"{fact}: true"))
    result = run("validate", sample)
    assert result.exit_code == 2, result.output
    assert (
        "group_vars/all" in result.output
        and fact.removeprefix("jinbao_") in result.output
        and "access_tls_ca_certificate" in result.output
    )
