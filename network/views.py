"""Read-only views of the model for people: one site in detail, the tree as a diagram."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from network.errors import JinbaoError, Problem
from network.ipam import Allocations, line_ends
from network.model import Network
from network.render.context import link_addresses


def _bandwidth(kbps: int) -> str:
    return f"{kbps // 1_000_000}G" if kbps % 1_000_000 == 0 else f"{kbps // 1000}M" if kbps % 1000 == 0 else f"{kbps}K"


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
    lines = []
    for owner in [site, *(network.sites[c] for c in network.children.get(site.id, ()))]:
        for line in owner.uplinks:
            child, child_dev, parent, parent_dev = line_ends(network, owner, line)
            if site.id not in (child.id, parent.id):
                continue
            link = allocations.links[f"{owner.id}:{line.key}"]
            parent_addr, child_addr = link_addresses(link["subnet"])
            up = child.id == site.id
            lines.append(
                {
                    "line": f"{owner.id}:{line.key}",
                    "direction": "uplink" if up else "downlink",
                    "peer": network.hostname(parent, parent_dev) if up else network.hostname(child, child_dev),
                    "carrier": line.carrier,
                    "type": line.type,
                    "backup": line.backup,
                    "bandwidth": _bandwidth(line.bandwidth_kbps),
                    "subnet": link["subnet"],
                    "local": child_addr if up else parent_addr,
                    "remote": parent_addr if up else child_addr,
                }
            )
    # backup lines from further down also land here
    for other in network.sites.values():
        for line in other.uplinks:
            if line.parent == site.id and other.parent != site.id:
                link = allocations.links[f"{other.id}:{line.key}"]
                parent_addr, child_addr = link_addresses(link["subnet"])
                _c, child_dev, _p, _pd = line_ends(network, other, line)
                lines.append(
                    {
                        "line": f"{other.id}:{line.key}",
                        "direction": "downlink",
                        "peer": network.hostname(other, child_dev),
                        "carrier": line.carrier,
                        "type": line.type,
                        "backup": line.backup,
                        "bandwidth": _bandwidth(line.bandwidth_kbps),
                        "subnet": link["subnet"],
                        "local": parent_addr,
                        "remote": child_addr,
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
            parent = line.parent or site.parent
            if parent not in keep:
                continue
            style = "dashed" if line.backup else "solid"
            label = f"{line.type} {_bandwidth(line.bandwidth_kbps)}"
            lines.append(f'  "{parent}" -> "{site_id}" [label="{label}" style={style} dir=none];')
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
