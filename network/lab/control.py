"""The lab's nodes by name (their inventory hostnames), for what acts on a running lab from the
outside, like a DR drill: run a command in a node, write a file there, stop a node and start it
again, wired as `jinbao lab up` wires it (Docker gives a restarted container fresh links, which
wire.py names and addresses again)."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path, PurePosixPath

from docker.errors import DockerException, NotFound

from network.errors import LabError
from network.lab import access, engine, nodes
from network.lab.objects import container_name
from network.lab.topology import Topology


class NodeControl:
    def __init__(self, env: Path, topo: Topology, settings: dict):
        client = engine.connect()
        if client is None:
            raise LabError("no Docker engine answers: the lab is not running (make lab)")
        self.env, self.topo, self.settings, self.client = env, topo, settings, client

    def _container(self, node: str):
        if node not in self.topo.nodes:
            raise LabError(f"{node} is not a node of the lab {self.topo.environment}")
        try:
            return self.client.containers.get(container_name(self.topo, node))
        except NotFound:
            raise LabError(f"{node}: no container {container_name(self.topo, node)} (jinbao lab up)") from None

    def container(self, node: str) -> str:
        return container_name(self.topo, node)

    def running(self, node: str) -> bool:
        container = self._container(node)
        container.reload()
        return container.status == "running"

    def exec(self, node: str, argv: list[str], user: str = "root") -> tuple[int, str, str]:
        """Run argv in the node (docker exec); exit code, stdout, stderr."""
        try:
            code, output = self._container(node).exec_run(argv, user=user, demux=True)
        except DockerException as exc:
            return 255, "", f"docker exec on {node}: {exc}"
        stdout, stderr = (part.decode(errors="replace") if part else "" for part in output)
        return code, stdout, stderr

    def put(self, node: str, path: str, data: bytes, mode: int = 0o644) -> None:
        target = PurePosixPath(path)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(target.name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            archive.addfile(info, io.BytesIO(data))
        if not self._container(node).put_archive(str(target.parent), buffer.getvalue()):
            raise LabError(f"{node}: could not write {path}")

    def kill(self, node: str) -> None:
        """Cut the node's power: SIGKILL, no shutdown (what a lost site does to its hosts)."""
        self._container(node).kill()

    def start(self, node: str) -> None:
        """Start the node and wire it again (links, addresses, the automation account)."""
        container = self._container(node)
        container.start()
        user, key = access.automation_user(self.env, self.settings), access.ssh_key(self.env)
        nodes.wire(self.client, self.topo, self.topo.nodes[node], user, key)
