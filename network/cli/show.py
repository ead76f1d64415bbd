"""Views of the model for people: `jinbao show site` and `jinbao diagram`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from network.cli import console
from network.cli.console import EnvArg, JsonOpt
from network.model import load
from network.planned import planned
from network.views import diagram_svg, site_view

DEVICE_COLUMNS = ("hostname", "role", "platform", "loopback", "management")
LINE_COLUMNS = ("line", "direction", "peer", "type", "bandwidth", "subnet", "local", "remote")
HOST_COLUMNS = ("name", "role", "zone", "address")


def show_site(
    env: EnvArg,
    site_id: Annotated[str, typer.Argument(help="Site id, e.g. fotang")],
    as_json: JsonOpt = False,
) -> None:
    """A site with its place in the tree, devices, lines and addresses."""
    with console.errors(as_json):
        network, allocations = planned(env)
        view = site_view(network, allocations, site_id)
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    console.out.print(f"[bold]{view['name']}[/] ({view['id']}, {view['tier']}) — {view['path']}")
    console.out.print(f"parent: {view['parent'] or '—'}   LAN: {view['lan'] or '—'}   posts: {view['posts']}")
    _print_rows("devices", DEVICE_COLUMNS, view["devices"])
    _print_rows("lines", LINE_COLUMNS, view["lines"])
    if view["hosts"]:
        _print_rows("hosts", HOST_COLUMNS, view["hosts"])
    if view["children"]:
        console.out.print(f"children: {', '.join(view['children'])}")


def _print_rows(title: str, columns: tuple[str, ...], rows: list[dict]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    console.print_table(table)


def diagram(
    env: EnvArg,
    output: Annotated[Path | None, typer.Option("--out", help="SVG file; default build/diagrams/<env>.svg")] = None,
    root: Annotated[str | None, typer.Option(help="Draw only this site's subtree.")] = None,
    depth: Annotated[int | None, typer.Option(help="Stop this many tiers below the root.")] = None,
) -> None:
    """Draw the tree and its lines as an SVG (graphviz)."""
    with console.errors(False):
        network = load(env)
        target = output or Path("build") / "diagrams" / f"{network.name}.svg"
        nodes = diagram_svg(network, target, root=root, depth=depth)
    console.out.print(f"[green]✓[/] {target}: {nodes} sites")
