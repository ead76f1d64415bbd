"""`jinbao`: the command line over the model, IPAM and renderers.

Rich output for people, --json for tools. Exit codes: 0 fine, 1 `plan --check` (or
`push --check`) found pending changes, 2 the intent is wrong (every problem is listed,
nothing was written), 3 a device failed (the others still ran).

One module per command group; each command calls one function of the domain modules
(network.build, network.push, network.audit, network.lab, ...) and only prints what it
returns. The commands are registered here, in the order `jinbao --help` lists them.
"""

from __future__ import annotations

import typer

from network.cli import capacity, console, devices, dr, intent, lab, new, onboard, show, zones

app = typer.Typer(
    help="jinbao-net: source of truth, IPAM and config rendering for the social-insurance private network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
show_app = typer.Typer(help="Show one object of the model.", no_args_is_help=True)
app.add_typer(show_app, name="show")
lab_app = typer.Typer(help="The lab: this environment as containers on this machine.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")
zones_app = typer.Typer(
    help="Security zones: zones.yml validated and compiled per firewall layer.", no_args_is_help=True
)
app.add_typer(zones_app, name="zones")
dr_app = typer.Typer(help="Disaster recovery: the DR status and measured drills in the lab.", no_args_is_help=True)
app.add_typer(dr_app, name="dr")
new_app = typer.Typer(
    help="New environments and sites from templates (inventories/sample-province).", no_args_is_help=True
)
app.add_typer(new_app, name="new")
onboard_app = typer.Typer(help="Extend a line to a new site: plan, render, apply, verify.", no_args_is_help=True)
app.add_typer(onboard_app, name="onboard")
offboard_app = typer.Typer(help="Take a site out: free exactly what onboarding took.", no_args_is_help=True)
app.add_typer(offboard_app, name="offboard")

for command in (intent.validate, intent.plan, intent.render):
    app.command()(command)
app.command()(capacity.capacity)
zones_app.command("validate")(zones.zones_validate)
zones_app.command("render")(zones.zones_render)
zones_app.command("stale")(zones.zones_stale)
show_app.command("site")(show.show_site)
for command in (show.diagram, intent.generate, devices.backup, devices.push, devices.audit, devices.rotate_passwords):
    app.command()(command)
lab_app.command("up")(lab.lab_up)
lab_app.command("images")(lab.lab_images)
lab_app.command("down")(lab.lab_down)
lab_app.command("status")(lab.lab_status)
dr_app.command("status")(dr.dr_status)
dr_app.command("drill")(dr.dr_drill)
new_app.command("province")(new.new_province)
for tier in ("city", "county", "township"):
    new_app.command(tier)(new.site_command(tier))
onboard_app.command("township")(onboard.onboard_township)
offboard_app.command("township")(onboard.offboard_township)

__all__ = ["app", "console"]


def main() -> None:  # pragma: no cover
    app()
