"""The Docker engine: Debian's docker.io, installed and started when it is not running."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException

from network.errors import LabError

SOCKET = Path("/var/run/docker.sock")
LOG = Path("/var/log/jinbao-dockerd.log")
PACKAGES = ("docker.io", "debootstrap")


def _say(message: str) -> None:
    print(f"lab: {message}", flush=True)


def _install() -> None:
    missing = [p for p, tool in zip(PACKAGES, ("dockerd", "debootstrap"), strict=True) if not shutil.which(tool)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError(
            f"the lab needs {', '.join(missing)}; install them (apt-get install {' '.join(missing)}) or run as root"
        )
    _say(f"installing {', '.join(missing)} from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise LabError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")


# Every node runs systemd, which holds inotify instances for its path units and journald; two
# dozen nodes outrun the kernel's default of 128 per user, and the late ones boot degraded
# ("Result: resources"). The lab raises the host's limits, never lowers them.
HOST_LIMITS = {"fs/inotify/max_user_instances": 1024, "fs/inotify/max_user_watches": 524288}
PROC_SYS = Path("/proc/sys")


def host_limits() -> list[str]:
    """Raise the host's kernel limits the lab needs; what changed, as `key: old -> new`."""
    changed = []
    for key, wanted in HOST_LIMITS.items():
        path = PROC_SYS / key
        have = int(path.read_text())
        if have >= wanted:
            continue
        if os.geteuid() != 0:
            raise LabError(f"{key.replace('/', '.')} is {have}; the lab needs {wanted} (sysctl -w as root)")
        path.write_text(str(wanted))
        changed.append(f"{key.replace('/', '.')}: {have} -> {wanted}")
    return changed


def _ping() -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=f"unix://{SOCKET}", timeout=300)
        client.ping()
        return client
    except DockerException:
        return None


def client() -> docker.DockerClient:
    """A client of a running Docker engine, installing and starting one when needed."""
    found = _ping()
    if found:
        return found
    _install()
    if os.geteuid() != 0:
        raise LabError("no Docker engine answers on /var/run/docker.sock and only root can start dockerd")
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "start", "docker"], check=False, capture_output=True)
    else:
        _say(f"starting dockerd (log: {LOG})")
        with LOG.open("ab") as log:
            subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(120):
        found = _ping()
        if found:
            return found
        time.sleep(0.5)
    raise LabError(f"dockerd did not answer within 60 s; see {LOG}")


def connect() -> docker.DockerClient | None:
    """A client of a running engine, or None: for status and down, which start nothing."""
    return _ping()
