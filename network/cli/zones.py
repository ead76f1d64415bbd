"""Security zones: `jinbao zones validate`, `render` and `stale`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from network import zones
from network.cli import console
from network.cli.console import EnvArg, JsonOpt
from network.errors import JinbaoError, Problem
from network.planned import planned


def zones_validate(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Check zones.yml against the protection rules; every problem names its flow. Exit 2 if wrong."""
    with console.errors(as_json):
        policy = zones.load(env)
    overdue = zones.overdue(policy)
    if as_json:
        print(json.dumps({"ok": True, "flows": len(policy.flows), "overdue": [f.id for f in overdue]}))
        return
    for flow in overdue:
        console.err.print(f"[yellow]! {flow.id}[/] was due for review on {flow.review} ({flow.owner})")
    console.out.print(f"[green]✓[/] {env}/zones.yml: {len(policy.zones)} zones, {len(policy.flows)} flows")


def zones_render(
    env: EnvArg,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory; default build/zones/<env>.")] = None,
    vendor: Annotated[
        str | None,
        typer.Option(
            "--vendor",
            help="Every layer in this syntax (nftables: the lab's firewalls); default build/zones/<env>/<vendor>.",
        ),
    ] = None,
    lab: Annotated[
        bool,
        typer.Option(
            "--lab",
            help="The lab's firewalls: every layer as nftables, with what the lab's hub asks of it "
            "(docs/lab.md); default build/zones/<env>/lab.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compile zones.yml into each DC's firewall layers: nftables (.nft) or Huawei USG (.cfg)."""
    with console.errors(as_json):
        if vendor is not None and vendor not in zones.SUFFIX:
            raise JinbaoError(Problem("command line", "", "--vendor", f"is {vendor}; one of {', '.join(zones.SUFFIX)}"))
        if lab and vendor is not None:
            raise JinbaoError(Problem("command line", "", "--lab", "renders nftables itself: leave out --vendor"))
        policy = zones.load(env)
        network, allocations = planned(env)
        if lab:
            from network.lab import firewalls, topology

            files = firewalls.rulesets(topology.build(network, allocations, policy), policy, network, allocations)
        else:
            files = zones.render_all(policy, network, allocations, vendor)
    target = out_dir or Path("build") / "zones" / network.name / ("lab" if lab else vendor or "")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
    if as_json:
        print(json.dumps({"ok": True, "directory": str(target.resolve()), "files": sorted(files)}))
        return
    console.out.print(f"[green]✓[/] {target}: {', '.join(sorted(files))}")


def zones_stale(
    env: EnvArg,
    counters: Annotated[
        Path,
        typer.Argument(help="`nft -j list table inet jinbao_zones` output, or USG `display security-policy rule all`"),
    ],
    since: Annotated[str, typer.Option(help="When the counters started (the ruleset load or the last clear).")],
    as_json: JsonOpt = False,
) -> None:
    """Permits that matched nothing since a date: the periodic cleanup's list. Exit 1 if any."""
    # here, not at the top: network.audit brings the device stack (about 1 s), see cli/devices.py
    from network.audit.counters import stale, stale_usg

    with console.errors(as_json):
        policy = zones.load(env)
        text = counters.read_text()
        found = stale(text, since) if text.lstrip().startswith("{") else stale_usg(text, since)
    owners = {f.id: f.owner for f in policy.flows}
    for entry in found:  # a USG names a flow across sites' two rules <id>-out and <id>-in
        flow = entry["flow"]
        entry["flow"] = flow if flow in owners else flow.removesuffix("-out").removesuffix("-in")
        entry["owner"] = owners.get(entry["flow"], "not in zones.yml")
    if as_json:
        print(json.dumps({"ok": not found, "stale": found}))
    else:
        for entry in found:
            console.out.print(f"[yellow]stale[/] {entry['flow']} ({entry['owner']}): no hits since {since}")
        console.out.print(f"{len(found)} stale rule(s)")
    if found:
        raise typer.Exit(1)
