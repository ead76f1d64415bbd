"""`jinbao new province|city|county|township`: environments and sites from templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from network import build
from network.cli import console
from network.cli.console import EnvArg, JsonOpt
from network.errors import JinbaoError, Problem

SAMPLE = Path("inventories/sample-province")


def new_province(
    env: Annotated[Path, typer.Argument(help="The directory to write, e.g. inventories/zhejiang (must not exist).")],
    site_id: Annotated[str, typer.Option("--id", help="The province office's site id (ASCII pinyin), e.g. zhejiang.")],
    name: Annotated[str, typer.Option(help="Its display name, e.g. 浙江省人力资源和社会保障厅.")],
    block: Annotated[str, typer.Option(help="The /13 the national plan assigned the province (ask the ministry).")],
    slug: Annotated[str | None, typer.Option(help="Its slug (hostnames); default: the id.")] = None,
    dc_name: Annotated[str | None, typer.Option(help="The DC's display name; default: the name + 数据中心.")] = None,
    template: Annotated[Path, typer.Option("--from", help="The environment to copy.")] = SAMPLE,
    as_json: JsonOpt = False,
) -> None:
    """Write a new province's environment from the sample (ministry, province office, its DC and
    hosts, zones.yml, waivers.yml, group_vars, vault.yml.example) and plan its addresses."""
    from network import scaffold  # ruamel.yaml: not for every jinbao command

    province = scaffold.ProvinceSpec(site_id, slug or site_id, name, block, dc_name)

    def plan(staged: Path) -> None:
        run = build.apply_plan(staged, track=console.track(as_json))
        if run.refused is not None:
            raise run.refused

    with console.errors(as_json):
        scaffold.new_environment(env, template, province, prepare=plan)
    if as_json:
        print(json.dumps({"ok": True, "environment": str(env), "sites": [province.id, province.dc_id]}))
        return
    console.out.print(
        f"[green]✓[/] {env}: {province.id} and its DC {province.dc_id}, planned; next: "
        f"group_vars/all/vault.yml from vault.yml.example, then `jinbao new city {env} {province.id} <slug> ...`",
        highlight=False,
    )


def _uplink(text: str) -> dict[str, str]:
    """carrier:type:bandwidth[:circuit_id] as a line of sites.yml (the model checks the values)."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or not all(parts):
        raise JinbaoError(
            Problem("command line", "", "--uplink", f"{text!r} is not carrier:type:bandwidth[:circuit_id]")
        )
    line = dict(zip(("carrier", "type", "bandwidth", "circuit_id"), parts, strict=False))
    return line


def site_command(tier: str):
    """`jinbao new <tier>`: one command per tier, the same arguments."""

    def command(
        env: EnvArg,
        parent: Annotated[str, typer.Argument(help="The parent site's id (one tier up).")],
        slug: Annotated[str, typer.Argument(help="The new site's slug (ASCII pinyin; hostnames are made of it).")],
        name: Annotated[str, typer.Option(help="Its display name, e.g. 佛堂镇.")],
        uplink: Annotated[
            list[str],
            typer.Option(
                help="A line up to the parent, carrier:type:bandwidth[:circuit_id]; the first is the primary."
            ),
        ],
        site_id: Annotated[str | None, typer.Option("--id", help="Its id; default: the slug.")] = None,
        posts: Annotated[int | None, typer.Option(help="Business posts (one PC + one printer each).")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        from network import scaffold

        with console.errors(as_json):
            lines = [_uplink(text) for text in uplink]
            record = scaffold.site_record(tier, parent, slug, name, site_id=site_id, posts=posts, uplinks=lines)
            edit = scaffold.add_site(env, record)
        site = edit.network.sites[edit.site_id]
        where = edit.network.path(site)
        if as_json:
            print(json.dumps({"ok": True, "file": str(edit.path), "site": edit.site_id, "path": where}))
            return
        console.out.print(
            f"[green]✓[/] {edit.path}: {tier} {where} added; `jinbao plan {env} --render` allocates its addresses",
            highlight=False,
        )

    command.__name__ = f"new_{tier}"
    command.__doc__ = f"Add a {tier} under its parent in sites.yml (comments and order kept; checked before writing)."
    return command
