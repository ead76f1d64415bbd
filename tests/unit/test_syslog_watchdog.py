"""jinbao-syslog-watchdog (roles/baseline/files): which of rsyslog's connections it takes for
silent (a handshake nobody answered, data nobody acknowledged), when it closes one, and that it
says "closed" only when ss destroyed the socket. `ss` is replayed from captured output; the lab
tests (tests/lab/test_management.py) run it against a silent collector and a dead path."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from conftest import REPO

SCRIPT = REPO / "roles" / "baseline" / "files" / "jinbao-syslog-watchdog"
HEALTHY = (
    '0 0 10.0.0.1:41000 10.5.2.10:6514 users:(("rsyslogd",pid=80,fd=7)) cubic rto:204 bytes_sent:900'
    " bytes_acked:901 bytes_received:2712 segs_out:9 segs_in:8"
)
SILENT = (
    '0 0 10.0.0.1:41002 10.5.2.10:6514 users:(("rsyslogd",pid=80,fd=8)) cubic rto:204 bytes_sent:202'
    " bytes_acked:203 segs_out:3"
)
# a path that dropped the connection: 2 segments sent, never acknowledged, retransmitted
DROPPED = (
    '0 0 10.0.0.1:41006 10.5.2.10:6514 users:(("rsyslogd",pid=80,fd=9)) cubic rto:6528 backoff:5'
    " bytes_sent:3352 bytes_retrans:2040 bytes_acked:901 bytes_received:2712 segs_out:21 segs_in:8"
    " unacked:2 retrans:1/12 lastsnd:4000 lastrcv:31000 lastack:31000"
)
OTHER = '0 0 10.0.0.1:41004 10.5.2.10:6514 users:(("openssl",pid=99,fd=3)) cubic rto:204 bytes_sent:202'


@pytest.fixture
def watchdog():
    loader = SourceFileLoader("jinbao_syslog_watchdog", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


class FakeSs:
    """`ss` as the node would answer: the sockets shown, and what -K destroys."""

    def __init__(self, shown: list[str], destroys: bool = True):
        self.shown, self.destroys, self.killed = shown, destroys, []

    def __call__(self, argv, **_kwargs):
        if "-HK" in argv:
            self.killed.append(argv)
            return subprocess.CompletedProcess(argv, 0, SILENT + "\n" if self.destroys else "", "")
        return subprocess.CompletedProcess(argv, 0, "".join(f"{line}\n" for line in self.shown), "")


def run(watchdog, monkeypatch, tmp_path: Path, ss: FakeSs, now: float, logged: list[str]) -> int:
    monkeypatch.setattr(watchdog.subprocess, "run", ss)
    monkeypatch.setattr(watchdog.time, "time", lambda: now)
    monkeypatch.setattr(watchdog.syslog, "syslog", lambda _prio, text: logged.append(text))
    state = tmp_path / "state.json"
    monkeypatch.setattr(sys, "argv", ["watchdog", "--port", "6514", "--grace", "20", "--state", str(state)])
    return watchdog.main()


def test_rsyslogs_connections_that_wait_on_the_collector(watchdog, monkeypatch) -> None:
    """Received nothing yet, or data unacknowledged: rsyslogd's only, with what the collector
    has sent and acknowledged so far."""
    monkeypatch.setattr(watchdog.subprocess, "run", FakeSs([HEALTHY, SILENT, DROPPED, OTHER]))
    assert watchdog.waiting([6514]) == {
        "10.0.0.1:41002 10.5.2.10:6514": {"received": 0, "acked": 203},
        "10.0.0.1:41006 10.5.2.10:6514": {"received": 2712, "acked": 901},
    }


def test_a_silent_handshake_is_closed_after_the_grace_and_said(watchdog, monkeypatch, tmp_path) -> None:
    ss, logged = FakeSs([HEALTHY, SILENT]), []
    assert run(watchdog, monkeypatch, tmp_path, ss, 1000.0, logged) == 0
    assert ss.killed == [] and logged == []  # first seen: the grace starts
    run(watchdog, monkeypatch, tmp_path, ss, 1010.0, logged)
    assert ss.killed == []  # 10 s: still within it
    run(watchdog, monkeypatch, tmp_path, ss, 1021.0, logged)
    assert [argv[-3:] for argv in ss.killed] == [["10.0.0.1:41002", "dst", "10.5.2.10:6514"]]
    assert len(logged) == 1 and "heard nothing from its collector for 21 s" in logged[0] and ": closed," in logged[0]


def test_a_socket_ss_could_not_destroy_is_not_called_closed(watchdog, monkeypatch, tmp_path) -> None:
    """ss -K exits 0 when it destroyed nothing (a kernel without socket destroy): not "closed",
    and the connection keeps its first sighting."""
    ss, logged = FakeSs([SILENT], destroys=False), []
    run(watchdog, monkeypatch, tmp_path, ss, 1000.0, logged)
    run(watchdog, monkeypatch, tmp_path, ss, 1025.0, logged)
    run(watchdog, monkeypatch, tmp_path, ss, 1035.0, logged)
    assert all("could not be closed (ss destroyed no socket)" in text for text in logged) and len(logged) == 2
    assert "heard nothing from its collector for 35 s" in logged[1]


def test_data_the_collector_never_acknowledges_is_closed_after_the_grace(watchdog, monkeypatch, tmp_path) -> None:
    """A path that forgot the connection: the kernel would retransmit for some 15 minutes."""
    ss, logged = FakeSs([HEALTHY, DROPPED]), []
    run(watchdog, monkeypatch, tmp_path, ss, 1000.0, logged)
    run(watchdog, monkeypatch, tmp_path, ss, 1010.0, logged)
    assert ss.killed == []
    run(watchdog, monkeypatch, tmp_path, ss, 1020.0, logged)
    assert [argv[-3:] for argv in ss.killed] == [["10.0.0.1:41006", "dst", "10.5.2.10:6514"]]
    assert "for 20 s (data its collector never acknowledged" in logged[0] and ": closed," in logged[0]


def test_a_collector_that_acknowledges_restarts_the_grace(watchdog, monkeypatch, tmp_path) -> None:
    """A busy, healthy connection has data in flight at every look; its acknowledgements move."""
    logged: list[str] = []
    for second in range(0, 100, 10):
        busy = DROPPED.replace("bytes_acked:901", f"bytes_acked:{901 + second * 1000}")
        run(watchdog, monkeypatch, tmp_path, FakeSs([busy]), 1000.0 + second, logged)
    handshake = [SILENT.replace("bytes_acked:203", f"bytes_acked:{203 + second}") for second in (0, 1, 2, 3)]
    for second, shown in enumerate(handshake):
        run(watchdog, monkeypatch, tmp_path, FakeSs([shown]), 2000.0 + 10 * second, logged)
    assert logged == []


def test_a_state_from_the_older_watchdog_starts_the_grace_again(watchdog, monkeypatch, tmp_path) -> None:
    """The watchdog before this one kept "local peer" -> first sighting only."""
    (tmp_path / "state.json").write_text('{"10.0.0.1:41006 10.5.2.10:6514": 900.0}')
    ss, logged = FakeSs([DROPPED]), []
    run(watchdog, monkeypatch, tmp_path, ss, 1000.0, logged)
    assert ss.killed == [] and logged == []
    run(watchdog, monkeypatch, tmp_path, ss, 1020.0, logged)
    assert len(ss.killed) == 1
