"""A drill's report: build/dr/<env>/drill-<UTC stamp>.json (everything, attempts included) and
.html (templates/drill.html.j2, autoescaped: request ids, statuses and playbook output are text,
never markup; printable like the audit's page)."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from network.envstate import dr_dir
from network.fileio import write_atomic

TEMPLATE = Path(__file__).parent / "templates" / "drill.html.j2"
# the window's instants (epoch s), shown as UTC times; its other fields are counts
TIMES = ("event_at", "last_ack_before", "first_disrupted", "first_ack_after")
CLIENT_NOTE = (
    "The drill's clerk asks the name servers before every write (no cache), so a moved name is "
    "followed at once; real clients keep the records' 30 s TTL and may take that much longer."
)


@cache
def _template():
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE.parent)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE.name)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def html(report: dict) -> str:
    window = report.get("window") or {}
    failed = [a for a in report.get("attempts", []) if a.get("status") not in ("200", "201")]
    return _template().render(
        report=report,
        window={key: _when(window.get(key)) for key in TIMES},
        failed=failed[:200],
        failed_more=max(0, len(failed) - 200),
        when=_when,
        note=CLIENT_NOTE,
    )


def write(env: Path, report: dict, root: Path | None = None) -> dict[str, str]:
    """Write both files; their paths by kind (json, html)."""
    directory = dr_dir(env, root)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / f"{report['drill']}.json", "html": directory / f"{report['drill']}.html"}
    write_atomic(paths["json"], (json.dumps(report, indent=1, ensure_ascii=False) + "\n").encode())
    write_atomic(paths["html"], html(report).encode())
    return {key: str(path) for key, path in paths.items()}
