"""The clerk's load on the township router: put there, started, read back, stopped.

loadgen.py runs where the router has python3 (the lab's images all do); loadgen.sh, curl and
dig otherwise. Both append one JSON line per attempt to `log` and stop at `log`.stop.
"""

from __future__ import annotations

import json
import random
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from network.dr import loadgen
from network.dr.plan import DrillPlan

HERE = Path(__file__).parent
WEB_CERTIFICATE = "/etc/jinbao/tls/web.crt"  # the web tier's certificate (roles/web_proxy)
# the CA that issued it, when there is one (internal_ca): Python's ssl takes a CA-issued leaf as
# a trust anchor only with its issuer beside it
WEB_CA_CERTIFICATE = "/etc/jinbao/tls/jinbao-ca.crt"
TIMEOUT_S = 10.0  # one attempt; a write that takes longer counts as failed


class Nodes(Protocol):
    """What a drill needs of the lab's nodes (network.lab.control.NodeControl)."""

    def container(self, node: str) -> str: ...
    def exec(self, node: str, argv: list[str], user: str = "root") -> tuple[int, str, str]: ...
    def put(self, node: str, path: str, data: bytes, mode: int = 0o644) -> None: ...
    def running(self, node: str) -> bool: ...
    def kill(self, node: str) -> None: ...
    def start(self, node: str) -> None: ...


@dataclass(frozen=True)
class Load:
    plan: DrillPlan
    directory: str  # on the clerk
    prefix: str  # request ids
    writes: int
    seconds: float

    @property
    def log(self) -> str:
        return f"{self.directory}/attempts.jsonl"

    @property
    def stop_file(self) -> str:
        return f"{self.log}.stop"

    @property
    def cafile(self) -> str:
        return f"{self.directory}/web-ca.pem"

    @property
    def certfile(self) -> str:  # the clerk's client certificate (network/dr/identity.py)
        return f"{self.directory}/clerk.crt"

    @property
    def keyfile(self) -> str:
        return f"{self.directory}/clerk.key"


def trust(nodes: Nodes, plan: DrillPlan) -> bytes:
    """The web hosts' certificates (business and DR site) and the CA that issued them, which the
    clerk checks its writes against."""
    pems = []
    for host in plan.web_hosts:
        for path in (WEB_CERTIFICATE, WEB_CA_CERTIFICATE):
            code, out, _ = nodes.exec(host, ["cat", path]) if nodes.running(host) else (1, "", "")
            if code == 0 and "BEGIN CERTIFICATE" in out and out not in pems:
                pems.append(out)
    return "".join(pems).encode()


def prepare(nodes: Nodes, load: Load, identity: tuple[bytes, bytes]) -> list[str]:
    """Put the load and the clerk's (key, certificate) on the clerk; the command that runs it.
    Raises LookupError when it cannot run."""
    plan = load.plan
    nodes.exec(plan.clerk, ["mkdir", "-p", "-m", "0700", load.directory])
    nodes.put(plan.clerk, load.keyfile, identity[0], 0o600)
    nodes.put(plan.clerk, load.certfile, identity[1])
    certificates = trust(nodes, load.plan)
    if not certificates:
        raise LookupError(f"no web host of {', '.join(plan.web_hosts)} gives its certificate ({WEB_CERTIFICATE})")
    nodes.put(plan.clerk, load.cafile, certificates)
    if nodes.exec(plan.clerk, ["python3", "-c", "import http.client, ssl"])[0] == 0:
        nodes.put(plan.clerk, f"{load.directory}/loadgen.py", (HERE / "loadgen.py").read_bytes())
        return ["python3", f"{load.directory}/loadgen.py", json.dumps(_config(load))]
    if nodes.exec(plan.clerk, ["sh", "-c", "command -v curl && command -v dig"])[0] != 0:
        raise LookupError(f"{plan.clerk} has neither python3 nor curl and dig to send the writes with")
    return _shell(nodes, load)


def _config(load: Load) -> dict:
    plan = load.plan
    return {
        "name": plan.web_name,
        "servers": list(plan.name_servers),
        "source": plan.clerk_source,
        "cafile": load.cafile,
        "certfile": load.certfile,
        "keyfile": load.keyfile,
        "prefix": load.prefix,
        "first": random.randrange(10**8),  # a fresh block of resident IDs: none enrolled yet
        "township": plan.township,
        "writes": load.writes,
        "seconds": load.seconds,
        "timeout": TIMEOUT_S,
        "log": load.log,
        "stop": load.stop_file,
    }


def _shell(nodes: Nodes, load: Load) -> list[str]:
    plan, first = load.plan, random.randrange(10**8)
    ids = "".join(f"{load.prefix}{n:05d} {loadgen.resident_id(first + n)}\n" for n in range(1, load.writes + 1))
    nodes.put(plan.clerk, f"{load.directory}/ids", ids.encode())
    nodes.put(plan.clerk, f"{load.directory}/loadgen.sh", (HERE / "loadgen.sh").read_bytes(), 0o755)
    interval = f"{load.seconds / max(load.writes, 1):.3f}"
    args = [plan.web_name, plan.clerk_source, load.cafile, load.certfile, load.keyfile, f"{load.directory}/ids"]
    args += [plan.township]
    args += [str(int(load.seconds)), interval, str(int(TIMEOUT_S)), load.log, *plan.name_servers]
    return ["sh", "-c", f"{shlex.quote(load.directory)}/loadgen.sh {shlex.join(args)}"]


def read(nodes: Nodes, load: Load) -> str:
    code, out, _ = nodes.exec(load.plan.clerk, ["cat", load.log])
    return out if code == 0 else ""


def stop(nodes: Nodes, load: Load) -> None:
    nodes.exec(load.plan.clerk, ["touch", load.stop_file])
