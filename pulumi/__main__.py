"""The stack: one DC site of the model (Pulumi.<province>-<dc|dr>.yaml says which)."""

import sys
from pathlib import Path

import pulumi

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # jinbao_cloud, and the network package

from jinbao_cloud.components import DataCenter, Sizing  # noqa: E402
from jinbao_cloud.outputs import export  # noqa: E402
from jinbao_cloud.plan import site_plan  # noqa: E402

config = pulumi.Config()
plan = site_plan(HERE / config.require("inventory"), config.require("site"))
sizing = Sizing(
    image=config.require("image"),
    external_network_id=config.require("external_network"),
    flavors=config.require_object("flavors"),
    volumes=config.get_object("volumes") or {},
)
export(DataCenter(plan.site, plan, sizing), plan)
