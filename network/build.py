"""What `jinbao plan` and `jinbao render` build from the intent: allocations.yml and the
device configs under build/configs/<env>/. Callable without the command line: the commands
only print what these return and map it to an exit code.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from network import ipam
from network.errors import JinbaoError, Problem, RenderError
from network.ipam import incremental, prune
from network.model import Network, gc_paused
from network.planned import plan
from network.progress import Track, untracked
from network.render import Renderer, RenderResult, load_secrets, state
from network.render.incremental import affected_devices


def allocations_digest(env: Path) -> str | None:
    """The digest of env/allocations.yml as it is now (None: there is none)."""
    path = Path(env) / ipam.store.FILE
    return incremental.digest(path.read_bytes()) if path.exists() else None


@gc_paused()
def render_configs(
    network: Network,
    allocations: ipam.Allocations,
    env: Path,
    sites: list[str] | None = None,
    vault_password_file: Path | None = None,
    changes: list[ipam.Change] | None = None,
    since: str | None = None,
    track: Track = untracked,
) -> RenderResult:
    """Render `sites`, or what the plan's `changes` (from allocations digest `since`) touch, or everything."""
    secrets = load_secrets(env, vault_password_file)
    renderer = Renderer(network, allocations, secrets)
    out_dir = configs_dir(network)
    if sites:
        unknown = [s for s in sites if s not in network.sites]
        if unknown:
            raise RenderError(Problem("sites.yml", "", "--site", f"no site with id {', '.join(unknown)}"))
        only = [(network.sites[s], d) for s in sites for d in network.sites[s].devices]
        return _render(renderer, out_dir, only, [], track)
    if changes is None:
        return _render(renderer, out_dir, None, [], track)
    with state.exclusive(out_dir):  # the record read, the configs chosen by it, rendered and recorded: by one render
        selection = affected_devices(renderer, since, changes, out_dir)
        if selection is None:
            return _render(renderer, out_dir, None, [], track)
        result = _render(renderer, out_dir, selection.devices, selection.stale, track)
        # every config is current again: record from what
        changed = {*result.written, *result.removed}
        digest = allocations.digest or allocations_digest(env)  # set when allocations.yml was read or written
        state.write(out_dir, network, secrets, digest, result.signatures, changed)
    return result


def configs_dir(network: Network) -> Path:
    return Path("build") / "configs" / network.name


def _render(renderer: Renderer, out_dir: Path, only: list | None, stale: list[str], track: Track) -> RenderResult:
    network = renderer.network
    total = len(only) if only is not None else sum(len(s.devices) for s in network.sites.values())
    with track(f"render {network.name}", total) as advance:
        return renderer.render_all(out_dir, only=only, progress=advance, stale=stale)


@dataclass
class PlanRun:
    network: Network
    changes: list[ipam.Change]
    written: bool = False  # allocations.yml was rewritten
    refused: JinbaoError | None = None  # releases without --prune: nothing was written
    rendered: RenderResult | None = None


@gc_paused()
def apply_plan(
    env: Path,
    *,
    check: bool = False,
    prune_released: bool = False,
    render: bool = False,
    vault_password_file: Path | None = None,
    track: Track = untracked,
) -> PlanRun:
    """Allocate what is new and write allocations.yml (not with `check`), then render what the
    changes touch (`render`). A plan that would release allocations is refused unless
    `prune_released` (or `check`, which writes nothing anyway)."""
    network, result, how = plan(env, track)
    refused = None if check or prune_released else prune.refusal(result.changes, env)
    if refused is not None:
        return PlanRun(network, result.changes, refused=refused)
    run = PlanRun(network, result.changes)
    if check:
        return run
    # with --render, the build directory is taken first: a render running there refuses this plan
    # before allocations.yml is written, not after
    with state.exclusive(configs_dir(network)) if render else contextlib.nullcontext():
        if how != "unchanged":  # else allocations.yml is this plan already, as jinbao wrote it
            with track(f"write {ipam.store.FILE}", None):
                text = result.text if result.text is not None else ipam.store.dumps(result.allocations)
                run.written = ipam.store.write_text(env, text, result.allocations)
                if run.written:
                    incremental.remember(network, text)
        if render:
            run.rendered = render_configs(
                network, result.allocations, env, None, vault_password_file, result.changes, result.base, track
            )
    return run
