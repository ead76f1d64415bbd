"""Tables for people never cut an address or a name short: piped, or on a terminal too narrow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import edit_sites
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from network import cli
from network.lab import runtime

runner = CliRunner()

PIPE = {"width": 80}  # what rich assumes when stdout is not a terminal
NARROW = {"width": 40, "force_terminal": True}  # a split pane
WIDE = {"width": 400, "force_terminal": True}


def shown(monkeypatch: pytest.MonkeyPatch, console: dict, *args) -> tuple[int, str]:
    """Run jinbao with its stdout console made like `console`; the output as a person reads it."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setattr(cli.console, "out", Console(**console))
    result = runner.invoke(cli.app, [str(a) for a in args])
    return result.exit_code, Text.from_ansi(result.stdout).plain


def site_facts(env: Path, site_id: str) -> set[str]:
    """Every name and address `show site` has for the site, from its --json view."""
    view = json.loads(runner.invoke(cli.app, ["show", "site", str(env), site_id, "--json"]).stdout)
    facts = {d[k] for d in view["devices"] for k in ("hostname", "loopback", "management")}
    facts |= {line[k] for line in view["lines"] for k in ("line", "peer", "subnet", "local", "remote")}
    facts |= {h[k] for h in view["hosts"] for k in ("name", "address")}
    assert view["hosts"] and view["lines"], "the case needs a site with hosts and lines"
    return facts


@pytest.mark.parametrize("console", [PIPE, NARROW, WIDE], ids=["piped", "narrow-terminal", "wide-terminal"])
def test_show_site_prints_every_address_and_name_whole(lab: Path, monkeypatch, console) -> None:
    facts = site_facts(lab, "zj-dc")
    code, text = shown(monkeypatch, console, "show", "site", lab, "zj-dc")
    assert code == 0, text
    assert "…" not in text
    assert sorted(f for f in facts if f not in text) == []


def test_piped_tables_are_plain_columns_a_script_can_read(lab: Path, monkeypatch) -> None:
    view = json.loads(runner.invoke(cli.app, ["show", "site", str(lab), "zj-dc", "--json"]).stdout)
    _, text = shown(monkeypatch, PIPE, "show", "site", lab, "zj-dc")
    rows = [line.split() for line in text.splitlines()]
    for device in view["devices"]:
        assert [device[k] for k in ("hostname", "role", "platform", "loopback", "management")] in rows
    for host in view["hosts"]:
        assert [host["name"], host["role"], host["zone"], host["address"]] in rows


def test_a_wide_terminal_still_gets_the_drawn_table(lab: Path, monkeypatch) -> None:
    _, text = shown(monkeypatch, WIDE, "show", "site", lab, "zj-dc")
    assert "┃ hostname" in text or "│ hostname" in text


@pytest.mark.parametrize("console", [PIPE, NARROW], ids=["piped", "narrow-terminal"])
def test_plan_shows_new_allocations_whole(lab: Path, monkeypatch, console) -> None:
    before = yaml.safe_load((lab / "allocations.yml").read_text())
    edit_sites(
        lab,
        lambda sites: sites.append(
            {
                "id": "xinzhai",
                "slug": "xinzhai",
                "name": "新寨镇",
                "tier": "township",
                "parent": "yiwu",
                "posts": 4,
                "uplinks": [{"carrier": "china-telecom", "type": "mstp", "bandwidth": "20M"}],
            }
        ),
    )
    code, text = shown(monkeypatch, console, "plan", lab)
    assert code == 0, text
    after = yaml.safe_load((lab / "allocations.yml").read_text())
    new = {  # each new allocation: its key and the values it was given
        key: [str(v) for v in (entry.values() if isinstance(entry, dict) else [entry]) if isinstance(v, str)]
        for section, entries in after.items()
        if isinstance(entries, dict)
        for key, entry in entries.items()
        if key not in (before.get(section) or {})
    }
    assert any("/" in v for values in new.values() for v in values), f"the new township got no addresses: {new}"
    assert "…" not in text
    assert sorted(v for values in new.values() for v in values if v not in text) == []
    if console is PIPE:  # one change, one line: its key and every value, for grep
        lines = text.splitlines()
        for key, values in new.items():
            assert any(key in line and all(v in line for v in values) for line in lines), (key, values)


@pytest.mark.parametrize("console", [PIPE, NARROW], ids=["piped", "narrow-terminal"])
def test_lab_status_shows_every_node_and_management_address_whole(lab: Path, monkeypatch, console) -> None:
    def nothing_runs(topo):
        return runtime.Status([], [], sorted(topo.nodes), [], [])

    monkeypatch.setattr(runtime, "status", nothing_runs)
    code, text = shown(monkeypatch, console, "lab", "status", lab)
    assert code == 1, text
    _, topo = cli.lab.topology(lab)
    facts = {name for name in topo.nodes} | {node.management for node in topo.nodes.values()}
    assert "…" not in text
    assert sorted(f for f in facts if f not in text) == []


def test_audit_prints_each_config_line_whole(lab: Path, tmp_path: Path, monkeypatch) -> None:
    """A drifted line is config a person may copy: a console narrower than it must not break it."""
    from network import audit

    long = "+ snmp-agent usm-user v3 jinbao-nms jinbao-ro authentication-mode sha <secret> privacy-mode aes128 <secret>"

    def drifted(targets, intended, policy, **_):
        return [audit.DeviceAudit(t.hostname, t.platform, drift={"system": [long]}) for t in targets]

    monkeypatch.setattr(audit.run, "audit", drifted)
    monkeypatch.setattr(cli.console, "err", Console(stderr=True, width=40))
    result = runner.invoke(cli.app, ["audit", str(lab), "--limit", "fotang", "--no-servers", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"    {long}" in result.stderr.splitlines()


def test_audit_prints_a_device_warning_as_the_devices_not_as_drift(lab: Path, tmp_path: Path, monkeypatch) -> None:
    from network import audit

    said = "`vtysh -c 'show running-config'`: sudo: unable to resolve host fotang"

    def warned(targets, intended, policy, **_):
        return [audit.DeviceAudit(t.hostname, t.platform, warnings=[said]) for t in targets]

    monkeypatch.setattr(audit.run, "audit", warned)
    monkeypatch.setattr(cli.console, "err", Console(stderr=True, width=200))
    result = runner.invoke(cli.app, ["audit", str(lab), "--limit", "fotang", "--no-servers", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "sudo" in line]
    assert len(lines) == 1 and lines[0].startswith("! fotang") and "device warning" in lines[0], result.stderr
    assert "~" not in result.stderr
