"""The gatekeeper: where it stands and what it ferries (from zones.yml and IPAM), the content
checks of its ferry, and the ends' forced command that lets files move one way only."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import json
import sys
import types
from pathlib import Path

import pytest
import yaml
from conftest import LAB, REPO

from network import ipam, zones
from network.errors import JinbaoError
from network.model import load

FILES = REPO / "roles" / "gatekeeper" / "files"


def _script(name: str) -> types.ModuleType:
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(FILES / name))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


ferry = _script("jinbao-ferry")
ferry_end = _script("jinbao-ferry-end")


# --- the model ------------------------------------------------------------------------------
def test_the_lab_dc_has_one_gatekeeper_ferrying_declarations_from_the_dmz_inward():
    found = zones.gatekeepers(zones.load(LAB), load(LAB), ipam.read(LAB))
    assert set(found) == {"zj-dc"}  # the DR site has no DMZ host: no ferry, no gatekeeper
    gk = found["zj-dc"]
    assert gk.legs == {"dmz": "10.5.4.254/24", "internal": "10.5.1.254/24"}
    (f,) = gk.ferries
    assert (f.flow, f.name, f.source_zone, f.to_zone) == ("F14", "declarations", "dmz", "internal")
    assert [e.host for e in f.sources] == ["zj-dc-decl1"] and [e.host for e in f.destinations] == ["zj-dc-app1"]
    assert (f.content, f.max_bytes) == (("application/xml",), 1048576)
    assert zones.ferry_logins(found)["zj-dc-decl1"] == [
        {"ferry": "declarations", "flow": "F14", "side": "source", "gatekeeper": "10.5.4.254",
         "login": "jinbao-ferry@10.5.4.254", "content": ["application/xml"], "max_bytes": 1048576,
         "spool": "/var/spool/jinbao/declarations"}
    ]  # fmt: skip


def test_a_leg_on_an_address_a_host_holds_is_refused_naming_the_zone():
    network, allocations = load(LAB), ipam.read(LAB)
    allocations.hosts["zj-dc/decl1"]["address"] = "10.5.4.254"
    with pytest.raises(JinbaoError, match=r"zones\[zj-dc/dmz\].*10\.5\.4\.254.*taken by zj-dc/decl1"):
        zones.gatekeepers(zones.load(LAB), network, allocations)


def _flows(env: Path, edit) -> list[str]:
    data = yaml.safe_load((env / "zones.yml").read_text())
    edit(data)
    (env / "zones.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(JinbaoError) as refused:
        zones.load(env)
    return [str(p) for p in refused.value.problems]


def test_a_ferry_of_a_content_type_the_gatekeeper_cannot_check_is_refused(lab):
    problems = _flows(lab, lambda d: d["ferries"]["declarations"].update(content=["application/pdf"]))
    assert any("ferries[declarations]" in p and "application/pdf" in p for p in problems), problems


def test_a_ferry_to_any_is_refused(lab):
    def edit(data):
        flow = next(f for f in data["flows"] if f["id"] == "F14")
        flow["to"] = "any"
        flow["waiver"] = {"reason": "x", "approved_by": "CISO", "expires": "2099-01-01"}

    assert any("F14" in p and "a ferry runs between hosts" in p for p in _flows(lab, edit))


def test_the_inventory_admits_the_gatekeeper_at_the_ferry_ends_only(lab):
    from test_inventory_plugin import ansible_inventory

    result = ansible_inventory(lab, "--list")
    assert result.returncode == 0, result.stderr
    hostvars = json.loads(result.stdout)["_meta"]["hostvars"]
    assert hostvars["zj-dc-decl1"]["jinbao_ssh_sources"] == ["10.5.4.254/32"]
    assert "10.5.1.254/32" in hostvars["zj-dc-app1"]["jinbao_ssh_sources"]
    assert [e["side"] for e in hostvars["zj-dc-app1"]["jinbao_ferry_ends"]] == ["destination"]
    assert hostvars["zj-dc-web1"]["jinbao_ferry_ends"] == []
    assert not any("254/32" in s for s in hostvars["zj-dc-web1"]["jinbao_ssh_sources"])
    gk = hostvars["zj-dc-gatekeeper"]
    assert [leg["ifname"] for leg in gk["jinbao_legs"]] == ["g-dmz", "g-internal"]
    assert [h["host"] for h in gk["jinbao_ferry_hosts"]] == ["zj-dc-app1", "zj-dc-decl1"]


# --- the ferry's content checks ---------------------------------------------------------------
XML = {"name": "declarations", "flow": "F14", "content": ["application/xml"], "max_bytes": 64}
LAUGHS = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>'


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("a.xml", b"<d><staff>4</staff></d>", None),
        ("a.xml", b"", "empty"),
        ("a.xml", b"<d>" + b"x" * 64 + b"</d>", "larger than 64 bytes"),
        ("a.sh", b"<d/>", "its name says none of application/xml"),
        ("a.xml", b"<d><staff>4</d>", "not well-formed XML"),
        ("a.xml", b"<!DOCTYPE d><d/>", "DOCTYPE"),
        ("a.xml", b"\xff\xfe<d/>", "not well-formed XML"),
    ],
    ids=["good", "empty", "oversize", "suffix", "broken", "doctype", "not-utf8"],
)
def test_the_ferry_lets_only_checked_content_cross(name, data, why):
    found = ferry.verdict(XML, name, data)
    assert found is None if why is None else why in found, found


def test_entity_expansion_and_external_entities_never_reach_the_parser_body():
    big = dict(XML, max_bytes=4096)
    assert "DOCTYPE" in ferry.verdict(big, "laughs.xml", LAUGHS)
    xxe = b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><d>&x;</d>'
    assert "DOCTYPE" in ferry.verdict(big, "xxe.xml", xxe)


def test_json_ferries_check_json():
    spec = dict(XML, content=["application/json"])
    assert ferry.verdict(spec, "a.json", b'{"staff": 4}') is None
    assert "not JSON" in ferry.verdict(spec, "a.json", b"{staff: 4}")


# --- the ends' forced command ---------------------------------------------------------------
@pytest.fixture
def ends(tmp_path, monkeypatch):
    config = tmp_path / "ferry-ends.json"
    sides = {
        "out": {"side": "source", "max_bytes": 16, "spool": str(tmp_path / "out")},
        "in": {"side": "destination", "max_bytes": 16, "spool": str(tmp_path / "in")},
    }
    config.write_text(json.dumps(sides))
    for spool in ("out", "in"):
        (tmp_path / spool).mkdir()
    monkeypatch.setattr(ferry_end, "CONFIG", str(config))

    def run(command: str, data: bytes = b"") -> tuple[int, bytes, str]:
        monkeypatch.setenv("SSH_ORIGINAL_COMMAND", command)
        out, err = io.BytesIO(), io.StringIO()
        stdin = types.SimpleNamespace(buffer=io.BytesIO(data))
        stdout = types.SimpleNamespace(buffer=out, write=lambda s: out.write(s.encode()), flush=lambda: None)
        monkeypatch.setattr(sys, "stdin", stdin)
        monkeypatch.setattr(sys, "stdout", stdout)
        monkeypatch.setattr(sys, "stderr", err)
        try:
            ferry_end.main()
            code = 0
        except SystemExit as exc:
            code = exc.code
        return code, out.getvalue(), err.getvalue()

    return tmp_path, run


def test_a_source_end_lists_gives_and_takes_whole_files_only(ends):
    spools, run = ends
    (spools / "out" / "a.xml").write_bytes(b"<d/>")
    (spools / "out" / ".incoming-x").write_bytes(b"<half")  # not whole yet: never listed
    assert run("list out") == (0, b"a.xml\n", "")
    assert run("get out a.xml")[:2] == (0, b"<d/>")
    assert run("take out a.xml")[0] == 0 and not (spools / "out" / "a.xml").exists()
    assert run("take out a.xml")[0] == 0  # a retried run


@pytest.mark.parametrize(
    "command",
    ["put out a.xml", "list in", "get in a.xml", "take in a.xml", "id", "get out ../in/a.xml", "get out .ssh",
     "list nowhere", "get out"],
)  # fmt: skip
def test_each_end_refuses_what_its_side_does_not_do(ends, command):
    code, _, err = ends[1](command)
    assert code == 2 and err.startswith("ferry-end: "), (command, err)


def test_a_destination_end_stores_whole_files_once_and_refuses_oversize(ends):
    spools, run = ends
    assert run("put in a.xml", b"<d/>")[0] == 0
    assert (spools / "in" / "a.xml").read_bytes() == b"<d/>"
    assert run("put in a.xml", b"<d/>")[0] == 0  # the same content again: a retried delivery
    assert run("put in a.xml", b"<e/>")[0] == 4  # other content under the name: refused
    assert (spools / "in" / "a.xml").read_bytes() == b"<d/>"
    assert run("put in b.xml", b"<d>" + b"x" * 16 + b"</d>")[0] == 3
    assert sorted(p.name for p in (spools / "in").iterdir()) == ["a.xml"]  # nothing half-written left
