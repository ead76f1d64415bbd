"""The intent: `jinbao validate`, `plan`, `render` and `generate`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from network import build, ipam, zones
from network.cli import console
from network.cli.console import EnvArg, JsonOpt, VaultOpt
from network.errors import JinbaoError
from network.generate import generate_national
from network.ipam import incremental, prune
from network.model import Network, load
from network.planned import planned


def _counts(network: Network) -> dict[str, int]:
    counts: dict[str, int] = {}
    for site in network.sites.values():
        counts[site.tier] = counts.get(site.tier, 0) + 1
    counts["devices"] = sum(len(s.devices) for s in network.sites.values())
    counts["lines"] = sum(len(s.uplinks) for s in network.sites.values())
    return counts


def validate(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Load and check the intent: sites.yml, addressing.yml, group_vars/all, and zones.yml when
    the environment has one (as `jinbao zones validate`)."""
    with console.errors(as_json):
        started = time.perf_counter()
        network = load(env)
        counts = _counts(network)
        # the addressing checks of `plan` (full pools, overlapping blocks), read-only: nothing is written
        pending = incremental.plan(network, ipam.read(env))[0].changes
        policy = zones.load_if_any(env, network=network)
    zoned = None
    if policy is not None:
        overdue = zones.overdue(policy)
        zoned = {"zones": len(policy.zones), "flows": len(policy.flows), "overdue": [f.id for f in overdue]}
        if not as_json:
            for flow in overdue:
                console.err.print(f"[yellow]! {flow.id}[/] was due for review on {flow.review} ({flow.owner})")
    if as_json:
        report = {"ok": True, "environment": network.name, "counts": counts, "pending": len(pending), "zones": zoned}
        print(json.dumps(report))
        return
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    if zoned is not None:
        summary += f"; zones.yml: {zoned['zones']} zones, {zoned['flows']} flows"
    console.out.print(f"[green]✓[/] {env}: valid ({summary}) in {time.perf_counter() - started:.2f}s")
    if pending:
        released = len(prune.releases(pending))
        console.out.print(
            f"{env}/allocations.yml is out of date: {len(pending)} pending change(s), {released} release(s); "
            f"see `jinbao plan {env} --check`"
        )


def _change_rows(changes: list[ipam.Change]) -> list[dict]:
    return [{"action": c.action, "section": c.section, "key": c.key, "old": c.old, "new": c.new} for c in changes]


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return " ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def plan(
    env: EnvArg,
    check: Annotated[
        bool, typer.Option("--check", help="Only show; exit 1 if allocations.yml is out of date.")
    ] = False,
    render_changed: Annotated[
        bool, typer.Option("--render", help="Then render the devices the changes touch.")
    ] = False,
    prune_released: Annotated[
        bool,
        typer.Option("--prune", help="Release the allocations of what left sites.yml (refused without it)."),
    ] = False,
    vault_password_file: VaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Allocate addresses for what is new, keep everything else, show what changed.

    Releasing allocations is destructive: without --prune, a plan that would release any lists them and
    writes nothing (exit 2); --check reports them with the other pending changes (exit 1)."""
    with console.errors(as_json):
        run = build.apply_plan(
            env,
            check=check,
            prune_released=prune_released,
            render=render_changed,
            vault_password_file=vault_password_file,
            track=console.track(as_json),
        )
        if run.refused is not None:
            if not as_json:
                _print_changes(run.changes, env, check=True)
            raise _fail_plan(run.refused, run.changes, as_json)
    if as_json:
        report = {"ok": True, "written": run.written, "changes": _change_rows(run.changes)}
        if run.rendered is not None:
            report["render"] = run.rendered.as_dict()
        print(json.dumps(report, ensure_ascii=False))
    else:
        _print_changes(run.changes, env, check)
        if run.rendered is not None:
            console.out.print(f"rendered: {_render_counts(run.rendered)}")
    if check and run.changes:
        released = len(prune.releases(run.changes))
        if released and not as_json:
            console.out.print(f"{released} release(s): `jinbao plan {env} --prune` would release them")
        raise typer.Exit(1)


def _render_counts(result) -> str:
    return f"{len(result.written)} written, {len(result.unchanged)} unchanged, {len(result.removed)} removed"


def _fail_plan(exc: JinbaoError, changes: list[ipam.Change], as_json: bool) -> typer.Exit:
    """A refused plan: with --json, the changes it would have made beside the problem."""
    if not as_json:
        return console.fail(exc, as_json)
    report = {"ok": False, "written": False, "changes": _change_rows(changes)}
    print(json.dumps({**report, "problems": [p.as_dict() for p in exc.problems]}, ensure_ascii=False))
    return typer.Exit(exc.exit_code)


def _print_changes(changes: list[ipam.Change], env: Path, check: bool) -> None:
    if not changes:
        console.out.print(f"[green]✓[/] {env}/allocations.yml is up to date")
        return
    table = Table(title=f"{len(changes)} allocation change(s)", title_justify="left")
    for column in ("action", "section", "key", "old", "new"):
        table.add_column(column)
    colour = {"added": "green", "released": "yellow", "changed": "red"}
    for change in changes[:200]:
        table.add_row(
            f"[{colour[change.action]}]{change.action}[/]",
            change.section,
            change.key,
            _fmt(change.old),
            _fmt(change.new),
        )
    console.print_table(table)
    if len(changes) > 200:
        console.out.print(f"… and {len(changes) - 200} more (use --json for all)")
    verb = "would be written to" if check else "written to"
    console.out.print(f"{verb} {env}/allocations.yml")


def render(
    env: EnvArg,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only this site's devices (repeatable).")] = None,
    vault_password_file: VaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render every device's config into build/configs/<env>/ (only changed files are rewritten)."""
    with console.errors(as_json):
        started = time.perf_counter()
        track = console.track(as_json)
        network, allocations = planned(env, track)
        result = build.render_configs(network, allocations, env, site, vault_password_file, track=track)
    if as_json:
        print(json.dumps({"ok": True, "directory": str(build.configs_dir(network)), **result.as_dict()}))
        return
    console.out.print(
        f"[green]✓[/] {build.configs_dir(network)}: {_render_counts(result)} in {time.perf_counter() - started:.2f}s"
    )


def generate(
    output: Annotated[Path, typer.Argument(help="Inventory directory to write, e.g. inventories/national")],
    seed: Annotated[int, typer.Option(help="Same seed, same country.")] = 2023,
    scale: Annotated[float, typer.Option(help="1.0 is the real country; smaller for quick tries.")] = 1.0,
    villages: Annotated[
        bool, typer.Option("--villages", help="Add ~490,000 administrative villages under the townships.")
    ] = False,
) -> None:
    """Generate the national inventory at real scale: 31 provinces, ~333 cities, ~2,840 counties, ~38,600 townships."""
    started = time.perf_counter()
    counts = generate_national(output, seed=seed, scale=scale, villages=villages)
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    console.out.print(f"[green]✓[/] {output}: {summary} in {time.perf_counter() - started:.1f}s")
