"""The lab itself: made as the model says, idempotent, isolated, and managed out of band."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from network.lab import engine, nodes, objects

ROOT = Path(__file__).resolve().parents[2]


def test_lab_up_again_changes_nothing(lab):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "jinbao"), "lab", "up", str(lab.env), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["changed"] is False, report


def _not_ok(run: dict) -> list[str]:
    """Each task result of a json-callback run that failed, was unreachable or changed."""
    found = []
    for play in run.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("failed") or result.get("unreachable") or result.get("changed"):
                    why = result.get("msg") or result.get("stderr") or ""
                    found.append(f"{host}: {task['task']['name']}: {str(why)[:300]}")
    return found


def test_second_converge_changes_nothing(lab):
    done = lab.ansible("playbooks/site.yml", env_extra={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    try:
        run = json.loads(done.stdout[done.stdout.index("{") :])
    except ValueError:
        run = {}
    assert done.returncode == 0, "\n".join(_not_ok(run)) or done.stdout[-3000:] + done.stderr[-2000:]
    stats = run["stats"]
    routers = {n.name for n in lab.routers()}
    assert routers <= set(stats), f"not converged: {sorted(routers - set(stats))}"
    changed = {host: s["changed"] for host, s in stats.items() if s["changed"] or s["failures"] or s["unreachable"]}
    assert not changed, f"a second converge changed or failed: {changed}\n" + "\n".join(_not_ok(run))


def test_nodes_run_systemd_unprivileged(lab):
    client = engine.connect()
    assert client is not None
    for name in lab.topology.nodes:
        attrs = client.containers.get(objects.container_name(lab.topology, name)).attrs
        assert attrs["HostConfig"]["Privileged"] is False, name
        assert sorted(attrs["HostConfig"]["CapAdd"]) == sorted(nodes.CAPS), name
    for node in lab.topology.nodes.values():
        host = lab.host(node.name)
        assert host.process.get(pid=1).comm == "systemd", node.name
        state = host.run("systemctl is-system-running").stdout.strip()
        assert state == "running", f"{node.name}: systemd {state}: {host.run('systemctl --failed --no-legend').stdout}"


def test_this_machine_has_no_address_on_any_lab_link(lab):
    """Only the lab's routers route between links: the bridges here carry frames, no addresses."""
    client = engine.connect()
    bridges = []
    for key, net in lab.topology.networks.items():
        attrs = client.networks.get(objects.network_name(lab.topology, key)).attrs
        assert attrs["Internal"] is True, key
        if net.kind != "management":
            bridges.append(attrs["Options"]["com.docker.network.bridge.name"])
    assert bridges
    for bridge in bridges:
        shown = json.loads(
            subprocess.run(
                ["ip", "-j", "-4", "addr", "show", "dev", bridge], capture_output=True, text=True, check=True
            ).stdout
        )
        assert not [a for entry in shown for a in entry.get("addr_info", [])], f"{bridge} has an IPv4 address"


def test_sshd_listens_on_the_management_address_only(lab):
    for router in lab.routers():
        host = lab.host(router.name)
        listening = {s for s in host.socket.get_listening_sockets() if s.startswith("tcp://") and s.endswith(":22")}
        assert listening == {f"tcp://{router.management}:22"}, f"{router.name}: {sorted(listening)}"
        config = host.run("sshd -T").stdout.splitlines()  # sshd's effective settings, one per line
        listen = {line for line in config if line.startswith("listenaddress ")}
        assert listen == {f"listenaddress {router.management}:22"}, f"{router.name}: {sorted(listen)}"
        for setting in ("permitrootlogin no", "passwordauthentication no"):
            assert setting in config, f"{router.name}: sshd -T lacks '{setting}'"


def test_each_node_has_exactly_the_links_the_model_gives(lab):
    """Its cables, and on a zone firewall one bridge per guarded zone holding the two ports."""
    for node in lab.topology.nodes.values():
        links = json.loads(lab.host(node.name).check_output("ip -j -d link show"))
        ether = [link for link in links if link.get("link_type") == "ether"]
        bridges = {link["ifname"] for link in ether if link.get("linkinfo", {}).get("info_kind") == "bridge"}
        assert {link["ifname"] for link in ether} - bridges == {a.ifname for a in node.attachments}, node.name
        assert bridges == {f"br-{zone}" for zone, _, _ in node.bridges}, node.name
        for zone, outside, inside in node.bridges:
            ports = {link["ifname"] for link in ether if link.get("master") == f"br-{zone}"}
            assert ports == {outside, inside}, (node.name, zone)


def test_management_interfaces_carry_the_management_address_only(lab):
    """After Docker restarts a node its interfaces come back in another order; a link address
    FRR put on the interface that then had the link's name must not stay on the management leg."""
    wrong = {}
    for node in lab.topology.nodes.values():
        ifname = next(a.ifname for a in node.attachments if a.network == "mgmt")
        shown = json.loads(lab.host(node.name).check_output(f"ip -j -4 addr show dev {ifname}"))
        found = sorted(a["local"] for entry in shown for a in entry.get("addr_info", []))
        if found != [node.management]:
            wrong[node.name] = found
    assert wrong == {}
