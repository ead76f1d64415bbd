"""Ansible inventory from a Pulumi stack's outputs (saved `pulumi stack output --json`).

    # inventories/zhejiang-cloud/dc.pulumi.yml
    plugin: jinbao_pulumi
    outputs: zhejiang-dc.outputs.json      # relative to this file

Hosts are the stack's instances (`instances` output: address, zone, role), in the groups the
model's own inventory uses: servers, zone_<zone>, server_<role>, dc_<site>. Unlike the model's
plugin, values stay untrusted (ansible-core marks them unsafe: never templated), since they
come from the cloud's API, not from the reviewed repository.
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

DOCUMENTATION = r"""
name: jinbao_pulumi
short_description: Hosts of a Pulumi-provisioned jinbao DC from its saved stack outputs
description:
  - Reads the JSON that `pulumi stack output --json` printed for a jinbao-dc stack.
options:
  plugin:
    description: jinbao_pulumi
    required: true
    choices: [jinbao_pulumi]
  outputs:
    description: The saved stack outputs, relative to the inventory file.
    required: true
    type: str
"""


class InventoryModule(BaseInventoryPlugin):
    NAME = "jinbao_pulumi"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith((".pulumi.yml", ".pulumi.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        source = Path(path).parent / self.get_option("outputs")
        try:
            outputs = json.loads(source.read_text())
        except (OSError, ValueError) as exc:
            raise AnsibleParserError(f"jinbao_pulumi: cannot read {source}: {exc}") from exc
        site = outputs.get("site")
        instances = outputs.get("instances")
        if not site or not isinstance(instances, dict):
            raise AnsibleParserError(f"jinbao_pulumi: {source} has no `site` and `instances` outputs")
        zones = outputs.get("zones") or {}
        for hostname, data in sorted(instances.items()):
            missing = [k for k in ("address", "zone", "role") if not data.get(k)]
            if missing:
                raise AnsibleParserError(f"jinbao_pulumi: {source}: instance {hostname} lacks {', '.join(missing)}")
            groups = [
                f"zone_{data['zone'].replace('-', '_')}",
                f"server_{data['role'].replace('-', '_')}",
                f"dc_{site.replace('-', '_')}",
            ]
            for group in ("servers", *groups):
                self.inventory.add_group(group)
            for group in groups:
                self.inventory.add_child("servers", group) if group.startswith("zone_") else None
                self.inventory.add_host(hostname, group=group)
            variables = {
                "ansible_host": data["address"],
                "jinbao_site": site,
                "jinbao_zone": data["zone"],
                "jinbao_role": data["role"],
                "jinbao_address": data["address"],
                "jinbao_zone_subnet": zones.get(data["zone"]),
                "jinbao_cloud_id": data.get("id"),
            }
            for key, value in variables.items():
                self.inventory.set_variable(hostname, key, value)
