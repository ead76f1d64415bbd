"""Make Docker match a lab Topology: ``up`` reconciles, ``down`` removes, ``status`` compares.

Everything the lab makes carries the label ``jinbao.lab=<environment>``, so ``down``
removes exactly that and ``up`` on a running lab changes nothing. Containers run systemd
as PID 1 with NET_ADMIN, NET_RAW and SYS_ADMIN (never --privileged); links are internal
bridges without an address on this machine, so the machine itself never routes between
them: the lab's routers do.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool

from network.envstate import ssh_dir, state_dir
from network.errors import LabError, Problem
from network.lab import engine, images
from network.lab.topology import PLUMBING, Node, Topology, sysctls

LABEL = "jinbao.lab"
CAPS = ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"]
LINK_BRIDGES = "jb+"  # iptables wildcard of the link bridges' names
WIRE = (Path(__file__).resolve().parent / "wire.py").read_text()


def container_name(topo: Topology, node: str) -> str:
    return f"jinbao-{topo.environment}-{node}"


def network_name(topo: Topology, net: str) -> str:
    return f"jinbao-{topo.environment}-" + net.replace(":", "-").replace("/", "-")


def _bridge(name: str, management: bool) -> str:
    return ("jm" if management else "jb") + hashlib.sha256(name.encode()).hexdigest()[:10]


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    wired: dict[str, list[str]] = field(default_factory=dict)
    images: list[images.Built] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.removed or self.wired or any(b.seconds for b in self.images))

    def as_dict(self) -> dict:
        return {
            "changed": self.changed,
            "created": self.created,
            "removed": self.removed,
            "wired": self.wired,
            "images": [{"name": b.name, "tag": b.tag, "built_seconds": round(b.seconds, 1)} for b in self.images],
            "seconds": round(self.seconds, 1),
        }


def _say(message: str) -> None:
    print(f"lab: {message}", flush=True)


def _ours(client: docker.DockerClient, env: str):
    label = f"{LABEL}={env}"
    containers = {c.labels.get("jinbao.node"): c for c in client.containers.list(all=True, filters={"label": label})}
    networks = {n.attrs["Labels"].get("jinbao.network"): n for n in client.networks.list(filters={"label": label})}
    return containers, networks


# --- networks -----------------------------------------------------------------------
def _used_subnets(client: docker.DockerClient) -> list[ipaddress.IPv4Network]:
    used = []
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
                used.append(ipaddress.ip_network(cfg["Subnet"]))
    return used


def _plumbing_subnet(used: list[ipaddress.IPv4Network], members: int) -> ipaddress.IPv4Network:
    prefix = 29
    while 2 ** (32 - prefix) - 3 < members:  # network, broadcast and Docker's gateway
        prefix -= 1
    for candidate in ipaddress.ip_network(PLUMBING).subnets(new_prefix=prefix):
        if not any(candidate.overlaps(u) for u in used):
            used.append(candidate)
            return candidate
    raise LabError(f"no free /{prefix} left in {PLUMBING} for another lab network")


def _create_network(client: docker.DockerClient, topo: Topology, key: str, used) -> None:
    net = topo.networks[key]
    name = network_name(topo, key)
    labels = {LABEL: topo.environment, "jinbao.network": key, "jinbao.subnet": net.subnet}
    if net.kind == "management":
        if any(ipaddress.ip_network(net.subnet).overlaps(u) for u in used):
            raise LabError(f"the management network {net.subnet} overlaps a Docker network of this machine")
        pool = IPAMPool(subnet=net.subnet, gateway=topo.management_gateway)
        options = {"com.docker.network.bridge.name": _bridge(name, True)}
    else:
        pool = IPAMPool(subnet=str(_plumbing_subnet(used, len(topo.members(key)))))
        options = {
            "com.docker.network.bridge.name": _bridge(name, False),
            "com.docker.network.bridge.inhibit_ipv4": "true",
        }
    client.networks.create(
        name,
        driver="bridge",
        internal=True,
        ipam=IPAMConfig(pool_configs=[pool]),
        options=options,
        labels=labels,
        check_duplicate=True,
    )


def _iptables(add: bool) -> None:
    """Docker filters bridged frames too (br_netfilter); let the links carry the model's
    addresses, which are not the bridges' Docker subnets. Frames only: nothing is routed."""
    rule = ["DOCKER-USER", "-m", "physdev", "--physdev-is-bridged", "-i", LINK_BRIDGES, "-j", "ACCEPT"]
    present = subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode == 0
    if add and not present:
        subprocess.run(["iptables", "-I", *rule], check=True, capture_output=True)
    elif not add and present:
        subprocess.run(["iptables", "-D", *rule], check=True, capture_output=True)


# --- containers ---------------------------------------------------------------------
# the internet probe stands for the outside world: none of the DC's management plane runs there
NOT_ON = {"probe": ("snmpd.service",)}
IMAGE_OF = {"firewall": "server", "gatekeeper": "server", "probe": "server"}  # lab stand-ins: servers with nftables


def _node_labels(topo: Topology, node: Node, image: str) -> dict[str, str]:
    return {
        LABEL: topo.environment,
        "jinbao.node": node.name,
        "jinbao.kind": node.kind,
        "jinbao.digest": topo.digest(node),
        "jinbao.image": image,
    }


def _create_container(client: docker.DockerClient, topo: Topology, node: Node, image: str) -> None:
    api = client.api
    mgmt = network_name(topo, "mgmt")
    host_config = api.create_host_config(
        cap_add=CAPS,
        cgroupns="host",
        binds=["/sys/fs/cgroup:/sys/fs/cgroup:rw"],
        tmpfs={"/run": "rw,nosuid,nodev,mode=755", "/run/lock": "rw,nosuid,nodev,noexec"},
        sysctls=sysctls(node),
        network_mode=mgmt,
        security_opt=["apparmor=unconfined"] if Path("/sys/kernel/security/apparmor").exists() else None,
    )
    networking = api.create_networking_config({mgmt: api.create_endpoint_config(ipv4_address=node.management)})
    created = api.create_container(
        image,
        name=container_name(topo, node.name),
        hostname=node.name,
        labels=_node_labels(topo, node, image),
        host_config=host_config,
        networking_config=networking,
        detach=True,
        stop_signal="SIGRTMIN+3",
    )
    api.start(created["Id"])


def _attach(client: docker.DockerClient, topo: Topology, node: Node, networks: dict, report: Report) -> None:
    container = client.containers.get(container_name(topo, node.name))
    have = set(container.attrs["NetworkSettings"]["Networks"])
    wanted = {network_name(topo, a.network) for a in node.attachments}
    for attachment in sorted(node.attachments, key=lambda a: (len(a.ifname), a.ifname)):
        name = network_name(topo, attachment.network)
        if name not in have:
            networks[attachment.network].connect(container)
            report.created.append(f"{node.name} {attachment.ifname} → {attachment.network}")
    leaving = sorted(have - wanted)
    if leaving:
        _release(topo, container, leaving)
    for name in leaving:
        client.networks.get(name).disconnect(container)
        report.removed.append(f"{node.name} ✕ {name}")


def _run_wire(node: str, container, spec: dict) -> dict:
    code, output = container.exec_run(["python3", "-c", WIRE, json.dumps(spec)], demux=True)
    stdout, stderr = (part.decode(errors="replace") if part else "" for part in output)
    if code:
        raise LabError(f"{node}: wiring failed: {(stderr or stdout).strip()[-800:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _release(topo: Topology, container, leaving: list[str]) -> None:
    """Before Docker takes a running node off networks: Docker removes a link by the name it
    gave it, which wire.py may have given to another network's link since (it names links by
    MAC). wire.release takes the departing links itself and moves the others off Docker's
    names; the next wiring names them back."""
    container.reload()
    settings = container.attrs["NetworkSettings"]["Networks"]
    drop = [settings[name]["MacAddress"] for name in leaving if name in settings]
    if container.status != "running" or not drop:
        return  # a stopped node has no links: Docker only forgets the endpoint
    keep = [settings[network_name(topo, "mgmt")]["MacAddress"]]
    _run_wire(container.labels.get("jinbao.node", container.name), container, {"drop": drop, "keep": keep})


def _wire(client: docker.DockerClient, topo: Topology, node: Node, user: str, key: str) -> dict:
    container = client.containers.get(container_name(topo, node.name))
    settings = container.attrs["NetworkSettings"]["Networks"]
    links = {settings[network_name(topo, a.network)]["MacAddress"]: a.ifname for a in node.attachments}
    spec = {
        "links": links,
        "management": next(a.ifname for a in node.attachments if a.network == "mgmt"),
        "management_address": node.management.split("/")[0],
        "plumbing": PLUMBING,
        "addresses": {a.ifname: a.address for a in node.attachments if a.address},
        "gateway": node.gateway,
        "disable": list(NOT_ON.get(node.kind, ())),
        "user": user,
        "key": key,
    }
    return _run_wire(node.name, container, spec)


def _ssh_key(env: Path) -> str:
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


def _wait_ssh(topo: Topology, timeout: float = 60.0) -> None:
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


def up(env: Path, topo: Topology, settings: dict) -> Report:
    """Make Docker match `topo`: images, networks, containers, then wiring and access."""
    started = time.perf_counter()
    report = Report()
    client = engine.client()
    report.images = images.ensure(client)
    report.created.extend(f"host {change}" for change in engine.host_limits())
    tags = images.tags()
    user, key = automation_user(env, settings), _ssh_key(env)
    containers, networks = _ours(client, topo.environment)
    # what the model no longer has goes first, so that its subnets and names are free
    containers = _remove_stale_containers(client, topo, tags, containers, report)
    _remove_stale_networks(topo, containers, networks, report)
    networks = _create_networks(client, topo, report)
    _create_containers(client, topo, tags, containers, networks, report)
    _grant_access(env, client, topo, user, key, report)
    report.seconds = time.perf_counter() - started
    return report


def _remove_stale_containers(client, topo: Topology, tags: dict, containers: dict, report: Report) -> dict:
    """Remove containers the model no longer has or built otherwise; return those kept."""
    existing = {n.id for n in client.networks.list()}
    kept = {}
    for name, container in containers.items():
        node = topo.nodes.get(name)
        image = tags.get(IMAGE_OF.get(node.kind, node.kind)) if node else None
        attached = container.attrs["NetworkSettings"]["Networks"].values()
        if (
            node is None
            or container.labels.get("jinbao.digest") != topo.digest(node)
            or container.labels.get("jinbao.image") != image
            # a stopped container on a network removed meanwhile cannot start again
            or any(a.get("NetworkID") not in existing for a in attached)
        ):
            container.remove(force=True)
            report.removed.append(f"container {name}")
        else:
            kept[name] = container
    return kept


def _remove_stale_networks(topo: Topology, containers: dict, networks: dict, report: Report) -> None:
    """Remove networks the model no longer has (or with another subnet), the nodes' links first."""
    going = {
        key: net
        for key, net in networks.items()
        if key not in topo.networks or net.attrs["Labels"].get("jinbao.subnet") != topo.networks[key].subnet
    }
    names = {net.name for net in going.values()}
    for container in containers.values():
        leaving = sorted(names & set(container.attrs["NetworkSettings"]["Networks"]))
        if leaving:
            _release(topo, container, leaving)
    for key, net in going.items():
        # stopped containers are not among net.containers, yet would fail to start without the network
        for container in containers.values():
            if net.name in container.attrs["NetworkSettings"]["Networks"]:
                net.disconnect(container, force=True)
        net.reload()
        for container in net.containers:
            net.disconnect(container, force=True)
        net.remove()
        report.removed.append(f"network {key}")


def _create_networks(client, topo: Topology, report: Report) -> dict:
    """Create the model's networks that are missing; return all of them by key."""
    _, networks = _ours(client, topo.environment)
    used = _used_subnets(client)
    for key in sorted(topo.networks, key=lambda k: k != "mgmt"):
        if key not in networks:
            _create_network(client, topo, key, used)
            report.created.append(f"network {key}")
    _iptables(add=True)
    return _ours(client, topo.environment)[1]


def _create_containers(client, topo: Topology, tags: dict, containers: dict, networks: dict, report: Report) -> None:
    """Create or start every node's container and attach it to its networks."""
    for name, node in topo.nodes.items():
        container = containers.get(name)
        if container is None:
            _create_container(client, topo, node, tags[IMAGE_OF.get(node.kind, node.kind)])
            report.created.append(f"container {name}")
        elif container.status != "running":
            container.start()
            report.created.append(f"started {name}")
        _attach(client, topo, node, networks, report)


def _grant_access(env: Path, client, topo: Topology, user: str, key: str, report: Report) -> None:
    """Wire every node (links, addresses, automation account), record host keys, wait for sshd."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(
            zip(topo.nodes, pool.map(lambda n: _wire(client, topo, n, user, key), topo.nodes.values()), strict=True)
        )
    for name, result in results.items():
        if result["changes"]:
            report.wired[name] = result["changes"]
    known = "".join(f"{topo.nodes[n].management} {r['hostkey']}\n" for n, r in sorted(results.items()))
    known_hosts = ssh_dir(env) / "known_hosts"
    if not known_hosts.exists() or known_hosts.read_text() != known:
        known_hosts.write_text(known)
    _wait_ssh(topo)


def down(env: Path, environment: str) -> list[str]:
    removed = []
    client = engine.connect()
    if client is not None:
        containers, networks = _ours(client, environment)
        for name, container in containers.items():
            container.remove(force=True)
            removed.append(f"container {name}")
        for name, net in networks.items():
            with contextlib.suppress(NotFound):
                net.remove()
            removed.append(f"network {name}")
        if not any(
            n.attrs.get("Options", {}).get("com.docker.network.bridge.name", "").startswith("jb")
            for n in client.networks.list(filters={"label": LABEL})
        ):
            with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
                _iptables(add=False)
    if state_dir(env).exists():
        shutil.rmtree(state_dir(env))
        removed.append(f"{state_dir(env)}")
    return removed


@dataclass
class Status:
    running: list[str]
    stopped: list[str]
    missing: list[str]
    extra: list[str]
    networks_missing: list[str]

    @property
    def ok(self) -> bool:
        return not (self.stopped or self.missing or self.extra or self.networks_missing)

    def as_dict(self) -> dict:
        return {"ok": self.ok, **self.__dict__}


def status(topo: Topology) -> Status:
    client = engine.connect()
    if client is None:
        return Status([], [], sorted(topo.nodes), [], sorted(topo.networks))
    try:
        containers, networks = _ours(client, topo.environment)
    except APIError as exc:
        raise LabError(f"docker: {exc.explanation}") from None
    running = sorted(n for n, c in containers.items() if c.status == "running" and n in topo.nodes)
    stopped = sorted(n for n, c in containers.items() if c.status != "running" and n in topo.nodes)
    return Status(
        running,
        stopped,
        sorted(set(topo.nodes) - set(containers)),
        sorted(set(containers) - set(topo.nodes)),
        sorted(set(topo.networks) - set(networks)),
    )
