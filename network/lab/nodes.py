"""The lab's nodes: containers running systemd as PID 1 with NET_ADMIN, NET_RAW and SYS_ADMIN
(never --privileged), attached to their networks and wired inside by wire.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import docker

from network.errors import LabError
from network.ipam.conventions import ip_of
from network.lab.objects import LABEL, Report, container_name, network_name
from network.lab.topology import PLUMBING, Node, Topology, sysctls

CAPS = ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"]

WIRE = (Path(__file__).resolve().parent / "wire.py").read_text()

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
        sysctls=topo.sysctls(node),
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
        release(topo, container, leaving)
    for name in leaving:
        client.networks.get(name).disconnect(container)
        report.removed.append(f"{node.name} ✕ {name}")


def _run_wire(node: str, container, spec: dict) -> dict:
    code, output = container.exec_run(["python3", "-c", WIRE, json.dumps(spec)], demux=True)
    stdout, stderr = (part.decode(errors="replace") if part else "" for part in output)
    if code:
        raise LabError(f"{node}: wiring failed: {(stderr or stdout).strip()[-800:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def release(topo: Topology, container, leaving: list[str]) -> None:
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


def wire(client: docker.DockerClient, topo: Topology, node: Node, user: str, key: str) -> dict:
    container = client.containers.get(container_name(topo, node.name))
    _kernel_settings(container, topo, node)
    settings = container.attrs["NetworkSettings"]["Networks"]
    links = {settings[network_name(topo, a.network)]["MacAddress"]: a.ifname for a in node.attachments}
    spec = {
        "links": links,
        "management": next(a.ifname for a in node.attachments if a.network == "mgmt"),
        "management_address": ip_of(node.management),
        "plumbing": PLUMBING,
        "addresses": {a.ifname: a.address for a in node.attachments if a.address},
        "gateway": node.gateway,
        "disable": list(NOT_ON.get(node.kind, ())),
        "user": user,
        "key": key,
    }
    return _run_wire(node.name, container, spec)


def _kernel_settings(container, topo: Topology, node: Node) -> None:
    """The node's kernel settings again, in order: Docker applies them at each start in no
    fixed order, and a change of forwarding resets accept_redirects (the kernel's router
    default), so the hardening is written after the kind's own. From the host, in the
    container's network namespace only: inside, /proc/sys is read-only."""
    own = sysctls(node)
    ordered = [*own.items(), *((k, v) for k, v in topo.sysctls(node).items() if k not in own)]
    done = subprocess.run(
        ["nsenter", "-t", str(container.attrs["State"]["Pid"]), "-n", "sysctl", "-q", "-w"]
        + [f"{k}={v}" for k, v in ordered],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise LabError(f"{node.name}: could not set its kernel settings: {done.stderr.strip()[-300:]}")


def remove_stale(client, topo: Topology, tags: dict, containers: dict, report: Report) -> dict:
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


def create_missing(client, topo: Topology, tags: dict, containers: dict, networks: dict, report: Report) -> None:
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
