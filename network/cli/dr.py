"""Disaster recovery: `jinbao dr status` and `jinbao dr drill`.

The container stack (network.lab.control: the docker SDK) is imported inside `drill`, as the
lab's commands do, so that other commands do not pay for it at startup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from network.cli import console
from network.cli.console import EnvArg, JsonOpt
from network.dr import history

STATUS_COLUMNS = ("host", "role", "timeline", "lsn", "sync_state", "streaming", "lag_bytes", "lag_seconds", "mode")
DRILL_FAILED = 1  # exit code: writes lost in synchronous mode, or the system did not recover


def dr_status(
    env: EnvArg,
    drills: Annotated[
        int, typer.Option("--drills", min=0, max=1000, help="Show this many of the newest drills on record.")
    ] = 5,
    as_json: JsonOpt = False,
) -> None:
    """dr/status.yml: who is primary, replication state and lag, sync or async; and the drill history.

    Exit 0 when the playbook passed, 3 when it failed."""
    from network.dr import status

    with console.errors(as_json):
        found = status.status(env, drills=drills)
    if as_json:
        print(json.dumps(found.as_dict(), ensure_ascii=False))
    else:
        _print_status(found)
    if not found.ok:
        raise typer.Exit(console.DEVICE_FAILED)


def _print_status(found) -> None:
    from network.dr import status

    rows = status.hosts(found.status)
    if rows:
        table = Table(*STATUS_COLUMNS, "degraded", "fenced")
        for row in rows:
            flags = ["[red]yes[/]" if row.get(k) else "no" for k in ("degraded", "fenced")]
            table.add_row(*(escape(str(row.get(c, ""))) for c in STATUS_COLUMNS), *flags)
        console.print_table(table)
    elif found.status is not None:
        console.out.print_json(json.dumps(found.status, ensure_ascii=False))
    if found.run.rc:
        console.err.print(f"[red]✗[/] dr/status.yml failed ({found.run.rc}):", highlight=False)
        console.err.print(escape(found.run.tail), highlight=False, soft_wrap=True)
    elif found.error:
        console.err.print(f"[red]✗[/] {escape(found.error)}", highlight=False, soft_wrap=True)
    if found.last_drill is None:
        console.out.print(f"- drills: {escape(history.summary(None))}", highlight=False, soft_wrap=True)
    for drill in found.drills:
        mark = "[green]✓[/]" if drill.get("ok") else "[red]✗[/]"
        console.out.print(f"{mark} drill: {escape(history.summary(drill))}", highlight=False, soft_wrap=True)


def dr_drill(
    env: EnvArg,
    kind: Annotated[str, typer.Option("--kind", help="switchover (planned) or failover (the business site lost).")],
    asynchronous: Annotated[
        bool, typer.Option("--async", help="Drill in asynchronous mode (dr/replication-mode.yml), sync again after.")
    ] = False,
    writes: Annotated[int, typer.Option("--writes", min=10, max=100_000, help="At most this many writes.")] = 600,
    seconds: Annotated[float, typer.Option("--seconds", min=30, max=3600, help="At most this long.")] = 240.0,
    township: Annotated[str, typer.Option("--township", help="The township whose router is the clerk.")] = "choucheng",
    as_json: JsonOpt = False,
) -> None:
    """A measured DR drill in the lab: a clerk's writes, the event, the dr/ playbooks, RTO and RPO, fail back.

    Writes build/dr/<env>/drill-<UTC stamp>.json and .html and appends to drills.jsonl.
    Exit 0 passed, 1 writes lost in synchronous mode or not recovered or not back to normal,
    2 refused (not a lab), 3 the drill could not run."""
    from network.dr import drill as drills
    from network.dr import report
    from network.dr.plan import drill_plan

    with console.errors(as_json):
        drills.refuse(env, kind)
        network, allocations, nodes = _lab(env)
        plan = drill_plan(network, allocations, township)
        drills.check_nodes(nodes, plan)
        say = (lambda _text: None) if as_json else _say
        result = drills.Drill(env, plan, nodes, kind, asynchronous, writes, seconds, say=say).run()
        paths = report.write(env, result)
        history.append(env, history.line_of(result, paths))
    if as_json:
        print(json.dumps({**result, "reports": paths}, ensure_ascii=False))
    else:
        _print_drill(result, paths)
    if not result["ok"]:
        raise typer.Exit(DRILL_FAILED)


def _lab(env: Path):
    """The model, its allocations and the lab's nodes to act on."""
    from network import zones
    from network.lab import topology
    from network.lab.control import NodeControl
    from network.planned import planned

    network, allocations = planned(env)
    topo = topology.build(network, allocations, zones.load_if_any(env, network))
    return network, allocations, NodeControl(env, topo, network.settings)


def _say(text: str) -> None:
    console.err.print(f"  {escape(text)}", highlight=False, soft_wrap=True)


def _print_drill(result: dict, paths: dict[str, str]) -> None:
    for problem in result["problems"]:
        console.err.print(f"[red]✗[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if result["lost"]:
        console.out.print(f"lost (acknowledged, missing): {', '.join(result['rpo']['lost_ids'])}", highlight=False)
    rto = f"RTO {result['rto_s']:.1f} s" if result["recovered"] else f"not recovered (>= {result['rto_at_least_s']} s)"
    mark = "[green]✓[/]" if result["ok"] else "[red]✗[/]"
    console.out.print(
        f"{mark} {result['kind']} drill ({result['mode']}) of {result['environment']}: {rto}, "
        f"{result['lost']} of {result['acknowledged']} acknowledged writes lost, "
        f"{'back to normal' if result['back_to_normal'] else 'NOT back to normal'}; report {paths['html']}",
        highlight=False,
        soft_wrap=True,
    )
    console.out.print(
        "  (the drill's clerk resolves web.<zone> before every write; real clients keep the 30 s TTL)",
        highlight=False,
    )
