"""The devices: `jinbao backup`, `push` and `audit`.

The device stack (network.fleet, .backup, .push, .audit: NAPALM, netmiko, paramiko) is
imported inside each command, not above: it costs about 1.0 s of CPU at startup (0.6 s
for `import network.cli` without it, 1.6 s with it, measured with /usr/bin/time), which
every `jinbao validate` and `jinbao --help` would pay.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from network.cli import console
from network.cli.console import DEVICE_FAILED, EnvArg, JsonOpt, LimitOpt, VaultOpt

STATUS_COLOURS = {
    "unchanged": "green",
    "planned": "yellow",
    "rotated": "green",
    "not-held": "white",
    "restored": "red",
    "pending": "yellow",
    "committed": "green",
    "rolled-back": "red",
    "failed": "red",
}


def backup(
    env: EnvArg,
    to: Annotated[Path | None, typer.Option(help="Git repository of backups; default backups/<env>.")] = None,
    limit: LimitOpt = None,
    vault_password_file: VaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch every device's running config into a git history: one commit per run, secrets scrubbed.

    Exit 3 when a device could not be read (the others are still backed up)."""
    from network import fleet
    from network.backup import backup as run_backup

    with console.errors(as_json):
        selected = fleet.select(env, limit, vault_password_file)
        name = selected.network.name
        report = run_backup(name, selected.targets, to or Path("backups") / name)
    if as_json:
        print(json.dumps({"ok": not report.failed, **report.as_dict()}))
    else:
        for host, error in sorted(report.failed.items()):
            console.err.print(f"[red]✗[/] {host}: {escape(error)}", highlight=False)
        commit = f"commit {report.commit[:10]}" if report.commit else "no change, no commit"
        console.out.print(
            f"{'[green]✓[/]' if not report.failed else '[red]✗[/]'} {report.directory}: {len(report.changed)} changed, "
            f"{len(report.unchanged)} unchanged, {len(report.failed)} failed; {commit} in {report.seconds:.1f}s"
        )
    if report.failed:
        raise typer.Exit(DEVICE_FAILED)


def push(
    env: EnvArg,
    limit: LimitOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Show the diffs only; exit 1 if any device differs.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before committing.")] = False,
    confirm_in: Annotated[int, typer.Option(help="Seconds a device waits for confirmation, then reverts.")] = 90,
    vault_password_file: VaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Push the rendered configs: diff per device, ask, commit with commit-confirm, roll back on failure.

    Exit 0 done (or nothing to do), 1 --check found differences, 3 a device failed or was rolled back."""
    from network import push as pusher

    def ask(diffs) -> bool:
        _print_diffs(diffs)
        if yes:
            return True
        if as_json or not sys.stdin.isatty():
            console.err.print("[red]refusing to commit without --yes (no terminal to ask on)[/]")
            return False
        return typer.confirm(f"Commit {sum(d.status == 'pending' for d in diffs)} device(s)?")

    with console.errors(as_json):
        outcomes = pusher.push_environment(
            env, limit, check=check, confirm=ask, confirm_in=confirm_in, vault_password_file=vault_password_file
        )
    if as_json:
        print(json.dumps({"ok": all(o.ok for o in outcomes), "devices": [o.as_dict() for o in outcomes]}))
    else:
        if check:
            _print_diffs(outcomes)
        table = Table("device", "status", "safety net", "seconds", "error")
        for o in outcomes:
            status = f"[{STATUS_COLOURS.get(o.status, 'red')}]{o.status}[/]"
            table.add_row(o.hostname, status, escape(o.safety_net), f"{o.seconds:.1f}", escape(o.error))
        console.print_table(table)
    if any(not o.ok for o in outcomes):
        raise typer.Exit(DEVICE_FAILED)
    if check and any(o.status == "pending" for o in outcomes):
        raise typer.Exit(1)


def _print_diffs(outcomes) -> None:
    for o in outcomes:
        if o.diff:
            net = f" (if unconfirmed: {o.safety_net})" if o.safety_net else ""
            console.err.print(f"[bold]--- {escape(o.hostname)}{escape(net)}[/]")
            for line in o.diff.splitlines():
                colour = "green" if line.startswith("+") else "red" if line.startswith("-") else "white"
                console.err.print(f"[{colour}]{escape(line)}[/]", highlight=False)


def audit(
    env: EnvArg,
    limit: Annotated[
        list[str] | None,
        typer.Option(
            "--limit", help="Only these devices and servers: hostname or site id, globs allowed (repeatable)."
        ),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report directory; default build/audit/<env>.")] = None,
    vault_password_file: VaultOpt = None,
    servers: Annotated[
        bool,
        typer.Option(
            "--servers/--no-servers",
            help="Also check servers (the playbooks in check mode, --diff) and every Linux host's level-3 rules.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Intended vs running on every device, per feature, with the remediation; HTML, JSON and JUnit reports.

    Level-3 compliance rules (network/rules/level3.yml) run on every device and, with the
    servers, on every Linux host besides the routers; reviewed exceptions are read from
    inventories/<env>/waivers.yml.

    Exit 0 clean, 1 drift or a non-compliant device, 3 a device could not be audited."""
    from network import audit as auditor

    with console.errors(as_json):
        run = auditor.run_audit(env, limit, out_dir, vault_password_file, servers)
    if as_json:
        print(json.dumps(run.as_dict()))
    else:
        _print_audit(run)
    if run.failed:
        raise typer.Exit(DEVICE_FAILED)
    if run.findings:
        raise typer.Exit(1)


def _print_audit(run) -> None:
    for r in run.devices:
        _print_device(r)
    for h in run.servers:
        _print_server(h)
    results = [*run.devices, *run.servers]
    clean = sum(r.clean for r in results)
    if run.servers:
        wanted = sum(not h.changes and not h.error for h in run.servers if h.checked)
        checked = sum(h.checked for h in run.servers)
        complying = sum(bool(h.compliance) and not h.noncompliant for h in run.servers)
        playbooks = f"servers: {wanted}/{checked} as the playbooks want them; " if checked else ""
        console.out.print(f"{playbooks}Linux hosts: {complying}/{len(run.servers)} compliant with the level-3 rules")
    _print_restore_test(run.restore_test)
    _print_drills(run.drills)
    _print_passwords(run.passwords)
    console.out.print(
        f"{'[green]✓[/]' if clean == len(results) else '[red]✗[/]'} audit {run.environment}: {clean}/{len(results)} "
        f"clean in {run.seconds:.1f}s; report {run.reports['html']}"
    )


def _print_restore_test(result: dict | None) -> None:
    from network.audit import restore

    mark = {"none": "-", "ok": "[green]✓[/]", "failed": "[red]✗[/]"}[restore.state(result)]
    console.out.print(f"{mark} {escape(restore.summary(result))}", highlight=False, soft_wrap=True)


def _print_passwords(ages) -> None:
    from network.audit import passwords

    for age in ages:
        mark = "[red]✗[/]" if age.stale else "[green]✓[/]" if age.held else "-"
        console.out.print(f"{mark} password {escape(passwords.summary(age))}", highlight=False, soft_wrap=True)


def _print_drills(drills: list[dict]) -> None:
    from network.audit import drills as dr_drills

    mark = {"none": "-", "ok": "[green]✓[/]", "failed": "[red]✗[/]"}[dr_drills.state(drills)]
    console.out.print(f"{mark} {escape(dr_drills.summary(drills))}", highlight=False, soft_wrap=True)


def _print_lines(lines) -> None:
    for line in lines:
        console.err.print(f"    {escape(line)}", highlight=False, soft_wrap=True)


def _print_device(r) -> None:
    if r.error:
        console.err.print(f"[red]✗ {r.hostname}[/]: {escape(r.error)}", highlight=False, soft_wrap=True)
    for warning in r.warnings:  # what the device said beside its config: never drift
        console.err.print(f"! {escape(r.hostname)} device warning: {escape(warning)}", highlight=False, soft_wrap=True)
    for feature, lines in r.drift.items():
        console.err.print(f"[yellow]~ {r.hostname}[/] {feature}:")
        _print_lines(lines)
    _print_rules(r.hostname, r.compliance)


def _print_server(h) -> None:
    if h.error:
        console.err.print(f"[red]✗ {h.hostname}[/]: {escape(h.error)}", highlight=False, soft_wrap=True)
    for change in h.changes:
        console.err.print(f"[yellow]~ {h.hostname}[/] would change: {escape(change['task'])}", highlight=False)
        _print_lines(change["diff"].splitlines())
    _print_rules(h.hostname, h.compliance)


def _print_rules(hostname: str, results) -> None:
    for rule in results:
        if rule.failed:
            console.err.print(f"[red]✗ {hostname}[/] {rule.rule} ({escape(rule.title)}):")
            _print_lines(rule.evidence)


def rotate_passwords(
    env: EnvArg,
    accounts: Annotated[
        list[str] | None,
        typer.Option("--account", help="A device account to rotate (repeatable); default: those due by rotations.yml."),
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Rotate; without it, show what would be typed.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before rotating.")] = False,
    confirm_in: Annotated[int, typer.Option(help="Seconds a device waits for confirmation, then reverts.")] = 90,
    vault_password_file: VaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rotate the routers' local account passwords: typed under commit-confirm, checked by a login, then the vault.

    Every device of the environment (the vault holds one password per account for all); a
    device that fails puts the others back. Exit 0 done (or shown), 3 a device failed."""
    from network import rotate

    with console.errors(as_json):
        run, *_ = rotate.plan(env, accounts, vault_password_file)
        if apply and run.accounts:
            if not as_json:
                _print_rotation(run, as_json=False)
            if not yes and (as_json or not sys.stdin.isatty()):
                console.err.print("[red]refusing to rotate without --yes (no terminal to ask on)[/]")
                raise typer.Exit(DEVICE_FAILED)
            planned = sum(d.status == "planned" for d in run.devices)
            if not yes and not typer.confirm(f"Rotate {', '.join(run.accounts)} on {planned} device(s)?"):
                raise typer.Exit(DEVICE_FAILED)
            run = rotate.apply(env, run.accounts, vault_password_file, confirm_in=confirm_in)
    _print_rotation(run, as_json)
    if not run.ok:
        raise typer.Exit(DEVICE_FAILED)


def _print_rotation(run, as_json: bool) -> None:
    if as_json:
        print(json.dumps(run.as_dict()))
        return
    if not run.accounts:
        console.out.print("no device account is due (rotations.yml); name one with --account")
        return
    table = Table("device", "status", "safety net", "lines (secrets shown as <secret>)", "error")
    for d in run.as_dict()["devices"]:
        status = f"[{STATUS_COLOURS.get(d['status'], 'red')}]{d['status']}[/]"
        table.add_row(d["hostname"], status, escape(d["safety_net"]), escape("\n".join(d["lines"])), escape(d["error"]))
    console.print_table(table)
    if run.applied:
        written = "written" if run.vault_written else "untouched"
        console.out.print(f"accounts {', '.join(run.accounts)}: vault {written}")
    if run.problem:
        console.err.print(f"[bold red]left to do[/]: {escape(run.problem)}", soft_wrap=True)
