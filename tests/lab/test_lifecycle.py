"""lab up / down on a second, tiny environment: down removes exactly what up made.

It runs beside the main lab (its own name and management network) and checks that the
main lab is untouched by both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from network.lab import engine, objects, runtime

ROOT = Path(__file__).resolve().parents[2]
JINBAO = str(Path(sys.executable).parent / "jinbao")
KEEP = {"ministry", "zhejiang", "hangzhou"}


def _jinbao(*args: str) -> dict:
    done = subprocess.run([JINBAO, *args, "--json"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"jinbao {' '.join(args)}: {done.stdout[-1500:]} {done.stderr[-1500:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ours(client, name: str):
    label = {"label": f"{objects.LABEL}={name}"}
    return client.containers.list(all=True, filters=label), client.networks.list(filters=label)


def test_down_removes_exactly_what_up_made(lab, tmp_path):
    env = tmp_path / "lifecycle"
    env.mkdir()
    for item in ("group_vars", "jinbao.yml", ".vault-password"):
        source = lab.env / item
        target = env / item
        if source.is_dir():
            subprocess.run(["cp", "-r", str(source), str(target)], check=True)
        else:
            target.write_bytes(source.read_bytes())
    business = env / "group_vars" / "all" / "business.yml"  # the slice has no DC to run it
    business.write_text("\n".join(x for x in business.read_text().splitlines() if "jinbao_business_site" not in x))
    sites = yaml.safe_load((lab.env / "sites.yml").read_text())
    sites["sites"] = [s for s in sites["sites"] if s["id"] in KEEP]
    (env / "sites.yml").write_text(yaml.safe_dump(sites, allow_unicode=True, sort_keys=False))
    addressing = yaml.safe_load((lab.env / "addressing.yml").read_text())
    addressing["base"] = str((lab.env / addressing["base"]).resolve())
    addressing["management"] = {"supernet": "172.24.9.0/24"}  # beside the main lab's
    (env / "addressing.yml").write_text(yaml.safe_dump(addressing))

    client = engine.connect()
    before_main = _ours(client, lab.network.name)
    _jinbao("plan", str(env))
    try:
        report = _jinbao("lab", "up", str(env))
        assert report["changed"] is True
        containers, networks = _ours(client, "lifecycle")
        assert sorted(c.labels["jinbao.node"] for c in containers) == ["hangzhou-r1", "ministry-r1", "zhejiang-r1"]
        # mgmt, the two lines, three LANs
        assert len(networks) == 6, [n.name for n in networks]
        assert (env / ".lab" / "ssh" / "known_hosts").read_text().count("ssh-ed25519") == 3
        assert _jinbao("lab", "up", str(env))["changed"] is False

        # a stopped node whose network went away meanwhile (a lab left by another checkout)
        hangzhou = next(c for c in containers if c.labels["jinbao.node"] == "hangzhou-r1")
        hangzhou.stop(timeout=5)
        lan = next(n for n in networks if n.attrs["Labels"].get("jinbao.network", "").startswith("lan:hangzhou"))
        lan.remove()
        report = _jinbao("lab", "up", str(env))
        assert "container hangzhou-r1" in report["removed"], report
        assert "network lan:hangzhou" in " ".join(report["created"]), report
        containers, networks = _ours(client, "lifecycle")
        assert all(c.status == "running" for c in containers), [(c.name, c.status) for c in containers]
        assert len(networks) == 6, [n.name for n in networks]
    finally:
        removed = _jinbao("lab", "down", str(env))["removed"]
    assert len(removed) == 3 + 6 + 1, removed  # containers, networks, the .lab directory
    assert _ours(client, "lifecycle") == ([], [])
    assert not (env / ".lab").exists()
    after_main = _ours(client, lab.network.name)
    assert [{c.id for c in part} for part in after_main] == [{c.id for c in part} for part in before_main]
    assert runtime.status(lab.topology).ok


def _links(host) -> dict[str, list[str]]:
    shown = json.loads(host.check_output("ip -j -4 addr show"))
    return {e["ifname"]: sorted(f"{a['local']}/{a['prefixlen']}" for a in e.get("addr_info", [])) for e in shown}


def _shown(host, command: str) -> dict | None:
    """vtysh's JSON, or None while the daemon does not run (starting, or not configured)."""
    result = host.run(f"vtysh -c '{command}'")
    return json.loads(result.stdout or "{}") if result.rc == 0 else None


def _adjacencies(host) -> tuple[int, int] | None:
    """(OSPF neighbours Full, BGP peers Established); None while a daemon that has them is down."""
    ospf, bgp = _shown(host, "show ip ospf neighbor json"), _shown(host, "show bgp ipv4 unicast summary json")
    if ospf is None:
        return None
    full = sum(1 for entries in ospf.get("neighbors", {}).values() for e in entries if e["state"].startswith("Full"))
    established = sum(1 for p in (bgp or {}).get("peers", {}).values() if p.get("state") == "Established")
    return full, established


def _converged(host, ospf: int, bgp: int) -> bool:
    return _adjacencies(host) == (ospf, bgp)


def test_a_node_docker_restarted_comes_back_as_the_model_says(lab):
    """Docker re-attaches networks in any order on a restart; lab up puts names and addresses right."""
    router = max(lab.routers(), key=lambda n: len(n.attachments))
    host = lab.host(router.name)
    before = _links(host)
    adjacencies = _adjacencies(host)
    assert adjacencies, f"{router.name}: ospfd is not running before the restart"
    ospf_count, bgp_count = adjacencies
    assert ospf_count or bgp_count

    client = engine.connect()
    client.containers.get(objects.container_name(lab.topology, router.name)).restart()
    report = _jinbao("lab", "up", str(lab.env))
    assert report["changed"] is True and router.name in report["wired"]
    lab._hosts.pop(router.name)  # a new sshd: a new connection
    host = lab.host(router.name)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not _converged(host, ospf_count, bgp_count):
        time.sleep(1)
    assert _links(host) == before
    assert _converged(host, ospf_count, bgp_count), f"{router.name} did not get its adjacencies back in 90 s"
    # and the network is whole again: every township reaches what it must
    while time.monotonic() < deadline + 60 and lab.unreachable():
        time.sleep(2)
    assert not lab.unreachable(), "the WAN did not recover within 150 s of the restart"
