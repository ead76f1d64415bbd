"""`jinbao audit --limit` names devices and servers alike: the servers it names are checked by
the playbooks (in check mode, limited to them) and by the level-3 rules with the lab's
firewalls and gatekeepers, the devices it names are read; a limit that names neither is
refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from network import audit
from network import servers as server_check
from network.audit import DeviceAudit
from network.audit import hosts as linux_hosts
from network.errors import JinbaoError
from network.servers import HostDrift


@pytest.fixture(autouse=True)
def level3(monkeypatch) -> list[str]:
    """The Linux hosts whose level-3 rules were read (nothing is read: each complies)."""
    read: list[str] = []

    def rules(env, hosts, *_):
        read.extend(h.hostname for h in hosts)
        return {h.hostname: [] for h in hosts}

    monkeypatch.setattr(linux_hosts, "audit", rules)
    return read


@pytest.fixture
def checked(monkeypatch) -> list[str]:
    """The --limit each server check ran with; the devices' audit finds nothing."""
    limits: list[str] = []

    def check(env, limit="servers", **_):
        limits.append(limit)
        return [HostDrift(name) for name in limit.split(",")]

    monkeypatch.setattr(server_check, "check", check)
    monkeypatch.setattr(
        audit.run, "audit", lambda targets, *_a, **_k: [DeviceAudit(t.hostname, t.platform) for t in targets]
    )
    return limits


def test_a_limit_naming_a_server_checks_that_server_only(lab: Path, tmp_path: Path, checked) -> None:
    run = audit.run_audit(lab, ["zj-dc-app1"], tmp_path)
    assert checked == ["zj-dc-app1"]
    assert run.devices == [] and [h.hostname for h in run.servers] == ["zj-dc-app1"] and run.ok


def test_a_limit_naming_a_site_checks_its_devices_and_servers(lab: Path, tmp_path: Path, checked, level3) -> None:
    run = audit.run_audit(lab, ["zj-dr"], tmp_path)
    assert [r.hostname for r in run.devices] == ["zj-dr-r1"]
    # the level-3 rules cover the site's firewall too, which the playbooks' check mode does not
    assert "zj-dr-fw-inner" in level3 and set(level3) == {h.hostname for h in run.servers}
    firewall = next(h for h in run.servers if h.hostname == "zj-dr-fw-inner")
    assert not firewall.checked
    # its database runs with the other database and the backup hosts (they read each other's
    # state in the run), reported as named
    assert len(checked) == 1 and set(checked[0].split(",")) == {
        "zj-dr-db1",
        "zj-dr-app1",
        "zj-dr-web1",
        "zj-dr-ops1",
        "zj-dr-bastion1",
        "zj-dc-db1",
        "zj-dc-bak1",
    }
    assert not {"zj-dc-db1", "zj-dc-bak1"} & {h.hostname for h in run.servers}


def test_a_database_host_is_checked_with_its_peer_and_reported_alone(lab: Path, tmp_path: Path, checked) -> None:
    run = audit.run_audit(lab, ["zj-dc-db1"], tmp_path)
    assert checked == ["zj-dc-db1,zj-dc-bak1,zj-dr-db1"]
    assert [h.hostname for h in run.servers] == ["zj-dc-db1"] and run.ok


def test_without_a_limit_every_server_is_checked(lab: Path, tmp_path: Path, checked, level3) -> None:
    audit.run_audit(lab, None, tmp_path)
    assert checked == ["servers"]
    assert {"zj-dc-fw-inner", "zj-dc-gatekeeper", "zj-dc-app1", "zj-dr-db1"} <= set(level3)
    assert not any(name.endswith("-r1") for name in level3)  # routers: the device audit's


def test_no_servers_leaves_them_out_of_a_limited_audit(lab: Path, tmp_path: Path, checked, level3) -> None:
    run = audit.run_audit(lab, ["fotang-r1", "zj-dc-app1"], tmp_path, servers=False)
    assert checked == [] == level3 and [r.hostname for r in run.devices] == ["fotang-r1"]
    with pytest.raises(JinbaoError, match="matches no device: zj-dc-app1"):
        audit.run_audit(lab, ["zj-dc-app1"], tmp_path, servers=False)


def test_a_limit_naming_nothing_is_refused_before_anything_runs(lab: Path, tmp_path: Path, checked) -> None:
    with pytest.raises(JinbaoError, match="matches no device or server: nowhere-r9"):
        audit.run_audit(lab, ["nowhere-r9"], tmp_path / "report")
    assert checked == [] and not (tmp_path / "report").exists()


def test_a_named_server_missing_from_the_checks_results_is_not_clean(lab: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(server_check, "check", lambda env, limit="servers", **_: [])
    run = audit.run_audit(lab, ["zj-dc-app1"], tmp_path / "report")
    assert [(h.hostname, h.clean) for h in run.servers] == [("zj-dc-app1", False)] and not run.ok
