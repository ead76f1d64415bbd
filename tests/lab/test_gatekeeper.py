"""The gatekeeper of zj-dc: a leg in the DMZ and one inside on the addresses the model derives,
no forwarding, declarations ferried inward as files with content checks, and no packet
crossing it in either direction."""

from __future__ import annotations

import ipaddress
import json
import time

import pytest

from network import zones

DC = "zj-dc"
SPOOL = "/var/spool/jinbao/declarations"
DECLARATION = "<declaration><employer>330100124</employer><month>2026-11</month><staff>7</staff></declaration>"


@pytest.fixture(scope="module")
def gk(lab):
    policy = zones.load(lab.env)
    model = zones.gatekeepers(policy, lab.network, lab.allocations)[DC]
    node = next(n for n in lab.topology.nodes.values() if n.kind == "gatekeeper" and n.site == DC)
    return model, node, lab.host(node.name)


def _ends(lab, model):
    (ferry,) = model.ferries
    return lab.host(ferry.sources[0].host), lab.host(ferry.destinations[0].host), ferry


def _wait(predicate, what: str, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what} after {seconds} s"
        time.sleep(1)


def _log(host) -> list[dict]:
    return [json.loads(x) for x in host.file("/var/log/jinbao/ferry.jsonl").content_string.splitlines() if x]


def test_the_legs_are_the_models_and_the_gatekeeper_forwards_nothing(gk):
    model, node, host = gk
    shown = {i["ifname"]: i for i in json.loads(host.check_output("ip -j -4 addr"))}
    assert {zone for zone, _, _ in node.legs} == set(model.legs) == {"dmz", "internal"}
    for zone, ifname, address in node.legs:
        assert address == model.legs[zone]
        assert [f"{a['local']}/{a['prefixlen']}" for a in shown[ifname]["addr_info"]] == [address]
    assert host.sysctl("net.ipv4.ip_forward") == 0
    # through a leg it reaches its on-link neighbours only: no gateway, no other subnet
    routes = json.loads(host.check_output("ip -j -4 route"))
    via_legs = {(r["dst"], r.get("gateway")) for r in routes if r["dev"] in {ifname for _, ifname, _ in node.legs}}
    assert via_legs == {(str(ipaddress.ip_interface(leg).network), None) for leg in model.legs.values()}
    chain = next(
        i["chain"]
        for i in json.loads(host.check_output("nft -j list chain inet jinbao_gatekeeper forward"))["nftables"]
        if "chain" in i
    )
    assert chain["policy"] == "drop"


def test_a_declaration_taken_by_the_site_arrives_inside_as_the_same_file(lab, gk, declaration_site):
    model, _, host = gk
    dmz, inside, ferry = _ends(lab, model)
    status, body = declaration_site.request("POST", "/declarations", DECLARATION)
    assert status == 201, body
    name = json.loads(body)["id"]
    _wait(lambda: inside.file(f"{SPOOL}/{name}").exists, f"{name} has not reached {ferry.destinations[0].host}")
    assert inside.file(f"{SPOOL}/{name}").content_string == DECLARATION
    _wait(lambda: not dmz.file(f"{SPOOL}/{name}").exists, f"{name} still waits in the DMZ spool")
    entry = next(e for e in _log(host) if e.get("name") == name)
    assert (entry["verdict"], entry["flow"], entry["source"]) == ("delivered", ferry.flow, ferry.sources[0].host)


def test_a_file_the_site_would_never_take_is_quarantined_not_ferried(lab, gk):
    """As if the DMZ host were taken over: a hostile file dropped straight into its spool."""
    model, _, host = gk
    dmz, inside, _ = _ends(lab, model)
    name = f"xxe-{time.strftime('%H%M%S')}.xml"
    hostile = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><d>&x;</d>'
    dmz.run_test(f"cat > {SPOOL}/.{name} <<'EOF'\n{hostile}\nEOF\nmv {SPOOL}/.{name} {SPOOL}/{name}")
    _wait(lambda: not dmz.file(f"{SPOOL}/{name}").exists, f"{name} still waits in the DMZ spool")
    assert not inside.file(f"{SPOOL}/{name}").exists
    entry = next(e for e in _log(host) if e.get("name") == name)
    assert entry["verdict"] == "rejected" and "DOCTYPE" in entry["reason"]
    assert host.file(f"/var/lib/jinbao-ferry/quarantine/declarations/{name}").exists


def _count(target, match: str) -> None:
    target.run_test(
        "nft add table inet jbprobe && "
        "nft add chain inet jbprobe pre '{ type filter hook prerouting priority -300; }' && "
        f"nft add rule inet jbprobe pre {match} counter"
    )


def _packets(target) -> int:
    items = json.loads(target.check_output("nft -j list table inet jbprobe"))["nftables"]
    return sum(e["counter"]["packets"] for i in items if "rule" in i for e in i["rule"]["expr"] if "counter" in e)


PROBE = (
    "import socket, sys\n"
    "for port in (22, 443, 5432, 8443):\n"
    "    s = socket.socket(); s.settimeout(1)\n"
    "    try: s.connect((sys.argv[1], port))\n"
    "    except OSError: pass\n"
    "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "for port in (123, 514): u.sendto(b'x', (sys.argv[1], port))\n"
)


@pytest.mark.parametrize("direction", ["inward", "outward"])
def test_no_packet_crosses_the_gatekeeper(lab, gk, direction):
    """A host on one side routes the other side's subnet via the gatekeeper's leg and tries
    TCP and UDP services there: the packets reach the gatekeeper (counted in its prerouting,
    or the test would prove nothing) and none reaches the far host."""
    model, _, host = gk
    dmz, inside, ferry = _ends(lab, model)
    src_host, dst_host = (dmz, inside) if direction == "inward" else (inside, dmz)
    src = (ferry.sources if direction == "inward" else ferry.destinations)[0].address
    dst = (ferry.destinations if direction == "inward" else ferry.sources)[0].address
    far_zone = ferry.to_zone if direction == "inward" else ferry.source_zone
    near_zone = ferry.source_zone if direction == "inward" else ferry.to_zone
    subnet = lab.allocations.zones[f"{DC}/{far_zone}"]
    _count(host, f"ip saddr {src} ip daddr {dst}")
    _count(dst_host, f"ip saddr {src}")
    src_host.run_test(f"ip route replace {subnet} via {model.leg_towards(near_zone)} dev eth1")
    try:
        src_host.run_test(f'python3 -c "{PROBE}" {dst}')
        time.sleep(1)
        arrived, crossed = _packets(host), _packets(dst_host)
    finally:
        src_host.run(f"ip route del {subnet} via {model.leg_towards(near_zone)}")
        host.run("nft delete table inet jbprobe")
        dst_host.run("nft delete table inet jbprobe")
    assert arrived >= 6, f"the probes did not reach the gatekeeper ({arrived} packets): nothing proved"
    assert crossed == 0, f"{crossed} packets from {src} reached {dst} through the gatekeeper"


def test_an_end_not_ready_stops_the_gatekeeper_before_any_end_is_touched(lab, gk):
    """The DMZ end's spool is missing (its producer, the WAF, not converged yet) and the inside
    end is new (no ferry key yet). The inside end comes first in the run; it must not be
    configured half-way before the DMZ end is found wanting."""
    model, _, _ = gk
    dmz, inside, ferry = _ends(lab, model)
    keys = "/var/lib/jinbao-ferry/.ssh/authorized_keys"
    assert model.ends()[0]["host"] == ferry.destinations[0].host  # the order this test is about
    before = inside.file(keys).content_string
    inside.run_test(f"rm {keys}")
    dmz.run_test(f"mv {SPOOL} {SPOOL}.aside")
    try:
        refused = lab.ansible("playbooks/zones.yml", "--limit", "gatekeepers")
        said = refused.stdout + refused.stderr
        assert refused.returncode != 0, said[-3000:]
        assert f"{ferry.sources[0].host}: the {ferry.name} spool {SPOOL} is missing" in said
        assert not inside.file(keys).exists, "the inside end was configured before the run stopped"
    finally:
        dmz.run(f"mv {SPOOL}.aside {SPOOL}")
        converged = lab.ansible("playbooks/zones.yml", "--limit", "gatekeepers")
    assert converged.returncode == 0, converged.stdout[-3000:]
    assert inside.file(keys).content_string == before
