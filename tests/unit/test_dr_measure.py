"""RTO and RPO of a DR drill from a synthetic attempts log (network/dr/measure.py): the outage
the clerk saw, by request id, with the edge cases a real drill meets."""

from __future__ import annotations

import json

import pytest

from network.dr import measure


def line(request_id: str, start: float, end: float, status: str | int, address: str = "10.5.1.11") -> str:
    return json.dumps({"id": request_id, "start": start, "end": end, "status": str(status), "address": address})


def log(*lines: str) -> list[measure.Attempt]:
    attempts, unreadable = measure.parse("\n".join(lines) + "\n")
    assert unreadable == 0
    return attempts


SWITCHOVER = log(
    line("w1", 100.0, 100.1, 201),
    line("w2", 101.0, 101.1, 201),
    line("w3", 102.0, 112.0, "timeout"),  # the first failed write: the old primary is gone
    line("w3", 112.5, 112.6, 503),
    line("w3", 113.0, 113.2, 201, "10.5.6.11"),  # the first acknowledged write after
    line("w4", 114.0, 114.1, 201, "10.5.6.11"),
)


def test_rto_runs_from_the_last_acknowledged_write_before_to_the_first_after() -> None:
    window = measure.window(SWITCHOVER)
    assert window.disrupted and window.recovered
    assert window.last_ack_before == 101.1 and window.first_disrupted == 102.0 and window.first_ack_after == 113.2
    assert window.rto_s == pytest.approx(12.1)


def test_a_failure_over_before_the_event_is_not_taken_for_its_outage() -> None:
    # seen in a failover drill: the first write got a 503 while the middleware warmed up, the
    # next was acknowledged, and the RTO came out as 2 s for an outage of about 50
    attempts = log(
        line("w1", 90.0, 91.6, 503),
        line("w1", 91.6, 92.2, 201),
        line("w2", 100.0, 100.1, 201),
        line("w3", 101.0, 111.0, "timeout"),  # in flight when the event came at 100.5
        line("w3", 112.0, 149.0, 504),
        line("w3", 150.0, 150.2, 201, "10.5.6.11"),
    )
    window = measure.window(attempts, event_at=100.5)
    assert window.first_disrupted == 101.0 and window.last_ack_before == 100.1 and window.first_ack_after == 150.2
    assert window.rto_s == pytest.approx(50.1) and window.failures_before_event == 1
    assert measure.window(attempts).rto_s == pytest.approx(2.2)  # what the drill measured before


def test_without_a_failed_or_stalled_write_there_is_no_outage() -> None:
    window = measure.window(log(line("w1", 1.0, 1.1, 201), line("w2", 2.0, 2.1, 201)))
    assert (window.disrupted, window.recovered, window.rto_s) == (False, True, 0.0)


def test_a_stalled_write_is_part_of_the_outage_even_when_it_is_acknowledged() -> None:
    window = measure.window(log(line("w1", 1.0, 1.1, 201), line("w2", 2.0, 9.0, 201), line("w3", 9.5, 9.6, 201)))
    assert window.first_disrupted == 2.0 and window.first_ack_after == 9.0 and window.rto_s == pytest.approx(7.9)


def test_writes_that_never_come_back_are_not_recovered_and_say_how_long_at_least() -> None:
    window = measure.window(log(line("w1", 1.0, 1.1, 201), line("w2", 2.0, 12.0, "timeout"), line("w2", 13, 14, "dns")))
    assert window.disrupted and not window.recovered and window.rto_s is None
    assert window.rto_at_least_s == pytest.approx(12.9)


def test_failures_after_the_first_recovery_are_counted() -> None:
    attempts = log(
        line("w1", 1.0, 1.1, 201),
        line("w2", 2, 3, 503),
        line("w2", 4, 4.1, 201),
        line("w3", 5, 6, 503),
        line("w3", 7, 7.1, 201),
    )
    window = measure.window(attempts)
    assert window.rto_s == pytest.approx(3.0) and window.failures_after_recovery == 1


def test_a_replay_and_a_duplicated_line_count_one_acknowledged_write() -> None:
    attempts = log(
        line("w1", 1.0, 1.1, 201),
        line("w1", 1.0, 1.1, 201),  # the same line twice (a log copied back twice)
        line("w2", 2.0, 12.0, "timeout"),  # committed, but the answer was lost
        line("w2", 12.5, 12.6, 200),  # the replay: 200, Idempotent-Replay
    )
    counted = measure.writes(attempts)
    assert counted.attempts == 3 and counted.ids == 2
    assert counted.acknowledged == ["w1", "w2"] and counted.failed_attempts == 1 and counted.why == {"timeout": 1}


def test_rpo_is_the_acknowledged_ids_the_database_does_not_hold() -> None:
    counted = measure.writes(SWITCHOVER)
    assert measure.lost(counted.acknowledged, {"w1", "w2", "w3", "w4"}) == []
    assert measure.lost(counted.acknowledged, {"w1", "w3", "unrelated"}) == ["w2", "w4"]


def test_a_write_never_acknowledged_is_not_lost_whatever_the_database_holds() -> None:
    counted = measure.writes(log(line("w1", 1, 1.1, 201), line("w2", 2, 12, "timeout")))
    assert measure.lost(counted.acknowledged, set()) == ["w1"]


def test_unreadable_lines_are_counted_not_fatal() -> None:
    text = line("w1", 1, 1.1, 201) + '\n{"id": "w2", "start": 2, "en\nnot json\n'
    attempts, unreadable = measure.parse(text)
    assert [a.id for a in attempts] == ["w1"] and unreadable == 2


def test_acknowledgements_are_counted_by_the_address_that_answered() -> None:
    assert measure.writes(SWITCHOVER).answered_by == {"10.5.1.11": 2, "10.5.6.11": 2}
