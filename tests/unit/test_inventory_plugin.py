"""ansible-inventory over the model: tiers as groups, every address from IPAM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from network import ipam


def ansible_inventory(env: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    command = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(env), *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO, check=False)


def test_groups_and_addresses_come_from_the_model(lab: Path) -> None:
    result = ansible_inventory(lab, "--list")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    hostvars = data["_meta"]["hostvars"]
    allocations = ipam.read(lab)
    assert set(data["routers"]["children"]) == {"ministry", "province", "city", "county", "township", "datacenter"}
    assert set(data["township"]["hosts"]) == {"choucheng-r1", "fotang-r1", "dongshan-r1"}
    for key, addresses in allocations.devices.items():
        site, device = key.split("/")
        host = f"{site}-{device}"
        assert hostvars[host]["ansible_host"] == addresses["management"]
        assert hostvars[host]["jinbao_loopback"] == addresses["loopback"]
    assert hostvars["zj-dc-ops1"]["jinbao_address"] == allocations.hosts["zj-dc/ops1"]["address"]
    assert "zj-dc-db1" in data["zone_core_db"]["hosts"]
    # in-band SSH is admitted from what zones.yml sends: the bastion and the backup host to
    # the database (F2, F20), the database to the backup host (F21), nothing else
    hosts = ("bastion1", "bak1", "db1")
    console, backup, database = (f"{allocations.hosts[f'zj-dc/{h}']['address']}/32" for h in hosts)
    assert hostvars["zj-dc-db1"]["jinbao_ssh_sources"] == [backup, console]
    assert hostvars["zj-dc-bak1"]["jinbao_ssh_sources"] == [database]
    assert hostvars["zj-dc-ops1"]["jinbao_ssh_sources"] == []
    assert "jinbao_ssh_sources" not in hostvars["zhejiang-r1"]
    # every node knows the audited consoles, the only sources of operators' logins
    bastions = [{"host": f"{s}-bastion1", **allocations.hosts[f"{s}/bastion1"]} for s in ("zj-dc", "zj-dr")]
    assert hostvars["zhejiang-r1"]["jinbao_bastions"] == hostvars["zj-dc-db1"]["jinbao_bastions"] == bastions
    # the DC's name server, then the DR site's (F31, F32), for the hosts zones.yml lets ask
    # them (dns: F22-F24); each DR host its own site's first; routers and the unrouted DMZ ask none
    dc_ns, dr_ns = allocations.hosts["zj-dc/ops1"]["address"], allocations.hosts["zj-dr/ops1"]["address"]
    assert hostvars["zj-dc-app1"]["jinbao_dns"] == [dc_ns, dr_ns]
    assert hostvars["zj-dr-db1"]["jinbao_dns"] == [dr_ns, dc_ns]
    assert hostvars["zj-dc-bak1"]["jinbao_dns"] == [dc_ns]  # ops/backup: only ops/ops asks across (F29)
    assert {hostvars[h]["jinbao_dr_site"] for h in ("zj-dc-db1", "zj-dr-db1")} == {"zj-dr"}
    assert hostvars["zj-dc-decl1"]["jinbao_dns"] == []
    assert "jinbao_dns" not in hostvars["zhejiang-r1"]
    assert hostvars["zj-dc-db1"]["jinbao_province"] == "zhejiang"
    # each collector by the name its TLS certificate carries (rsyslog's permitted peer)
    for host in ("zhejiang-r1", "zj-dr-db1", "zj-dc-app1"):
        assert hostvars[host]["jinbao_syslog_peers"] == {dc_ns: "zj-dc-ops1"}
        assert list(hostvars[host]["jinbao_syslog_peers"]) == hostvars[host]["jinbao_syslog"]


def test_graph_shows_the_tiers(lab: Path) -> None:
    result = ansible_inventory(lab, "--graph")
    assert result.returncode == 0, result.stderr
    assert "@township:" in result.stdout and "|--fotang-r1" in result.stdout


def test_stale_allocations_are_refused(lab: Path) -> None:
    (lab / "allocations.yml").unlink()
    result = ansible_inventory(lab, "--list")
    assert "allocations.yml is out of date" in result.stderr
    assert result.returncode != 0  # ansible.cfg: unparsed_is_failed, never an empty inventory
    assert json.loads(result.stdout or "{}").get("_meta", {}).get("hostvars", {}) == {}


def test_a_refused_zone_policy_stops_ansible_naming_the_flow(lab: Path) -> None:
    path = lab / "zones.yml"
    path.write_text(path.read_text().replace("  - id: F2\n", "  - id: F1\n", 1))
    result = ansible_inventory(lab, "--list")
    assert result.returncode != 0
    assert "zones.yml: flows[1] (F1: ops/bastion" in result.stderr and "id is used by another flow" in result.stderr
