"""Rendering: secrets from the vault, all-or-nothing writes, the routing design in the output."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import GOLDEN, copy_inventory

from network import ipam
from network.audit import blocks
from network.errors import BusyError, Problem, RenderError
from network.model import load
from network.render import Renderer, RenderIndex, device_context, engine, load_secrets

CASE = GOLDEN / "render" / "multivendor"


def renderer(env: Path) -> Renderer:
    network = load(env, cache=False)
    return Renderer(network, ipam.read(env), load_secrets(env))


def test_lab_vault_is_encrypted_and_opens_with_the_lab_password(lab: Path) -> None:
    assert (lab / "group_vars/all/vault.yml").read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert load_secrets(lab).password("netadmin")


def test_a_wrong_vault_password_is_a_clear_error(lab: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    with pytest.raises(RenderError, match=r"vault.yml: cannot be decrypted with .*wrong"):
        load_secrets(lab, wrong)


def test_missing_secret_names_the_device_and_key_and_writes_nothing(tmp_path: Path) -> None:
    env = copy_inventory(CASE / "inventory", tmp_path / "env")
    shutil.copy(CASE / "expected" / "allocations.yml", env / "allocations.yml")
    vault = env / "group_vars/all/vault.yml"
    data = yaml.safe_load(vault.read_text())
    del data["vault_jinbao_user_passwords"]["auditor"]
    vault.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    with pytest.raises(RenderError) as caught:
        renderer(env).render_all(out)
    expected = "group_vars/all/vault.yml: ministry: vault_jinbao_user_passwords.auditor is missing"
    assert str(caught.value.problems[0]) == expected
    assert not out.exists(), "a failed render must not leave partial output"


@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "forked workers"])
def test_a_render_that_fails_halfway_leaves_the_previous_build_as_it_was(tmp_path: Path, monkeypatch, workers) -> None:
    env = copy_inventory(CASE / "inventory", tmp_path / "env")
    shutil.copy(CASE / "expected" / "allocations.yml", env / "allocations.yml")
    out = tmp_path / "out"
    renderer(env).render_all(out)
    configs = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    configs[0].unlink()  # a config that does not exist yet
    for config in configs[1:]:  # the others out of date: each one is staged beside its file
        config.write_text(config.read_text() + "# older\n")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".render-state.json"}
    network = load(env, cache=False)
    last = network.hostname(*[(s, d.name) for s, d in network.iter_devices()][-1])
    render = Renderer.render

    def failing(self, site, device):
        if self.network.hostname(site, device.name) == last:
            raise RenderError(Problem("templates", last, "", "broken"))
        return render(self, site, device)

    monkeypatch.setattr(Renderer, "render", failing)
    monkeypatch.setattr(engine, "PARALLEL_FROM", 1)
    monkeypatch.setattr(engine, "CHUNK", 1)
    with pytest.raises(RenderError, match="broken"):
        renderer(env).render_all(out, workers=workers)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "staged files left, or configs replaced"
    assert not (out / ".render-state.json").exists(), "the record no longer vouches for the directory"


def test_a_manifest_that_is_not_one_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    env = copy_inventory(CASE / "inventory", tmp_path / "env")
    shutil.copy(CASE / "expected" / "allocations.yml", env / "allocations.yml")
    out = tmp_path / "out"
    renderer(env).render_all(out)
    configs = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    configs[0].write_text("# edited\n")
    (out / ".manifest.json").write_text("{not json")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RenderError, match=r"\.manifest\.json: files is not the list of configs jinbao wrote"):
        renderer(env).render_all(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_what_a_killed_render_staged_is_removed_by_the_next(tmp_path: Path) -> None:
    env = copy_inventory(CASE / "inventory", tmp_path / "env")
    shutil.copy(CASE / "expected" / "allocations.yml", env / "allocations.yml")
    out = tmp_path / "out"
    renderer(env).render_all(out)
    config = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))[0]
    killed = [f".{config}.0123456789ab.tmp", "..manifest.json.k2j4x8q1.tmp"]  # staged; write_atomic's
    for name in killed:
        (out / name).write_text("half")
    (out / ".render-state.json").unlink()  # as the killed render left it: no record
    renderer(env).render_all(out)
    assert not {p.name for p in out.iterdir()} & set(killed)


def test_a_second_render_of_a_directory_is_refused_while_one_runs(tmp_path: Path) -> None:
    env = copy_inventory(CASE / "inventory", tmp_path / "env")
    shutil.copy(CASE / "expected" / "allocations.yml", env / "allocations.yml")
    out = tmp_path / "out"
    renderer(env).render_all(out)
    (out / ".render-state.json").unlink()
    staged = out / ".x.cfg.0123456789ab.tmp"  # the running render's, not a leftover
    staged.write_text("half")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    running = os.open(out / ".render.lock", os.O_RDWR)  # another process's render holds it
    try:
        fcntl.flock(running, fcntl.LOCK_EX)
        with pytest.raises(BusyError, match="another jinbao render is writing this directory"):
            renderer(env).render_all(out)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    finally:
        os.close(running)
    renderer(env).render_all(out)
    assert not staged.exists()


def contexts(env: Path) -> dict[str, dict]:
    network = load(env, cache=False)
    index = RenderIndex.build(network, ipam.read(env))
    return {network.hostname(s, d.name): device_context(index, s, d) for s, d in network.iter_devices()}


def test_routing_design_in_the_lab(lab: Path) -> None:
    ctx = contexts(lab)
    city_area = ctx["jinhua-r1"]["ospf"]["areas"]
    assert [a["id"] for a in city_area] == ["0.0.0.0", "10.6.128.0"], "the city router is the ABR of its area"
    assert city_area[1] == {"id": "10.6.128.0", "stub": True, "no_summary": True}
    township = ctx["fotang-r1"]
    assert [a["id"] for a in township["ospf"]["areas"]] == ["10.6.128.0"]
    costs = {i["description"].split()[1]: i["ospf"]["cost"] for i in township["interfaces"] if i["kind"] == "link"}
    assert costs == {"yiwu-r1": 1000, "jinhua-r1": 65000}, "the 4G backup only carries traffic when the primary is down"
    province = ctx["zhejiang-r1"]
    assert province["ospf"]["default_originate"] is True
    assert province["bgp"]["asn"] == 4200000001 and province["bgp"]["neighbors"][0]["remote_as"] == 4200000000
    assert province["bgp"]["networks"] == ["10.0.0.0/13"]
    ministry = ctx["ministry-r1"]["bgp"]
    assert {n["description"]: n["accept"] for n in ministry["neighbors"]} == {
        "zhejiang-r1": ["10.0.0.0/13"],
        "jiangsu-r1": ["10.8.0.0/13"],
    }


def test_management_plane_points_at_the_provincial_dc(lab: Path) -> None:
    ctx = contexts(lab)
    ops1 = ipam.read(lab).hosts["zj-dc/ops1"]["address"]
    for host in ("fotang-r1", "zhejiang-r1", "zj-dr-r1"):
        assert ctx[host]["syslog"] == [ops1] and ctx[host]["ntp"] == [ops1]
    assert ctx["dongshan-r1"]["syslog"] == [], "Jiangsu has no DC in the lab"


def test_dmz_is_never_routed_by_the_wan(lab: Path) -> None:
    dc = contexts(lab)["zj-dc-r1"]
    zones = [i["description"] for i in dc["interfaces"] if i["kind"] == "zone"]
    assert zones == ["zone core-db", "zone internal", "zone ops", "zone external", "zone partner"]


def test_vendor_configs_have_no_telnet_and_ssh_only(tmp_path: Path) -> None:
    """Rendered now from the multivendor case (its golden files are test_golden's): every VRP
    and Comware device turns telnet off, lets only SSH onto its vty lines, and speaks SNMPv3 only."""
    env = copy_inventory(CASE / "inventory", tmp_path / "env")
    network = load(env, cache=False)
    rendering = Renderer(network, ipam.allocate(network, ipam.Allocations()).allocations, load_secrets(env))
    vendor = [(s, d) for s, d in network.iter_devices() if d.platform in ("huawei_vrp", "h3c_comware")]
    assert {d.platform for _, d in vendor} == {"huawei_vrp", "h3c_comware"}
    for site, device in vendor:
        name, text = network.hostname(site, device.name), rendering.render(site, device)
        lines = [line.rstrip() for line in text.splitlines()]
        assert "undo telnet server enable" in lines and "telnet server enable" not in lines, name
        vty = {top: children for top, children in blocks(text).items() if top.startswith("user-interface vty")}
        assert vty, f"{name}: no vty lines"
        for top, children in vty.items():
            inbound = [c for c in children if c.startswith("protocol inbound")]
            assert inbound == ["protocol inbound ssh"], f"{name}: {top}: {inbound}"
        assert "snmp-agent sys-info version v3" in lines, name
        assert not [line for line in lines if "community" in line or re.search(r"version .*v(1|2c)", line)], name


def test_a_missing_vault_says_how_to_create_it(tmp_path: Path) -> None:
    env = copy_inventory(GOLDEN.parent.parent / "inventories" / "sample-province", tmp_path / "province")
    assert not (env / "group_vars/all/vault.yml").exists()
    with pytest.raises(RenderError, match=r"vault\.yml: .*does not exist; create it from vault\.yml\.example"):
        renderer(env).render_all(tmp_path / "out")
