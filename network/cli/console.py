"""What every command shares: the consoles, the common arguments, and how an error is shown.

Commands print through `console.out` and `console.err` (looked up at each use, so a test
can put a console of another width in their place).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from network.errors import JinbaoError

out = Console()
err = Console(stderr=True)

EnvArg = Annotated[Path, typer.Argument(help="Inventory directory, e.g. inventories/lab")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
VaultOpt = Annotated[Path | None, typer.Option(help="Ansible vault password file.")]
LimitOpt = Annotated[
    list[str] | None,
    typer.Option("--limit", help="Only these devices: hostname or site id, globs allowed (repeatable)."),
]
DEVICE_FAILED = 3  # exit code: the intent is fine, a device failed (unreachable, refused, rolled back)


def fail(exc: JinbaoError, as_json: bool) -> typer.Exit:
    if as_json:
        print(json.dumps({"ok": False, "problems": [p.as_dict() for p in exc.problems]}, ensure_ascii=False))
    else:
        for problem in exc.problems:
            err.print(f"[bold red]error[/]: {escape(str(problem))}", highlight=False, soft_wrap=True)
        err.print(f"[red]{len(exc.problems)} problem(s); nothing was written.[/]")
    return typer.Exit(exc.exit_code)


@contextmanager
def errors(as_json: bool) -> Iterator[None]:
    try:
        yield
    except JinbaoError as exc:
        raise fail(exc, as_json) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


PLAIN_STEP = 0.1  # piped: a line at each tenth of a stage (of 1,000 items or more) and at its end


def track(as_json: bool):
    """Progress on stderr for every stage of a run (network.progress): a bar at a terminal, plain
    lines when piped (a CI log), nothing with --json."""

    @contextmanager
    def tracking(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if as_json:
            yield lambda n: None
        elif err.is_terminal:
            with _progress() as progress:
                task = progress.add_task(description, total=total)
                yield lambda n: progress.advance(task, n)
        else:
            with _plain(description, total) as advance:
                yield advance

    return tracking


@contextmanager
def _plain(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    started, done, said = time.perf_counter(), 0, 0

    def advance(n: int) -> None:
        nonlocal done, said
        done += n
        if total and total >= 1000 and done < total and done - said >= total * PLAIN_STEP:
            said = done
            print(f"{description}: {done}/{total} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)

    yield advance
    count = f" {done}/{total}" if total else ""
    print(f"{description}:{count} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def print_table(table: Table) -> None:
    """A table on stdout, never cutting an address or a name short (plain columns when piped)."""
    from network import views  # rich tables and graphviz: only for the commands that print one

    views.print_table(out, table)
