"""jinbao-syslog-watchdog (roles/baseline/files): which of rsyslog's connections it takes for a
handshake nobody answered, when it closes one, and that it says "closed" only when ss
destroyed the socket. `ss` is replayed from captured output; the lab test
(tests/lab/test_management.py) runs it against a silent collector."""

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


def test_only_rsyslogs_connections_that_received_nothing_are_unanswered(watchdog, monkeypatch) -> None:
    monkeypatch.setattr(watchdog.subprocess, "run", FakeSs([HEALTHY, SILENT, OTHER]))
    assert watchdog.unanswered([6514]) == {"10.0.0.1:41002 10.5.2.10:6514"}


def test_a_silent_handshake_is_closed_after_the_grace_and_said(watchdog, monkeypatch, tmp_path) -> None:
    ss, logged = FakeSs([HEALTHY, SILENT]), []
    assert run(watchdog, monkeypatch, tmp_path, ss, 1000.0, logged) == 0
    assert ss.killed == [] and logged == []  # first seen: the grace starts
    run(watchdog, monkeypatch, tmp_path, ss, 1010.0, logged)
    assert ss.killed == []  # 10 s: still within it
    run(watchdog, monkeypatch, tmp_path, ss, 1021.0, logged)
    assert [argv[-3:] for argv in ss.killed] == [["10.0.0.1:41002", "dst", "10.5.2.10:6514"]]
    assert len(logged) == 1 and "received nothing for 21 s" in logged[0] and ": closed," in logged[0]


def test_a_socket_ss_could_not_destroy_is_not_called_closed(watchdog, monkeypatch, tmp_path) -> None:
    """ss -K exits 0 when it destroyed nothing (a kernel without socket destroy): not "closed",
    and the connection keeps its first sighting."""
    ss, logged = FakeSs([SILENT], destroys=False), []
    run(watchdog, monkeypatch, tmp_path, ss, 1000.0, logged)
    run(watchdog, monkeypatch, tmp_path, ss, 1025.0, logged)
    run(watchdog, monkeypatch, tmp_path, ss, 1035.0, logged)
    assert all("could not be closed (ss destroyed no socket)" in text for text in logged) and len(logged) == 2
    assert "received nothing for 35 s" in logged[1]
