"""What a build directory was rendered from, so `jinbao plan --render` knows what it may skip.

``build/configs/<env>/.render-state.json`` holds, after a render that left every device's
config current: the digest of the inputs every device shares (address plan, policy, settings,
secrets, templates, platform data, the renderer's own code), the digest of the allocations.yml
text rendered, and the digest of each sites file. A partial render that was not chosen from
this state (`jinbao render --site`) drops it, so the next `plan --render` renders in full.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from network.fileio import write_atomic
from network.ipam import Allocations
from network.ipam.store import dumps
from network.model import Network
from network.render.secrets import Secrets

STATE = ".render-state.json"
VERSION = 1
PACKAGE = Path(__file__).resolve().parent.parent
# everything, besides the model and allocations, that a device's config is made from
CODE = [PACKAGE / "templates", PACKAGE / "platforms", PACKAGE / "render", PACKAGE / "ipam" / "conventions.py"]


def inputs_digest(network: Network, secrets: Secrets) -> str:
    """One digest of what every device's config shares: when it changes, everything re-renders."""
    shared = hashlib.sha256()
    shared.update(network.addressing.model_dump_json().encode())
    shared.update(network.policy.model_dump_json().encode())
    shared.update(json.dumps(network.settings, sort_keys=True, default=str).encode())
    shared.update(repr(secrets).encode())  # only a digest of it is stored, beside configs that hold them
    for root in CODE:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file() and path.suffix in (".j2", ".yml", ".py"):
                shared.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return shared.hexdigest()


def allocations_digest(allocations: Allocations) -> str:
    """The digest of the allocations.yml text these allocations are (as ipam.read records it)."""
    return allocations.digest or hashlib.sha256(dumps(allocations).encode()).hexdigest()


def read(out_dir: Path) -> dict | None:
    try:
        state = json.loads((Path(out_dir) / STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("version") == VERSION else None


def write(out_dir: Path, network: Network, secrets: Secrets, allocations: str) -> None:
    """Record that every config in out_dir is rendered from exactly these inputs (allocations: its digest)."""
    state = {
        "version": VERSION,
        "inputs": inputs_digest(network, secrets),
        "allocations": allocations,
        "files": network.file_digests,
    }
    write_atomic(Path(out_dir) / STATE, json.dumps(state, indent=0, sort_keys=True).encode())


def clear(out_dir: Path) -> None:
    (Path(out_dir) / STATE).unlink(missing_ok=True)
