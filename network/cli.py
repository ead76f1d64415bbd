"""`jinbao`: the command line over the model, IPAM and renderers.

Rich output for people, --json for tools. Exit codes: 0 fine, 1 `plan --check` (or
`push --check`) found pending changes, 2 the intent is wrong (every problem is listed,
nothing was written), 3 a device failed (the others still ran).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from network import ipam
from network.errors import JinbaoError, Problem, RenderError
from network.ipam import incremental, prune
from network.model import Network, load
from network.planned import plan as _plan
from network.planned import planned as _planned

app = typer.Typer(
    help="jinbao-net: source of truth, IPAM and config rendering for the social-insurance private network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
show_app = typer.Typer(help="Show one object of the model.", no_args_is_help=True)
app.add_typer(show_app, name="show")
lab_app = typer.Typer(help="The lab: this environment as containers on this machine.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")
zones_app = typer.Typer(
    help="Security zones: zones.yml validated and compiled per firewall layer.", no_args_is_help=True
)
app.add_typer(zones_app, name="zones")
out = Console()
err = Console(stderr=True)

EnvArg = Annotated[Path, typer.Argument(help="Inventory directory, e.g. inventories/lab")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _fail(exc: JinbaoError, as_json: bool) -> typer.Exit:
    if as_json:
        print(json.dumps({"ok": False, "problems": [p.as_dict() for p in exc.problems]}, ensure_ascii=False))
    else:
        for problem in exc.problems:
            err.print(f"[bold red]error[/]: {escape(str(problem))}", highlight=False, soft_wrap=True)
        err.print(f"[red]{len(exc.problems)} problem(s); nothing was written.[/]")
    return typer.Exit(exc.exit_code)


@contextmanager
def _errors(as_json: bool) -> Iterator[None]:
    try:
        yield
    except JinbaoError as exc:
        raise _fail(exc, as_json) from None


def _progress(as_json: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    )


def _print_table(table: Table) -> None:
    """A table on stdout, never cutting an address or a name short (plain columns when piped)."""
    from network.views import print_table  # here, not above: views pulls in the renderer

    print_table(out, table)


def _counts(network: Network) -> dict[str, int]:
    counts: dict[str, int] = {}
    for site in network.sites.values():
        counts[site.tier] = counts.get(site.tier, 0) + 1
    counts["devices"] = sum(len(s.devices) for s in network.sites.values())
    counts["lines"] = sum(len(s.uplinks) for s in network.sites.values())
    return counts


@app.command()
def validate(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Load and check the intent: sites.yml, addressing.yml, group_vars/all."""
    with _errors(as_json):
        started = time.perf_counter()
        network = load(env)
        counts = _counts(network)
        # the addressing checks of `plan` (full pools, overlapping blocks), read-only: nothing is written
        pending = incremental.plan(network, ipam.read(env))[0].changes
    if as_json:
        print(json.dumps({"ok": True, "environment": network.name, "counts": counts, "pending": len(pending)}))
        return
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    out.print(f"[green]✓[/] {env}: valid ({summary}) in {time.perf_counter() - started:.2f}s")
    if pending:
        released = len(prune.releases(pending))
        out.print(
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


@app.command()
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
    vault_password_file: Annotated[Path | None, typer.Option(help="Ansible vault password file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Allocate addresses for what is new, keep everything else, show what changed.

    Releasing allocations is destructive: without --prune, a plan that would release any lists them and
    writes nothing (exit 2); --check reports them with the other pending changes (exit 1)."""
    with _errors(as_json):
        network, result, _how = _plan(env)
        refused = None if check or prune_released else prune.refusal(result.changes, env)
        if refused is not None:
            if not as_json:
                _print_changes(result.changes, env, check=True)
            raise _fail_plan(refused, result.changes, as_json)
        written = False
        since = _file_digest(Path(env) / ipam.store.FILE) if render_changed else None  # what was rendered from
        if not check:
            text = ipam.store.dumps(result.allocations)
            written = ipam.store.write_text(env, text, result.allocations)
            if written:
                incremental.remember(network, text)
        rendered = None
        if render_changed and not check:
            rendered = _render(
                network, result.allocations, env, None, vault_password_file, as_json, result.changes, since
            )
    if as_json:
        report = {"ok": True, "written": written, "changes": _change_rows(result.changes)}
        if rendered is not None:
            report["render"] = rendered.as_dict()
        print(json.dumps(report, ensure_ascii=False))
    else:
        _print_changes(result.changes, env, check)
        if rendered is not None:
            out.print(
                f"rendered: {len(rendered.written)} written, {len(rendered.unchanged)} unchanged, "
                f"{len(rendered.removed)} removed"
            )
    if check and result.changes:
        released = len(prune.releases(result.changes))
        if released and not as_json:
            out.print(f"{released} release(s): `jinbao plan {env} --prune` would release them")
        raise typer.Exit(1)


def _fail_plan(exc: JinbaoError, changes: list[ipam.Change], as_json: bool) -> typer.Exit:
    """A refused plan: with --json, the changes it would have made beside the problem."""
    if not as_json:
        return _fail(exc, as_json)
    report = {"ok": False, "written": False, "changes": _change_rows(changes)}
    print(json.dumps({**report, "problems": [p.as_dict() for p in exc.problems]}, ensure_ascii=False))
    return typer.Exit(exc.exit_code)


def _print_changes(changes: list[ipam.Change], env: Path, check: bool) -> None:
    if not changes:
        out.print(f"[green]✓[/] {env}/allocations.yml is up to date")
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
    _print_table(table)
    if len(changes) > 200:
        out.print(f"… and {len(changes) - 200} more (use --json for all)")
    verb = "would be written to" if check else "written to"
    out.print(f"{verb} {env}/allocations.yml")


def _file_digest(path: Path) -> str | None:
    return incremental.digest(path.read_bytes()) if path.exists() else None


def _render(network, allocations, env, sites, vault_password_file, as_json, changes=None, since=None):
    """Render `sites`, or what the plan's `changes` (from allocations digest `since`) touch, or everything."""
    from network.render import Renderer, load_secrets, state
    from network.render.incremental import affected_devices

    secrets = load_secrets(env, vault_password_file)
    renderer = Renderer(network, allocations, secrets)
    out_dir = Path("build") / "configs" / network.name
    only, stale = None, []
    if sites:
        unknown = [s for s in sites if s not in network.sites]
        if unknown:
            raise RenderError(Problem("sites.yml", "", "--site", f"no site with id {', '.join(unknown)}"))
        only = [(network.sites[s], d) for s in sites for d in network.sites[s].devices]
    elif changes is not None:
        selection = affected_devices(renderer, since, changes, out_dir)
        if selection is not None:
            only, stale = selection.devices, selection.stale
    total = len(only) if only is not None else sum(len(s.devices) for s in network.sites.values())
    with _progress(as_json) as progress:
        task = progress.add_task(f"render {network.name}", total=total)
        result = renderer.render_all(out_dir, only=only, progress=lambda n: progress.advance(task, n), stale=stale)
    if changes is not None and only is not None:  # every config is current again: record from what
        state.write(out_dir, network, secrets, _file_digest(Path(env) / ipam.store.FILE))
    return result


@app.command()
def render(
    env: EnvArg,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only this site's devices (repeatable).")] = None,
    vault_password_file: Annotated[Path | None, typer.Option(help="Ansible vault password file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render every device's config into build/configs/<env>/ (only changed files are rewritten)."""
    with _errors(as_json):
        started = time.perf_counter()
        network, allocations = _planned(env)
        result = _render(network, allocations, env, site, vault_password_file, as_json)
    if as_json:
        print(json.dumps({"ok": True, "directory": f"build/configs/{network.name}", **result.as_dict()}))
        return
    out.print(
        f"[green]✓[/] build/configs/{network.name}: {len(result.written)} written, "
        f"{len(result.unchanged)} unchanged, {len(result.removed)} removed "
        f"in {time.perf_counter() - started:.2f}s"
    )


@zones_app.command("validate")
def zones_validate(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Check zones.yml against the protection rules; every problem names its flow. Exit 2 if wrong."""
    from network import zones

    with _errors(as_json):
        policy = zones.load(env)
    overdue = zones.overdue(policy)
    if as_json:
        print(json.dumps({"ok": True, "flows": len(policy.flows), "overdue": [f.id for f in overdue]}))
        return
    for flow in overdue:
        err.print(f"[yellow]! {flow.id}[/] was due for review on {flow.review} ({flow.owner})")
    out.print(f"[green]✓[/] {env}/zones.yml: {len(policy.zones)} zones, {len(policy.flows)} flows")


@zones_app.command("render")
def zones_render(
    env: EnvArg,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory; default build/zones/<env>.")] = None,
    vendor: Annotated[
        str | None,
        typer.Option(
            "--vendor",
            help="Every layer in this syntax (nftables: the lab's firewalls); default build/zones/<env>/<vendor>.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compile zones.yml into each DC's firewall layers: nftables (.nft) or Huawei USG (.cfg)."""
    from network import zones

    with _errors(as_json):
        if vendor is not None and vendor not in zones.SUFFIX:
            raise JinbaoError(Problem("command line", "", "--vendor", f"is {vendor}; one of {', '.join(zones.SUFFIX)}"))
        policy = zones.load(env)
        network, allocations = _planned(env)
        files = zones.render_all(policy, network, allocations, vendor)
    target = out_dir or Path("build") / "zones" / network.name / (vendor or "")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
    if as_json:
        print(json.dumps({"ok": True, "directory": str(target.resolve()), "files": sorted(files)}))
        return
    out.print(f"[green]✓[/] {target}: {', '.join(sorted(files))}")


@zones_app.command("stale")
def zones_stale(
    env: EnvArg,
    counters: Annotated[
        Path,
        typer.Argument(help="`nft -j list table inet jinbao_zones` output, or USG `display security-policy rule all`"),
    ],
    since: Annotated[str, typer.Option(help="When the counters started (the ruleset load or the last clear).")],
    as_json: JsonOpt = False,
) -> None:
    """Permits that matched nothing since a date: the periodic cleanup's list. Exit 1 if any."""
    from network import zones

    with _errors(as_json):
        policy = zones.load(env)
        text = counters.read_text()
        found = zones.stale(text, since) if text.lstrip().startswith("{") else zones.stale_usg(text, since)
    owners = {f.id: f.owner for f in policy.flows}
    for entry in found:
        entry["owner"] = owners.get(entry["flow"], "not in zones.yml")
    if as_json:
        print(json.dumps({"ok": not found, "stale": found}))
    else:
        for entry in found:
            out.print(f"[yellow]stale[/] {entry['flow']} ({entry['owner']}): no hits since {since}")
        out.print(f"{len(found)} stale rule(s)")
    if found:
        raise typer.Exit(1)


@show_app.command("site")
def show_site(
    env: EnvArg,
    site_id: Annotated[str, typer.Argument(help="Site id, e.g. fotang")],
    as_json: JsonOpt = False,
) -> None:
    """A site with its place in the tree, devices, lines and addresses."""
    from network.views import site_view

    with _errors(as_json):
        network, allocations = _planned(env)
        view = site_view(network, allocations, site_id)
    if as_json:
        print(json.dumps(view, ensure_ascii=False, indent=2))
        return
    out.print(f"[bold]{view['name']}[/] ({view['id']}, {view['tier']}) — {view['path']}")
    out.print(f"parent: {view['parent'] or '—'}   LAN: {view['lan'] or '—'}   posts: {view['posts']}")
    table = Table(title="devices", title_justify="left")
    for column in ("hostname", "role", "platform", "loopback", "management"):
        table.add_column(column)
    for device in view["devices"]:
        table.add_row(*(str(device[c]) for c in ("hostname", "role", "platform", "loopback", "management")))
    _print_table(table)
    table = Table(title="lines", title_justify="left")
    for column in ("line", "direction", "peer", "type", "bandwidth", "subnet", "local", "remote"):
        table.add_column(column)
    for line in view["lines"]:
        table.add_row(
            *(str(line[c]) for c in ("line", "direction", "peer", "type", "bandwidth", "subnet", "local", "remote"))
        )
    _print_table(table)
    if view["hosts"]:
        table = Table(title="hosts", title_justify="left")
        for column in ("name", "role", "zone", "address"):
            table.add_column(column)
        for host in view["hosts"]:
            table.add_row(host["name"], host["role"], host["zone"], host["address"])
        _print_table(table)
    if view["children"]:
        out.print(f"children: {', '.join(view['children'])}")


@app.command()
def diagram(
    env: EnvArg,
    output: Annotated[Path | None, typer.Option("--out", help="SVG file; default build/diagrams/<env>.svg")] = None,
    root: Annotated[str | None, typer.Option(help="Draw only this site's subtree.")] = None,
    depth: Annotated[int | None, typer.Option(help="Stop this many tiers below the root.")] = None,
) -> None:
    """Draw the tree and its lines as an SVG (graphviz)."""
    from network.views import diagram_svg

    with _errors(False):
        network = load(env)
        target = output or Path("build") / "diagrams" / f"{network.name}.svg"
        nodes = diagram_svg(network, target, root=root, depth=depth)
    out.print(f"[green]✓[/] {target}: {nodes} sites")


@app.command()
def generate(
    output: Annotated[Path, typer.Argument(help="Inventory directory to write, e.g. inventories/national")],
    seed: Annotated[int, typer.Option(help="Same seed, same country.")] = 2023,
    scale: Annotated[float, typer.Option(help="1.0 is the real country; smaller for quick tries.")] = 1.0,
) -> None:
    """Generate the national inventory at real scale: 31 provinces, ~333 cities, ~2,840 counties, ~38,600 townships."""
    from network.generate import generate_national

    started = time.perf_counter()
    counts = generate_national(output, seed=seed, scale=scale)
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    out.print(f"[green]✓[/] {output}: {summary} in {time.perf_counter() - started:.1f}s")


LimitOpt = Annotated[
    list[str] | None,
    typer.Option("--limit", help="Only these devices: hostname or site id, globs allowed (repeatable)."),
]
DEVICE_FAILED = 3  # exit code: the intent is fine, a device failed (unreachable, refused, rolled back)


def _devices(env: Path, limit, vault_password_file=None):
    from network.drivers import targets
    from network.render import load_secrets

    network, allocations = _planned(env)
    secrets = load_secrets(env, vault_password_file)
    return network, allocations, secrets, targets(env, network, allocations, secrets, limit)


@app.command()
def backup(
    env: EnvArg,
    to: Annotated[Path | None, typer.Option(help="Git repository of backups; default backups/<env>.")] = None,
    limit: LimitOpt = None,
    vault_password_file: Annotated[Path | None, typer.Option(help="Ansible vault password file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch every device's running config into a git history: one commit per run, secrets scrubbed.

    Exit 3 when a device could not be read (the others are still backed up)."""
    from network.backup import backup as run_backup

    with _errors(as_json):
        network, _, _, found = _devices(env, limit, vault_password_file)
        report = run_backup(network.name, found, to or Path("backups") / network.name)
    if as_json:
        print(json.dumps({"ok": not report.failed, **report.as_dict()}))
    else:
        for host, error in sorted(report.failed.items()):
            err.print(f"[red]✗[/] {host}: {escape(error)}", highlight=False)
        commit = f"commit {report.commit[:10]}" if report.commit else "no change, no commit"
        out.print(
            f"{'[green]✓[/]' if not report.failed else '[red]✗[/]'} {report.directory}: {len(report.changed)} changed, "
            f"{len(report.unchanged)} unchanged, {len(report.failed)} failed; {commit} in {report.seconds:.1f}s"
        )
    if report.failed:
        raise typer.Exit(DEVICE_FAILED)


@app.command()
def push(
    env: EnvArg,
    limit: LimitOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Show the diffs only; exit 1 if any device differs.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before committing.")] = False,
    confirm_in: Annotated[int, typer.Option(help="Seconds a device waits for confirmation, then reverts.")] = 90,
    vault_password_file: Annotated[Path | None, typer.Option(help="Ansible vault password file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Push the rendered configs: diff per device, ask, commit with commit-confirm, roll back on failure.

    Exit 0 done (or nothing to do), 1 --check found differences, 3 a device failed or was rolled back."""
    from network import push as pusher
    from network.render import Renderer

    with _errors(as_json):
        network, allocations, secrets, found = _devices(env, limit, vault_password_file)
        intended = Renderer(network, allocations, secrets).render_hosts([t.hostname for t in found])

    def ask(diffs) -> bool:
        _print_diffs(diffs)
        if yes:
            return True
        if as_json or not sys.stdin.isatty():
            err.print("[red]refusing to commit without --yes (no terminal to ask on)[/]")
            return False
        return typer.confirm(f"Commit {sum(d.status == 'pending' for d in diffs)} device(s)?")

    outcomes = pusher.run(found, intended, check=check, confirm=ask, confirm_in=confirm_in)
    if as_json:
        print(json.dumps({"ok": all(o.ok for o in outcomes), "devices": [o.as_dict() for o in outcomes]}))
    else:
        if check:
            _print_diffs(outcomes)
        table = Table("device", "status", "safety net", "seconds", "error")
        colours = {
            "unchanged": "green",
            "pending": "yellow",
            "committed": "green",
            "rolled-back": "red",
            "failed": "red",
        }
        for o in outcomes:
            status = f"[{colours.get(o.status, 'red')}]{o.status}[/]"
            table.add_row(o.hostname, status, escape(o.safety_net), f"{o.seconds:.1f}", escape(o.error))
        _print_table(table)
    if any(not o.ok for o in outcomes):
        raise typer.Exit(DEVICE_FAILED)
    if check and any(o.status == "pending" for o in outcomes):
        raise typer.Exit(1)


@app.command()
def audit(
    env: EnvArg,
    limit: LimitOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report directory; default build/audit/<env>.")] = None,
    vault_password_file: Annotated[Path | None, typer.Option(help="Ansible vault password file.")] = None,
    servers: Annotated[
        bool, typer.Option("--servers/--no-servers", help="Also check servers: the playbooks in check mode, --diff.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Intended vs running on every device, per feature, with the remediation; HTML, JSON and JUnit reports.

    Level-3 compliance rules (network/rules/level3.yml) run on every device too; reviewed
    exceptions are read from inventories/<env>/waivers.yml.

    Exit 0 clean, 1 drift or a non-compliant device, 3 a device could not be audited."""
    from network import audit as auditor
    from network import compliance
    from network.render import Renderer

    with _errors(as_json):
        network, allocations, secrets, found = _devices(env, limit, vault_password_file)
        renderer = Renderer(network, allocations, secrets)
        hostnames = [t.hostname for t in found]
        intended = renderer.render_hosts(hostnames)
        rules = compliance.load_rules()
        policy = auditor.Policy(rules, compliance.load_waivers(env, rules), renderer.contexts(hostnames))
    started = time.perf_counter()
    hosts = []
    with ThreadPoolExecutor(max_workers=1) as background:
        checking = None
        if servers and not limit and any(site.hosts for site in network.sites.values()):
            from network import servers as server_check

            checking = background.submit(server_check.check, env)  # while the devices are audited
        results = auditor.audit(found, intended, policy)
        if checking is not None:
            hosts = checking.result()
    reports = auditor.write_reports(
        network.name, results, out_dir or Path("build") / "audit" / network.name, policy.waivers, hosts
    )
    if as_json:
        ok = all(r.clean for r in results) and all(h.clean for h in hosts)
        devices = [r.as_dict() for r in results]
        print(json.dumps({"ok": ok, "reports": reports, "devices": devices, "servers": [h.as_dict() for h in hosts]}))
    else:
        for r in results:
            if r.error:
                err.print(f"[red]✗ {r.hostname}[/]: {escape(r.error)}", highlight=False, soft_wrap=True)
            for warning in r.warnings:  # what the device said beside its config: never drift
                err.print(f"! {escape(r.hostname)} device warning: {escape(warning)}", highlight=False, soft_wrap=True)
            for feature, lines in r.drift.items():
                err.print(f"[yellow]~ {r.hostname}[/] {feature}:")
                for line in lines:
                    err.print(f"    {escape(line)}", highlight=False, soft_wrap=True)
            for rule in r.compliance:
                if rule.failed:
                    err.print(f"[red]✗ {r.hostname}[/] {rule.rule} ({escape(rule.title)}):")
                    for line in rule.evidence:
                        err.print(f"    {escape(line)}", highlight=False, soft_wrap=True)
        for h in hosts:
            if h.error:
                err.print(f"[red]✗ {h.hostname}[/]: {escape(h.error)}", highlight=False, soft_wrap=True)
            for change in h.changes:
                err.print(f"[yellow]~ {h.hostname}[/] would change: {escape(change['task'])}", highlight=False)
                for line in change["diff"].splitlines():
                    err.print(f"    {escape(line)}", highlight=False, soft_wrap=True)
        clean = sum(r.clean for r in results) + sum(h.clean for h in hosts)
        results_count = len(results) + len(hosts)
        if hosts:
            out.print(f"servers: {sum(h.clean for h in hosts)}/{len(hosts)} as the playbooks want them")
        out.print(
            f"{'[green]✓[/]' if clean == results_count else '[red]✗[/]'} audit {network.name}: {clean}/{results_count} "
            f"clean in {time.perf_counter() - started:.1f}s; report {reports['html']}"
        )
    if any(r.error for r in results) or any(h.error for h in hosts):
        raise typer.Exit(DEVICE_FAILED)
    if any(r.drift or r.noncompliant for r in results) or any(h.changes for h in hosts):
        raise typer.Exit(1)


def _print_diffs(outcomes) -> None:
    for o in outcomes:
        if o.diff:
            net = f" (if unconfirmed: {o.safety_net})" if o.safety_net else ""
            err.print(f"[bold]--- {escape(o.hostname)}{escape(net)}[/]")
            for line in o.diff.splitlines():
                colour = "green" if line.startswith("+") else "red" if line.startswith("-") else "white"
                err.print(f"[{colour}]{escape(line)}[/]", highlight=False)


def _topology(env: Path):
    from network import zones
    from network.lab import topology

    network, allocations = _planned(env)
    return network, topology.build(network, allocations, zones.load_if_any(env, network))


@lab_app.command("up")
def lab_up(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Bring the environment up as containers (engine, images, networks, nodes); a no-op when it already is."""
    from network.lab import runtime

    with _errors(as_json):
        network, topo = _topology(env)
        report = runtime.up(env, topo, network.settings)
    if as_json:
        print(json.dumps({"ok": True, "environment": network.name, **report.as_dict()}, ensure_ascii=False))
        return
    for line in report.created:
        out.print(f"  [green]+[/] {escape(line)}", highlight=False)
    for line in report.removed:
        out.print(f"  [red]-[/] {escape(line)}", highlight=False)
    for node, changes in report.wired.items():
        out.print(f"  [yellow]~[/] {node}: {escape('; '.join(changes))}", highlight=False)
    built = [b for b in report.images if b.seconds]
    images = f"{len(built)} image(s) built" if built else "images cached"
    verdict = "changed" if report.changed else "already up, nothing changed"
    out.print(
        f"[green]✓[/] lab {network.name}: {len(topo.nodes)} nodes, {len(topo.networks)} networks, {images}; "
        f"{verdict} in {report.seconds:.1f}s"
    )


@lab_app.command("images")
def lab_images(as_json: JsonOpt = False) -> None:
    """Build the lab images that are missing (debootstrap rootfs, base, router, server); cached by input digest."""
    from network.lab import engine, images

    with _errors(as_json):
        built = images.ensure(engine.client())
    if as_json:
        print(json.dumps({"ok": True, "images": [b.__dict__ for b in built]}))
        return
    for b in built:
        how = f"built in {b.seconds:.0f}s" if b.seconds else "cached"
        out.print(f"  {b.tag} ({how}), also {images.REPOSITORY}/{b.name}:lab")


@lab_app.command("down")
def lab_down(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Remove every container, network and lab file `lab up` made (the image cache stays)."""
    from network.lab import runtime

    with _errors(as_json):
        network = load(env)
        removed = runtime.down(env, network.name)
    if as_json:
        print(json.dumps({"ok": True, "removed": removed}))
        return
    out.print(f"[green]✓[/] lab {network.name}: removed {len(removed)} object(s)")


@lab_app.command("status")
def lab_status(env: EnvArg, as_json: JsonOpt = False) -> None:
    """Compare the running lab with the model. Exit 1 when a node or network is missing, stopped or extra."""
    from network.lab import runtime

    with _errors(as_json):
        network, topo = _topology(env)
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
        _print_table(table)
        for name in state.networks_missing:
            out.print(f"[red]missing network[/] {name}")
        mark = "[green]✓[/]" if state.ok else "[red]✗[/]"
        out.print(f"{mark} lab {network.name}: {len(state.running)}/{len(topo.nodes)} nodes running")
    if not state.ok:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
