"""How far a long run is: `track(description, total)` gives a context whose value advances the
count by n (total None: a stage of unknown size, done when the context closes).

The console draws a bar at a terminal and prints plain lines when piped (network/cli/console.py);
`untracked` shows nothing. Every stage of a run goes through it, so the bar covers the whole run:
reading the sites files, allocating, rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

Advance = Callable[[int], None]
Track = Callable[[str, int | None], AbstractContextManager[Advance]]


@contextmanager
def untracked(description: str, total: int | None) -> Iterator[Advance]:
    yield lambda n: None
