"""The model with its current allocations: what render, the lab and Ansible lookups start from."""

from __future__ import annotations

from pathlib import Path

from network import ipam
from network.errors import Problem, RenderError
from network.ipam import incremental
from network.model import Network, gc_paused, load, site_files
from network.progress import Track, untracked


def plan(env: Path, track: Track = untracked) -> tuple[Network, ipam.Plan, str]:
    """The model and its plan; how: "unchanged", "incremental" or "full" (network.ipam.incremental)."""
    env = Path(env)
    with track(f"read {env.name}'s sites files", len(site_files(env)) if env.is_dir() else None) as advance:
        network = load(env, progress=advance)
    with gc_paused(), track("allocate addresses", None):
        previous = ipam.read(env)
        result, how = incremental.plan(network, previous)
    if how == "full" and not result.changes:
        # allocations.yml is this network's plan: remember it, so the next plan may be incremental
        text = ipam.store.dumps(result.allocations)
        if previous.digest == incremental.digest(text):
            incremental.remember(network, text)
    return network, result, how


def planned(env: Path, track: Track = untracked) -> tuple[Network, ipam.Allocations]:
    """The model and its allocations, refusing to render from a stale allocations.yml."""
    network, result, _how = plan(env, track)
    if result.changes:
        sample = ", ".join(f"{c.action} {c.section}[{c.key}]" for c in result.changes[:3])
        raise RenderError(
            Problem(
                "allocations.yml",
                "",
                "",
                f"is out of date ({len(result.changes)} change(s): {sample}); run `jinbao plan {env}` first",
            )
        )
    return network, result.allocations
