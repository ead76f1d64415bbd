"""RTO and RPO from a drill's attempts log: pure, one attempt per line in, figures out.

The load (network/dr/load.py) writes one JSON line per attempt: `id` (the request id, reused
when a write is retried), `start` and `end` (epoch seconds on the clerk's clock), `status`
(the HTTP status, or why no answer came: `timeout`, `dns`, an exception's name) and `address`
(the web tier's address that was asked, when the name resolved).

- acknowledged: HTTP 201 (written) or 200 (an idempotent replay of a write already made);
- disruption: the first attempt that failed or stalled (took longer than `stall_s`);
- RTO: from the end of the last acknowledged attempt before the disruption to the end of the
  first acknowledged attempt that started at or after it;
- RPO: the acknowledged request ids the database does not hold after recovery.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

ACKNOWLEDGED = frozenset({"200", "201"})
STALL_S = 2.0  # a write normally takes tens of milliseconds; one past this is part of the outage


@dataclass(frozen=True)
class Attempt:
    id: str
    start: float
    end: float
    status: str
    address: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status in ACKNOWLEDGED

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def disrupted(self, stall_s: float) -> bool:
        return not self.acknowledged or self.seconds > stall_s


def parse(text: str) -> tuple[list[Attempt], int]:
    """Attempts from the log (a line written twice counts once), in start order, and how many
    lines could not be read (a line cut short when the load was stopped)."""
    seen: dict[tuple[str, float], Attempt] = {}
    unreadable = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            start, end = float(raw["start"]), float(raw["end"])
            attempt = Attempt(str(raw["id"]), start, end, str(raw["status"]), str(raw.get("address") or ""))
        except (ValueError, KeyError, TypeError):
            unreadable += 1
            continue
        seen.setdefault((attempt.id, attempt.start), attempt)
    return sorted(seen.values(), key=lambda a: (a.start, a.end)), unreadable


@dataclass
class Window:
    """The outage the event caused, as the clerk saw it (epoch seconds; None: not seen)."""

    disrupted: bool
    recovered: bool
    rto_s: float | None  # None: the writes never came back
    last_ack_before: float | None = None
    first_disrupted: float | None = None
    first_ack_after: float | None = None
    rto_at_least_s: float | None = None  # when not recovered: how long the outage lasted at least
    failures_after_recovery: int = 0  # attempts failing again after the first one came back
    failures_before_event: int = 0  # attempts that failed and ended before the event: not its outage


def window(attempts: list[Attempt], stall_s: float = STALL_S, event_at: float | None = None) -> Window:
    """The outage: from the last acknowledged write before the first failed or stalled one to
    the first acknowledged after. `event_at` (epoch s): only an attempt still running then or
    started later can be the event's; a failure over before it (a slow first request, say) is
    counted apart, never taken for the outage."""
    early = 0 if event_at is None else sum(1 for a in attempts if a.disrupted(stall_s) and a.end <= event_at)
    first_bad = next((a for a in attempts if a.disrupted(stall_s) and (event_at is None or a.end > event_at)), None)
    if first_bad is None:
        return Window(disrupted=False, recovered=True, rto_s=0.0, failures_before_event=early)
    before = [a.end for a in attempts if a.acknowledged and a.end <= first_bad.start]
    since = before[-1] if before else first_bad.start
    after = [a for a in attempts if a.acknowledged and a.start >= first_bad.start]
    if not after:
        last = max(a.end for a in attempts)
        return Window(
            True,
            False,
            None,
            before[-1] if before else None,
            first_bad.start,
            rto_at_least_s=round(last - since, 3),
            failures_before_event=early,
        )
    back = min(after, key=lambda a: a.end)
    again = sum(1 for a in attempts if a.start >= back.end and not a.acknowledged)
    return Window(
        True,
        True,
        round(back.end - since, 3),
        before[-1] if before else None,
        first_bad.start,
        back.end,
        failures_after_recovery=again,
        failures_before_event=early,
    )


@dataclass
class Writes:
    attempts: int
    ids: int
    acknowledged: list[str]  # request ids, in the order first acknowledged
    failed_attempts: int
    stalled_attempts: int
    why: dict[str, int] = field(default_factory=dict)  # status of the attempts not acknowledged → count
    answered_by: dict[str, int] = field(default_factory=dict)  # address → acknowledged attempts


def writes(attempts: list[Attempt], stall_s: float = STALL_S) -> Writes:
    acknowledged: dict[str, None] = {}
    for a in attempts:
        if a.acknowledged:
            acknowledged.setdefault(a.id)
    failed = [a for a in attempts if not a.acknowledged]
    return Writes(
        attempts=len(attempts),
        ids=len({a.id for a in attempts}),
        acknowledged=list(acknowledged),
        failed_attempts=len(failed),
        stalled_attempts=sum(1 for a in attempts if a.acknowledged and a.seconds > stall_s),
        why=dict(Counter(a.status for a in failed)),
        answered_by=dict(Counter(a.address for a in attempts if a.acknowledged)),
    )


def lost(acknowledged: list[str], found: set[str]) -> list[str]:
    """RPO by request id: the acknowledged writes the database does not hold."""
    return [request_id for request_id in acknowledged if request_id not in found]
