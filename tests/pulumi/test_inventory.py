"""Stack outputs become an Ansible inventory: `ansible-inventory` lists a Pulumi-provisioned
DC from a saved `pulumi stack output --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from jinbao_cloud.plan import site_plan


def saved_outputs(site: str) -> dict:
    """What `pulumi stack output --json` prints for the stack (jinbao_cloud/outputs.py)."""
    plan = site_plan(ROOT / "inventories" / "lab", site)
    return {
        "site": plan.site,
        "zones": dict(plan.zones),
        "instances": {
            h.hostname: {"address": h.address, "zone": h.zone, "role": h.role, "id": f"uuid-{h.name}"}
            for h in plan.hosts
        },
        "floating_ips": ["198.51.100.7"],
    }


def plain(value):
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def ansible_inventory(directory: Path) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).parent / "ansible-inventory"
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    return subprocess.run(
        [str(binary), "-i", str(directory), "--list"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_ansible_inventory_lists_the_provisioned_dc(tmp_path):
    (tmp_path / "zhejiang-dc.outputs.json").write_text(json.dumps(saved_outputs("zj-dc")))
    (tmp_path / "dc.pulumi.yml").write_text("plugin: jinbao_pulumi\noutputs: zhejiang-dc.outputs.json\n")
    listed = ansible_inventory(tmp_path)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    # the outputs come from the cloud: ansible-core keeps them untrusted (not templated)
    hostvars = {h: {k: plain(v) for k, v in vs.items()} for h, vs in data["_meta"]["hostvars"].items()}
    assert sorted(hostvars) == sorted(saved_outputs("zj-dc")["instances"])
    assert hostvars["zj-dc-db1"]["ansible_host"] == "10.5.0.10"
    assert hostvars["zj-dc-db1"]["jinbao_zone_subnet"] == "10.5.0.0/24"
    assert data["zone_core_db"]["hosts"] == ["zj-dc-db1"]
    assert sorted(data["dc_zj_dc"]["hosts"]) == sorted(hostvars)
    assert "zone_core_db" in data["servers"]["children"]


def test_outputs_without_instances_are_refused(tmp_path):
    (tmp_path / "bad.outputs.json").write_text(json.dumps({"site": "zj-dc"}))
    (tmp_path / "dc.pulumi.yml").write_text("plugin: jinbao_pulumi\noutputs: bad.outputs.json\n")
    listed = ansible_inventory(tmp_path)
    assert "has no `site` and `instances` outputs" in listed.stderr
