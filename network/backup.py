"""`jinbao backup`: every device's running config, fetched concurrently, kept in git.

One commit per run, one file per device (``<hostname>.cfg``), secrets scrubbed by the
rules of the device's platform (network/platforms/<platform>.yml ``scrub``), so that
salted ciphertexts never show up as changes. A device that fails keeps its last good
file, and the run says which failed and why.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from network.drivers import Target, open_driver
from network.platforms import scrub


@dataclass
class Fetched:
    hostname: str
    text: str | None = None
    error: str | None = None
    seconds: float = 0.0


def fetch(target: Target, timeout: int = 30) -> Fetched:
    started = time.perf_counter()
    try:
        device = open_driver(target, timeout=timeout)
        try:
            text = device.get_config(retrieve="running")["running"]
        finally:
            device.close()
        return Fetched(target.hostname, scrub(target.platform, text), seconds=time.perf_counter() - started)
    except Exception as exc:  # one device's failure is reported, never fatal for the run
        return Fetched(target.hostname, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - started)


def fetch_all(targets: list[Target], workers: int = 16, timeout: int = 30) -> list[Fetched]:
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        return list(pool.map(lambda t: fetch(t, timeout), targets))


@dataclass
class BackupReport:
    directory: str
    commit: str | None
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def backup(environment: str, targets: list[Target], repo: Path, workers: int = 16) -> BackupReport:
    started = time.perf_counter()
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        _git(repo, "init", "-q")
        _git(repo, "config", "user.name", "jinbao backup")
        _git(repo, "config", "user.email", "jinbao-backup@localhost")
    report = BackupReport(str(repo), None)
    for result in fetch_all(targets, workers):
        path = repo / f"{result.hostname}.cfg"
        if result.error is not None:
            report.failed[result.hostname] = result.error
            continue
        if path.exists() and path.read_text() == result.text:
            report.unchanged.append(result.hostname)
            continue
        path.write_text(result.text)
        report.changed.append(result.hostname)
    _git(repo, "add", "-A")
    if report.changed:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = f"backup {environment} {stamp}: {len(report.changed)} changed, {len(report.unchanged)} unchanged"
        if report.failed:
            message += f", {len(report.failed)} failed ({', '.join(sorted(report.failed))})"
        _git(repo, "commit", "-q", "-m", message)
        report.commit = _git(repo, "rev-parse", "HEAD").strip()
    report.seconds = time.perf_counter() - started
    return report
