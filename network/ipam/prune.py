"""Releasing allocations is destructive: a plan that releases them writes only when asked.

A released address goes back to its pool and the next new site may take it, so a site
that vanished by mistake (a file emptied, a bad merge) would lose its addresses for good.
`jinbao plan` lists what it would release and refuses to write unless `--prune` is given;
`--check` reports the releases like any pending change (exit 1).
"""

from __future__ import annotations

from pathlib import Path

from network.errors import IpamError, Problem
from network.ipam.allocate import Change


def releases(changes: list[Change]) -> list[Change]:
    return [change for change in changes if change.action == "released"]


def refusal(changes: list[Change], env: Path) -> IpamError | None:
    """The error of a plan that would release allocations without --prune; None if it releases none."""
    released = releases(changes)
    if not released:
        return None
    owners = sorted({change.key.split("/", 1)[0].split(":", 1)[0] for change in released})
    shown = ", ".join(owners[:10]) + (f" and {len(owners) - 10} more" if len(owners) > 10 else "")
    return IpamError(
        Problem(
            "allocations.yml",
            "",
            "",
            f"this plan releases {len(released)} allocation(s) of what is no longer in sites.yml ({shown}); "
            f"if that is intended, run `jinbao plan {env} --prune`",
        )
    )
