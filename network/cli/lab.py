"""The lab: `jinbao lab up`, `images`, `down` and `status`.

The container stack (network.lab.runtime, .images, .engine: the docker SDK) and the lab's
topology are imported inside each command, not above: they cost about 0.45 s of CPU at startup
(measured with /usr/bin/time on `import network.cli`), which every other command would pay.
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
from network.model import load
from network.planned import planned


def topology(env: Path):
    """The model and the lab topology built from it (with its zones, if the environment has them)."""
    from network import zones
    from network.lab import topology as lab_topology

    network, allocations = planned(env)
    return network, lab_topology.build(network, allocations, zones.load_if_any(env, network))


def lab_up(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Bring the environment up as containers (engine, images, networks, nodes); a no-op when it already is."""
    from network.lab import runtime

    with console.errors(as_json):
        network, topo = topology(env)
        report = runtime.up(env, topo, network.settings, network.policy.debian_mirror)
    if as_json:
        print(json.dumps({"ok": True, "environment": network.name, **report.as_dict()}, ensure_ascii=False))
        return
    for line in report.created:
        console.out.print(f"  [green]+[/] {escape(line)}", highlight=False)
    for line in report.removed:
        console.out.print(f"  [red]-[/] {escape(line)}", highlight=False)
    for node, changes in report.wired.items():
        console.out.print(f"  [yellow]~[/] {node}: {escape('; '.join(changes))}", highlight=False)
    built = [b for b in report.images if b.seconds]
    images = f"{len(built)} image(s) built" if built else "images cached"
    verdict = "changed" if report.changed else "already up, nothing changed"
    console.out.print(
        f"[green]✓[/] lab {network.name}: {len(topo.nodes)} nodes, {len(topo.networks)} networks, {images}; "
        f"{verdict} in {report.seconds:.1f}s"
    )


def lab_images(
    env: Annotated[
        Path, typer.Argument(help="Inventory whose group_vars name the Debian mirror (offline.yml).")
    ] = Path("inventories/lab"),
    as_json: JsonOpt = False,
) -> None:
    """Build the lab images that are missing (debootstrap rootfs, base, router, server); cached by input digest."""
    from network.lab import engine, images

    with console.errors(as_json):
        built = images.ensure(engine.client(), load(env).policy.debian_mirror)
    if as_json:
        print(json.dumps({"ok": True, "images": [b.__dict__ for b in built]}))
        return
    for b in built:
        how = f"built in {b.seconds:.0f}s" if b.seconds else "cached"
        console.out.print(f"  {b.tag} ({how}), also {images.REPOSITORY}/{b.name}:lab")


def lab_down(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Remove every container, network and lab file `lab up` made (the image cache stays)."""
    from network.lab import runtime

    with console.errors(as_json):
        network = load(env)
        removed = runtime.down(env, network.name)
    if as_json:
        print(json.dumps({"ok": True, "removed": removed}))
        return
    console.out.print(f"[green]✓[/] lab {network.name}: removed {len(removed)} object(s)")


def lab_status(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Compare the running lab with the model. Exit 1 when a node or network is missing, stopped or extra."""
    from network.lab import runtime

    with console.errors(as_json):
        network, topo = topology(env)
        state = runtime.status(topo)
    if as_json:
        print(json.dumps(state.as_dict()))
    else:
        table = Table("node", "kind", "management", "state")
        for name, node in topo.nodes.items():
            mark = "running" if name in state.running else "stopped" if name in state.stopped else "missing"
            colour = "green" if mark == "running" else "red"
            table.add_row(name, node.kind, node.management, f"[{colour}]{mark}[/]")
        for name in state.extra:
            table.add_row(name, "?", "", "[red]not in the model[/]")
        console.print_table(table)
        for name in state.networks_missing:
            console.out.print(f"[red]missing network[/] {name}")
        mark = "[green]✓[/]" if state.ok else "[red]✗[/]"
        console.out.print(f"{mark} lab {network.name}: {len(state.running)}/{len(topo.nodes)} nodes running")
    if not state.ok:
        raise typer.Exit(1)
