"""`jinbao onboard township` and `jinbao offboard township`: a township's line in one command.

Without --apply: the change set (sites.yml, allocations.yml, the routers' configs as diffs)
and nothing written. With --apply: written, and in the lab carried out and verified, with
a change record for the ticket (build/changes/<env>/). Exit 0 done, 2 refused (nothing was
written), 3 a step of --apply failed (the record says which)."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer
from rich.markup import escape

from network.cli import console
from network.cli.console import DEVICE_FAILED, EnvArg, JsonOpt, VaultOpt
from network.errors import JinbaoError, Problem

ApplyOpt = Annotated[
    bool, typer.Option("--apply", help="Write the files and, in the lab, carry the change out and verify it.")
]


def onboard_township(
    env: EnvArg,
    county: Annotated[str, typer.Argument(help="The county's site id the township hangs under.")],
    slug: Annotated[str, typer.Argument(help="The township's slug (ASCII pinyin; its router is <slug>-r1).")],
    name: Annotated[str, typer.Option(help="Its display name, e.g. 孝顺镇.")],
    line: Annotated[str, typer.Option(help="The primary line to the county: type,bandwidth, e.g. mstp,10M.")],
    backup: Annotated[
        str | None, typer.Option(help="A backup line: type,bandwidth[,parent], e.g. 4g,20M,jinhua (the city).")
    ] = None,
    carrier: Annotated[str | None, typer.Option(help="The line's carrier; default: the county's own.")] = None,
    backup_carrier: Annotated[str | None, typer.Option(help="The backup's carrier; default: --carrier's.")] = None,
    posts: Annotated[int | None, typer.Option(help="Business posts (they size the line).")] = None,
    insured: Annotated[int | None, typer.Option(help="People insured in its area (they size the line).")] = None,
    site_id: Annotated[str | None, typer.Option("--id", help="Its site id; default: the slug.")] = None,
    do_apply: ApplyOpt = False,
    vault_password_file: VaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Extend a line to a new township: sites.yml edited (comments and order kept), planned, the new router
    and the routers its lines land on rendered, the change set shown; --apply writes and, in the lab, brings
    it up, pushes with commit-confirm and verifies that its clerk writes through the application."""
    from network.onboard import plan  # the sites-file editor (ruamel.yaml): not for every jinbao command

    started = time.monotonic()
    with console.errors(as_json):
        first = plan.parse_line(line, "--line", carrier, parent_allowed=False)
        second = plan.parse_line(backup, "--backup", backup_carrier or carrier, True) if backup else None
        request = plan.Township(county, slug, name, first, second, posts, insured, site_id)
        changes = plan.onboard(env, request, vault_password_file)
    asked = {"county": county, "slug": slug, "name": name, "line": line, "backup": backup}
    _finish(changes, asked, do_apply, started, vault_password_file, as_json)


def offboard_township(
    env: EnvArg,
    slug: Annotated[str, typer.Argument(help="The township's slug or site id.")],
    do_apply: ApplyOpt = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before freeing its addresses and lines.")] = False,
    vault_password_file: VaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a township out: what it holds is shown first (its site, addresses, lines, the routers' diffs);
    --apply frees exactly that (asks, or --yes) and, in the lab, pushes the routers its lines land on and
    removes its router and lines."""
    from network.onboard import plan

    started = time.monotonic()
    with console.errors(as_json):
        changes = plan.offboard(env, slug, vault_password_file)
    if do_apply and not yes:
        _show(changes)
        if as_json or not sys.stdin.isatty():
            problem = Problem("command line", changes.site_path, "--yes", "freeing a township's addresses needs --yes")
            raise console.fail(JinbaoError(problem), as_json)
        if not typer.confirm(f"Free {changes.site_id}'s {len(changes.changes)} allocation(s) and remove its router?"):
            raise typer.Exit(1)
    _finish(changes, {"slug": slug}, do_apply, started, vault_password_file, as_json, shown=do_apply and not yes)


def _finish(changes, asked: dict, do_apply: bool, started: float, vault, as_json: bool, shown: bool = False) -> None:
    from network.onboard import apply, record  # the device drivers (NAPALM): not for every jinbao command

    run = None
    if do_apply:
        run = apply.Run(changes, say=(lambda _t: None) if as_json else _say, started=started)
        (apply.onboard if changes.action == "onboard" else apply.offboard)(run, vault)
    report = record.build_record(changes, run, asked)
    if run is not None:
        report["record"] = str(record.write(changes.env, report))
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        if not shown:
            _show(changes)
        if run is not None:  # the diffs are above: the record's text without them
            console.out.print(escape(record.text(report, diffs=False)), highlight=False, soft_wrap=True)
            _verdict(report)
        else:
            console.out.print(
                f"nothing written; `jinbao {changes.action} township {changes.env} ... --apply` carries it out",
                highlight=False,
            )
    if run is not None and not run.ok:
        raise typer.Exit(DEVICE_FAILED)


def _show(changes) -> None:
    for warning in changes.warnings:
        console.err.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False, soft_wrap=True)
    for name, diff in changes.diffs().items():
        console.out.print(f"[bold]### {escape(name)}[/]")
        for text in diff.splitlines():
            colour = "green" if text.startswith("+") else "red" if text.startswith("-") else "white"
            console.out.print(f"[{colour}]{escape(text)}[/]", highlight=False, soft_wrap=True)


def _verdict(report: dict) -> None:
    what = report["what"]
    mark = "[green]✓[/]" if report["ok"] else "[red]✗[/]"
    done = ("verified" if report["in_lab"] else "written (no lab: nothing pushed)") if report["ok"] else "failed"
    console.out.print(
        f"{mark} {what['action']} {what['site']}: {done} in {report['seconds_to_verified']} s "
        f"from the command; record {escape(report['record'])}",
        highlight=False,
        soft_wrap=True,
    )


def _say(text: str) -> None:
    console.err.print(f"  {escape(text)}", highlight=False, soft_wrap=True)
