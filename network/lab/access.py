"""The lab's automation access: its SSH key, the account wire.py makes on every node, the
nodes' host keys pinned in known_hosts, and sshd answering."""

from __future__ import annotations

import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from network.envstate import ssh_dir
from network.errors import LabError, Problem
from network.lab.nodes import wire
from network.lab.objects import Report
from network.lab.topology import Topology


def ssh_key(env: Path) -> str:
    directory = ssh_dir(env)
    private = directory / "id_ed25519"
    if not private.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"jinbao-{env.name}-lab", "-f", str(private)],
            check=True,
        )
    return (directory / "id_ed25519.pub").read_text().strip()


def automation_user(topo_env: Path, settings: dict) -> str:
    user = settings.get("ansible_user")
    if not user:
        raise LabError(
            Problem(
                f"{topo_env}/group_vars/all", "", "ansible_user", "is not set; the lab makes that account on every node"
            )
        )
    return str(user)


def wait_ssh(topo: Topology, timeout: float = 60.0) -> None:
    pending = {n.management for n in topo.nodes.values()}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for address in sorted(pending):
            try:
                with socket.create_connection((address, 22), timeout=1):
                    pending.discard(address)
            except OSError:
                pass
        if pending:
            time.sleep(0.5)
    if pending:
        raise LabError(f"sshd does not answer on {', '.join(sorted(pending))} after {timeout:.0f} s")


def grant(env: Path, client, topo: Topology, user: str, key: str, report: Report) -> None:
    """Wire every node (links, addresses, automation account), record host keys, wait for sshd."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(
            zip(topo.nodes, pool.map(lambda n: wire(client, topo, n, user, key), topo.nodes.values()), strict=True)
        )
    for name, result in results.items():
        if result["changes"]:
            report.wired[name] = result["changes"]
    known = "".join(f"{topo.nodes[n].management} {r['hostkey']}\n" for n, r in sorted(results.items()))
    known_hosts = ssh_dir(env) / "known_hosts"
    if not known_hosts.exists() or known_hosts.read_text() != known:
        known_hosts.write_text(known)
    wait_ssh(topo)
