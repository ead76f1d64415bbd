"""The lab's Docker networks: one per link, LAN and zone (internal bridges with no address on
this machine, so the machine never routes between them), plus the management network."""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess

import docker
from docker.types import IPAMConfig, IPAMPool

from network.errors import LabError
from network.lab.nodes import release
from network.lab.objects import LABEL, Report, network_name, ours
from network.lab.topology import PLUMBING, Topology

LINK_BRIDGES = "jb+"  # iptables wildcard of the link bridges' names


def _bridge(name: str, management: bool) -> str:
    return ("jm" if management else "jb") + hashlib.sha256(name.encode()).hexdigest()[:10]


def used_subnets(client: docker.DockerClient) -> list[ipaddress.IPv4Network]:
    used = []
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet") and ":" not in cfg["Subnet"]:
                used.append(ipaddress.ip_network(cfg["Subnet"]))
    return used


def plumbing_subnet(used: list[ipaddress.IPv4Network], members: int) -> ipaddress.IPv4Network:
    prefix = 29
    while 2 ** (32 - prefix) - 3 < members:  # network, broadcast and Docker's gateway
        prefix -= 1
    for candidate in ipaddress.ip_network(PLUMBING).subnets(new_prefix=prefix):
        if not any(candidate.overlaps(u) for u in used):
            used.append(candidate)
            return candidate
    raise LabError(f"no free /{prefix} left in {PLUMBING} for another lab network")


def create_network(client: docker.DockerClient, topo: Topology, key: str, used) -> None:
    net = topo.networks[key]
    name = network_name(topo, key)
    labels = {LABEL: topo.environment, "jinbao.network": key, "jinbao.subnet": net.subnet}
    if net.kind == "management":
        if any(ipaddress.ip_network(net.subnet).overlaps(u) for u in used):
            raise LabError(f"the management network {net.subnet} overlaps a Docker network of this machine")
        pool = IPAMPool(subnet=net.subnet, gateway=topo.management_gateway)
        options = {"com.docker.network.bridge.name": _bridge(name, True)}
    else:
        pool = IPAMPool(subnet=str(plumbing_subnet(used, len(topo.members(key)))))
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


def iptables(add: bool) -> None:
    """Docker filters bridged frames too (br_netfilter); let the links carry the model's
    addresses, which are not the bridges' Docker subnets. Frames only: nothing is routed."""
    rule = ["DOCKER-USER", "-m", "physdev", "--physdev-is-bridged", "-i", LINK_BRIDGES, "-j", "ACCEPT"]
    present = subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode == 0
    if add and not present:
        subprocess.run(["iptables", "-I", *rule], check=True, capture_output=True)
    elif not add and present:
        subprocess.run(["iptables", "-D", *rule], check=True, capture_output=True)


def remove_stale(topo: Topology, containers: dict, networks: dict, report: Report) -> None:
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
            release(topo, container, leaving)
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


def create_missing(client, topo: Topology, report: Report) -> dict:
    """Create the model's networks that are missing; return all of them by key."""
    _, networks = ours(client, topo.environment)
    used = used_subnets(client)
    for key in sorted(topo.networks, key=lambda k: k != "mgmt"):
        if key not in networks:
            create_network(client, topo, key, used)
            report.created.append(f"network {key}")
    iptables(add=True)
    return ours(client, topo.environment)[1]
