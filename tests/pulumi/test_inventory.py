"""Stack outputs become an Ansible inventory: `ansible-inventory` lists a Pulumi-provisioned
DC from a saved `pulumi stack output --json`. The outputs are the stack's own: its program
(pulumi/__main__.py with its Pulumi.<stack>.yaml) runs under the mocks and what
jinbao_cloud/outputs.export exports is what the inventory reads."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import yaml
from conftest import ROOT

import pulumi


def stack_outputs(stack: str) -> dict:
    """Run the stack's program as `pulumi up` would (config from Pulumi.<stack>.yaml) and
    return its exports resolved: what `pulumi stack output --json` prints for it."""
    config = yaml.safe_load((ROOT / "pulumi" / f"Pulumi.{stack}.yaml").read_text())["config"]
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    exported, resolved = {}, {}

    @pulumi.runtime.test
    def program():
        with mock.patch.object(pulumi, "export", exported.__setitem__):  # the stack's outputs, as pulumi keeps them
            runpy.run_path(str(ROOT / "pulumi" / "__main__.py"))
        return pulumi.Output.from_input(exported).apply(resolved.update)

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({})
    assert resolved, "the program never finished: the outputs below would be made up"
    return json.loads(json.dumps(resolved))  # as the CLI prints them: plain JSON


def plain(value):
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def ansible_inventory(directory: Path) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).parent / "ansible-inventory"
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    return subprocess.run(
        [str(binary), "-i", str(directory), "--list"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_ansible_inventory_lists_the_provisioned_dc(recorder, tmp_path):
    outputs = stack_outputs("zhejiang-dc")
    assert outputs["site"] == "zj-dc"
    (fip,) = recorder.of("openstack:networking/floatingIp:FloatingIp")
    assert len(outputs["floating_ips"]) == 1 and outputs["floating_ips"][0].startswith("198.51.100."), fip
    (tmp_path / "zhejiang-dc.outputs.json").write_text(json.dumps(outputs))
    (tmp_path / "dc.pulumi.yml").write_text("plugin: jinbao_pulumi\noutputs: zhejiang-dc.outputs.json\n")
    listed = ansible_inventory(tmp_path)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    # the outputs come from the cloud: ansible-core keeps them untrusted (not templated)
    hostvars = {h: {k: plain(v) for k, v in vs.items()} for h, vs in data["_meta"]["hostvars"].items()}
    instances = recorder.of("openstack:compute/instance:Instance")
    assert sorted(hostvars) == sorted(i["inputs"]["name"] for i in instances)
    assert hostvars["zj-dc-db1"]["ansible_host"] == "10.5.0.10"
    assert hostvars["zj-dc-db1"]["jinbao_cloud_id"] == "zj-dc-db1-id"  # the instance's id, from the cloud
    assert (hostvars["zj-dc-web1"]["jinbao_zone"], hostvars["zj-dc-web1"]["jinbao_role"]) == ("internal", "web")
    assert hostvars["zj-dc-db1"]["jinbao_zone_subnet"] == "10.5.0.0/24"
    assert data["zone_core_db"]["hosts"] == ["zj-dc-db1"]
    assert sorted(data["dc_zj_dc"]["hosts"]) == sorted(hostvars)
    assert "zone_core_db" in data["servers"]["children"]


def test_outputs_without_instances_are_refused(tmp_path):
    (tmp_path / "bad.outputs.json").write_text(json.dumps({"site": "zj-dc"}))
    (tmp_path / "dc.pulumi.yml").write_text("plugin: jinbao_pulumi\noutputs: bad.outputs.json\n")
    listed = ansible_inventory(tmp_path)
    assert "has no `site` and `instances` outputs" in listed.stderr
