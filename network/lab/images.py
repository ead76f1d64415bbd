"""Lab images, built here and cached by the hash of what goes into them.

``jinbao/rootfs`` is a Debian bookworm tree made by debootstrap from the environment's
Debian mirror (group_vars/all/offline.yml, jinbao_debian_mirror) and imported with
``docker import``; its apt sources name that mirror, so the Dockerfiles' apt-get uses it
too. ``base`` (systemd as PID 1, sshd), ``router`` (FRR) and ``server`` are Dockerfiles in
network/lab/images/. Each tag carries a digest of its inputs and its parent's tag, so an
image is rebuilt exactly when something it is made of changed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from network.errors import LabError

IMAGES_DIR = Path(__file__).resolve().parent / "images"
REPOSITORY = "jinbao"
SUITE = "bookworm"
# what every lab container needs: systemd as PID 1, sshd and python3 for Ansible, and the
# tools the lab tests use (ping, nc, ip)
ROOTFS_PACKAGES = (
    "systemd,systemd-sysv,dbus,iproute2,iputils-ping,netcat-openbsd,openssh-server,"
    "python3,python3-apt,sudo,procps,ca-certificates,less"
)
# children after parents: the order they are built in
DOCKERFILES = ("base", "router", "server")
PARENT = {"base": "rootfs", "router": "base", "server": "base"}


@dataclass(frozen=True)
class Built:
    name: str
    tag: str
    seconds: float  # 0.0: taken from the cache


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:12]


def _dir_digest(directory: Path) -> list[bytes]:
    return [
        p.relative_to(directory).as_posix().encode() + p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    ]


def tags(mirror: str) -> dict[str, str]:
    """Image name → the tag its current inputs give (rootfs, base, router, server); `mirror`
    is the Debian mirror the rootfs (and through its apt sources, every image) comes from."""
    result = {"rootfs": f"{REPOSITORY}/rootfs:{_digest(SUITE, mirror, ROOTFS_PACKAGES, 'minbase')}"}
    for name in DOCKERFILES:
        result[name] = f"{REPOSITORY}/{name}:{_digest(result[PARENT[name]], *_dir_digest(IMAGES_DIR / name))}"
    return result


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


def _say(message: str) -> None:
    print(f"lab: {message}", flush=True)


def _rootfs(client: docker.DockerClient, tag: str, mirror: str) -> None:
    if not shutil.which("debootstrap"):
        raise LabError("debootstrap is not installed (apt-get install debootstrap)")
    _say(f"debootstrap {SUITE} from {mirror} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="jinbao-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        argv = ["debootstrap", "--variant=minbase", f"--include={ROOTFS_PACKAGES}", SUITE, str(root), mirror]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode:
            log = root / "debootstrap" / "debootstrap.log"
            detail = log.read_text(errors="replace")[-1500:] if log.exists() else done.stderr[-1500:]
            raise LabError(f"debootstrap failed:\n{detail}")
        # apt caches and machine-id are per container, not per image
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "etc/machine-id").write_text("")
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], check=True)
        repository, version = tag.split(":")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=version)


def _build(client: docker.DockerClient, name: str, tag: str, parent: str) -> None:
    _say(f"building {tag}")
    try:
        _, logs = client.images.build(
            path=str(IMAGES_DIR / name), tag=tag, buildargs={"BASE": parent}, rm=True, forcerm=True, pull=False
        )
    except BuildError as exc:
        tail = "".join(str(line.get("stream", line.get("error", ""))) for line in exc.build_log)[-1500:]
        raise LabError(f"image {name} failed to build:\n{tail}") from None
    except APIError as exc:
        raise LabError(f"image {name} failed to build: {exc.explanation}") from None
    del logs


def ensure(client: docker.DockerClient, mirror: str) -> list[Built]:
    """Build whatever image is missing for the current inputs; tag each also as :lab."""
    wanted = tags(mirror)
    built = []
    for name in ("rootfs", *DOCKERFILES):
        tag = wanted[name]
        started = time.perf_counter()
        if _exists(client, tag):
            built.append(Built(name, tag, 0.0))
        else:
            if name == "rootfs":
                _rootfs(client, tag, mirror)
            else:
                _build(client, name, tag, wanted[PARENT[name]])
            built.append(Built(name, tag, time.perf_counter() - started))
        client.images.get(tag).tag(f"{REPOSITORY}/{name}", "lab")
    return built
