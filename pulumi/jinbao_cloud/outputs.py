"""Stack outputs: what Ansible needs to configure what the stack created."""

from __future__ import annotations

import pulumi
from jinbao_cloud.components import DataCenter
from jinbao_cloud.plan import SitePlan


def export(dc: DataCenter, plan: SitePlan) -> None:
    pulumi.export("site", plan.site)
    pulumi.export("zones", dict(plan.zones))
    pulumi.export(
        "instances",
        {
            h.hostname: {"address": h.address, "zone": h.zone, "role": h.role, "id": dc.instances[h.hostname].id}
            for h in plan.hosts
        },
    )
    pulumi.export("floating_ips", [f.address for f in dc.floating_ips])
