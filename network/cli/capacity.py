"""`jinbao capacity`: the lines against the need of the posts and insured people behind them."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from network.capacity import BELOW, CapacityReport, capacity_report
from network.cli import console
from network.cli.console import EnvArg, JsonOpt
from network.model import load
from network.model.schema import format_bandwidth

MAX_ROWS = 200
STATUS_COLOURS = {"ok": "green", "below need": "red", "not sized": "white"}


def capacity(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Each line against the need of the sites whose traffic crosses it (business posts, insured at 50 %).

    A township's 4G/VPN backup must carry the township's minimum. The rule is group_vars'
    jinbao_capacity (docs/capacity.md). Exit 0 every line carries its need, 1 a line or a
    backup is below need, 2 the intent is wrong."""
    with console.errors(as_json):
        report = capacity_report(load(env))
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print_report(report)
    if report.below:
        raise typer.Exit(1)


def _rate(kbps: int | None) -> str:
    """13_600 -> '13.6M': what a line carries or needs, one decimal (format_bandwidth is for products)."""
    if kbps is None:
        return "—"
    if kbps >= 1_000_000:
        return f"{kbps / 1_000_000:,.1f}G"
    return f"{kbps / 1_000:.1f}M" if kbps >= 1_000 else f"{kbps}K"


def _tightest_first(line) -> tuple[bool, float]:
    """The lines below need first, the tightest first; then the others in the order of sites.yml."""
    if line.status != BELOW:
        return True, 0.0
    return False, -line.need_kbps / line.bandwidth_kbps


def _print_report(report: CapacityReport) -> None:
    order = sorted(report.lines, key=_tightest_first)
    table = Table(title=f"{len(report.lines)} line(s) of {report.environment}", title_justify="left")
    for column in ("site", "line", "type", "to", "bandwidth", "carries", "needs", "status"):
        table.add_column(column, justify="right" if column in ("bandwidth", "carries", "needs") else "left")
    for line in order[:MAX_ROWS]:
        table.add_row(
            line.path,
            line.line,
            f"{line.type} (backup)" if line.backup else line.type,
            line.parent or "",
            format_bandwidth(line.bandwidth_kbps),
            _rate(line.carried_kbps),
            _rate(line.need_kbps),
            f"[{STATUS_COLOURS[line.status]}]{line.status}[/]",
        )
    console.print_table(table)
    if len(order) > MAX_ROWS:
        console.out.print(f"… and {len(order) - MAX_ROWS} more (use --json for all)")
    summary = report.as_dict()["summary"]
    mark = "[red]✗[/]" if report.below else "[green]✓[/]"
    console.out.print(
        f"{mark} {report.environment}: {summary['below']} line(s) below need, {summary['backups_below']} backup(s) "
        f"below the township minimum; {summary['sites']} sites, {summary['insured']:,} insured, "
        f"{_rate(summary['need_kbps'])} needed in all"
    )
