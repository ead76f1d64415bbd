"""Read-only views of the model for people: one site in detail, the tree as a diagram, tables."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from network.errors import JinbaoError, Problem
from network.ipam import Allocations
from network.ipam.conventions import link_addresses
from network.model import Network
from network.model.schema import format_bandwidth
from network.render.design import RenderIndex


def site_view(network: Network, allocations: Allocations, site_id: str) -> dict:
    site = network.sites.get(site_id)
    if site is None:
        raise JinbaoError(Problem("sites.yml", "", "site", f"no site with id '{site_id}'"))
    devices = [
        {
            "name": d.name,
            "hostname": network.hostname(site, d.name),
            "role": d.role,
            "platform": d.platform,
            **allocations.devices[f"{site.id}/{d.name}"],
        }
        for d in site.devices
    ]
    index = RenderIndex.build(network, allocations)
    lines = []
    for device in site.devices:  # the same lines the device's config is rendered with
        for end in sorted(index.ends(site, device.name), key=lambda e: e.port):
            parent_addr, child_addr = link_addresses(allocations.links[end.key]["subnet"])
            up = end.role == "child"
            lines.append(
                {
                    "line": end.key,
                    "device": device.name,
                    "port": end.port,
                    "direction": "uplink" if up else "downlink",
                    "peer": network.hostname(end.peer_site, end.peer_device),
                    "carrier": end.line.carrier,
                    "type": end.line.type,
                    "backup": end.line.backup,
                    "bandwidth": format_bandwidth(end.line.bandwidth_kbps),
                    "subnet": allocations.links[end.key]["subnet"],
                    "local": child_addr if up else parent_addr,
                    "remote": parent_addr if up else child_addr,
                }
            )
    return {
        "id": site.id,
        "name": site.name,
        "tier": site.tier,
        "path": network.path(site),
        "parent": site.parent,
        "posts": site.posts,
        "lan": allocations.sites.get(site.id, {}).get("lan"),
        "devices": devices,
        "lines": lines,
        "hosts": [
            {"name": h.name, "role": h.role, "zone": h.zone, **allocations.hosts[f"{site.id}/{h.name}"]}
            for h in site.hosts
        ],
        "zones": {k.split("/", 1)[1]: v for k, v in allocations.zones.items() if k.startswith(f"{site.id}/")},
        "children": list(network.children.get(site.id, ())),
    }


TIER_STYLE = {
    "ministry": 'fillcolor="#c0392b" fontcolor=white',
    "province": 'fillcolor="#e67e22"',
    "city": 'fillcolor="#f1c40f"',
    "county": 'fillcolor="#a9dfbf"',
    "township": 'fillcolor="#d6eaf8"',
    "village": 'fillcolor="#eeeeee"',
    "datacenter": 'fillcolor="#8e44ad" fontcolor=white shape=box3d',
}


def diagram_dot(network: Network, root: str | None = None, depth: int | None = None) -> tuple[str, int]:
    """Graphviz source of the tree (or a subtree): sites as nodes, lines as edges."""
    top = root or next(s.id for s in network.sites.values() if s.tier == "ministry")
    if top not in network.sites:
        raise JinbaoError(Problem("sites.yml", "", "--root", f"no site with id '{top}'"))
    keep, frontier = {top}, [(top, 0)]
    while frontier:
        site_id, level = frontier.pop()
        if depth is not None and level >= depth:
            continue
        for child in network.children.get(site_id, ()):
            keep.add(child)
            frontier.append((child, level + 1))
    lines = ["digraph jinbao {", '  rankdir=TB; node [shape=box style="rounded,filled" fontname="Noto Sans CJK SC"];']
    for site_id in sorted(keep):
        site = network.sites[site_id]
        label = f"{site.name}\\n{site.slug} ({site.tier})"
        lines.append(f'  "{site_id}" [label="{label}" {TIER_STYLE[site.tier]}];')
    for site_id in sorted(keep):
        site = network.sites[site_id]
        for line in site.uplinks:
            if line.parent not in keep:
                continue
            style = "dashed" if line.backup else "solid"
            label = f"{line.type} {format_bandwidth(line.bandwidth_kbps)}"
            lines.append(f'  "{line.parent}" -> "{site_id}" [label="{label}" style={style} dir=none];')
    lines.append("}")
    return "\n".join(lines) + "\n", len(keep)


def diagram_svg(network: Network, target: Path, root: str | None = None, depth: int | None = None) -> int:
    dot, count = diagram_dot(network, root, depth)
    if shutil.which("dot") is None:
        raise JinbaoError("graphviz is not installed: apt-get install graphviz")
    target.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["dot", "-Tsvg", "-o", str(target)], input=dot.encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise JinbaoError(f"graphviz failed: {result.stderr.decode(errors='replace').strip()}")
    return count


def print_table(console: Console, table: Table) -> None:
    """Print a table for people without ever cutting an address or a name short.

    On a terminal wide enough for it, rich draws the table. Piped, or on a terminal narrower
    than the table, each row is one line of plain columns, aligned and never truncated or
    folded (a narrow terminal wraps the line itself), which grep and awk read as well.
    """
    natural = console.measure(table, options=console.options.update_width(1 << 16)).maximum
    if console.is_terminal and natural <= console.width:
        console.print(table)
        return
    columns = [[_plain(cell) for cell in column.cells] for column in table.columns]
    rows = [[str(column.header) for column in table.columns], *(list(row) for row in zip(*columns, strict=True))]
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(table.columns))]
    if table.title:
        console.print(_plain(table.title), markup=False, emoji=False, highlight=False, soft_wrap=True)
    for row in rows:
        line = "  ".join(cell + " " * (width - cell_len(cell)) for cell, width in zip(row, widths, strict=True))
        console.print(line.rstrip(), markup=False, emoji=False, highlight=False, soft_wrap=True)


def _plain(cell) -> str:
    """A cell's text without its styling: `[green]added[/]` -> `added`."""
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)
