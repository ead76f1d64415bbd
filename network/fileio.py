"""Writing files so that a reader never sees half of one and two writers never share a temporary.

Several processes write the same paths at once: ansible-lint and ansible-playbook parse the
inventory in parallel, and every parse refreshes the model's caches. A temporary named after
the target alone (`x.tmp`) is then renamed away by one writer while the other still wants it
(seen in CI: `No such file or directory: ... memo-....tmp -> ... memo-....pickle`). Each write
here gets its own temporary in the target's directory, so the final rename is atomic and the
last writer wins whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one rename; the file is created with `mode` (0o600 for secrets)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_cache(path: Path, data: bytes) -> bool:
    """Like write_atomic, for a cache: a read-only or full disk only means no cache (False)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError:
        return False
    return True
