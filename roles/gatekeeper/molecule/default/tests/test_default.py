"""gatekeeper: legs and nothing forwarded, the ends answer only their side's verbs, good
declarations cross as files and bad ones are quarantined, and no packet crosses."""

from __future__ import annotations

import json
import os
import time

import testinfra

SPOOL = "/var/spool/jinbao/declarations"
GOOD = "<declaration><employer>330100123</employer><month>2026-11</month><staff>42</staff></declaration>"
BAD = {
    "xxe.xml": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
    "broken.xml": "<declaration><staff>42</declaration>",
    "script.sh": "#!/bin/sh\nrm -rf /\n",
    "big.xml": None,  # 1 MiB of content inside a well-formed element: one byte over the limit and more
}


def _other(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _drop(end, name: str, text: str | None) -> None:
    """A file as the producer leaves it: written aside, then renamed into the spool."""
    if text is None:
        write = f"{{ printf '<d>'; head -c 1048576 /dev/zero | tr '\\0' x; printf '</d>'; }} > {SPOOL}/.{name}"
    else:
        write = f"cat > {SPOOL}/.{name} <<'EOF'\n{text}\nEOF"
    end.run_test(f"{write}\nmv {SPOOL}/.{name} {SPOOL}/{name}")


def _wait_gone(end, name: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while end.file(f"{SPOOL}/{name}").exists:
        assert time.monotonic() < deadline, f"{name} still waits in the DMZ spool after {seconds} s"
        time.sleep(1)


def _log(host) -> list[dict]:
    return [json.loads(line) for line in host.file("/var/log/jinbao/ferry.jsonl").content_string.splitlines()]


def test_the_legs_carry_the_models_addresses_and_nothing_is_forwarded(host):
    legs = {i["ifname"]: [a["local"] for a in i["addr_info"]] for i in json.loads(host.check_output("ip -j -4 addr"))}
    assert legs["g-dmz"] == ["10.5.4.254"] and legs["g-internal"] == ["10.5.1.254"]
    assert host.sysctl("net.ipv4.ip_forward") == 0
    chain = next(
        i["chain"]
        for i in json.loads(host.check_output("nft -j list chain inet jinbao_gatekeeper forward"))["nftables"]
        if "chain" in i
    )
    assert (chain["hook"], chain["policy"]) == ("forward", "drop")
    assert host.service("jinbao-ferry.timer").is_enabled and host.service("jinbao-ferry.timer").is_running


def test_a_declaration_crosses_as_a_file_one_way(host):
    decl, app = _other("zj-dc-decl1"), _other("zj-dc-app1")
    _drop(decl, "20261123-good.xml", GOOD)
    _wait_gone(decl, "20261123-good.xml")
    assert app.file(f"{SPOOL}/20261123-good.xml").content_string.strip() == GOOD
    entry = next(e for e in _log(host) if e.get("name") == "20261123-good.xml")
    assert (entry["verdict"], entry["flow"], entry["to"]) == ("delivered", "F14", ["zj-dc-app1"])


def test_bad_files_are_quarantined_and_never_reach_the_inside(host):
    decl, app = _other("zj-dc-decl1"), _other("zj-dc-app1")
    for name, text in BAD.items():
        _drop(decl, name, text)
    for name in BAD:
        _wait_gone(decl, name)
        assert not app.file(f"{SPOOL}/{name}").exists, name
    verdicts = {e["name"]: e for e in _log(host) if e.get("name") in BAD}
    assert {n: e["verdict"] for n, e in verdicts.items()} == dict.fromkeys(BAD, "rejected")
    assert "DOCTYPE" in verdicts["xxe.xml"]["reason"]
    assert "not well-formed" in verdicts["broken.xml"]["reason"]
    assert "name says none of application/xml" in verdicts["script.sh"]["reason"]
    assert "larger than 1048576" in verdicts["big.xml"]["reason"]
    why = json.loads(host.file("/var/lib/jinbao-ferry/quarantine/declarations/xxe.xml.why.json").content_string)
    assert why["flow"] == "F14"


def _as_ferry(host, leg: str, address: str, command: str):
    return host.run(
        f"runuser -u jinbao-ferry -- ssh -i /var/lib/jinbao-ferry/.ssh/id_ed25519 -b {leg} -o BatchMode=yes "
        f"-o UserKnownHostsFile=/etc/jinbao/ferry_known_hosts -o StrictHostKeyChecking=yes "
        f"jinbao-ferry@{address} {command}"
    )


def test_each_end_answers_only_its_sides_verbs(host):
    listed = _as_ferry(host, "10.5.4.254", "10.5.4.10", "list declarations")
    assert listed.rc == 0
    for leg, address, command in [
        ("10.5.4.254", "10.5.4.10", "put declarations x.xml"),  # nothing goes out to the DMZ
        ("10.5.1.254", "10.5.1.10", "list declarations"),  # nothing is read from the inside
        ("10.5.1.254", "10.5.1.10", "get declarations 20261123-good.xml"),
        ("10.5.4.254", "10.5.4.10", "id"),  # no shell
        ("10.5.4.254", "10.5.4.10", "get declarations ../../../etc/shadow"),
    ]:
        done = _as_ferry(host, leg, address, command)
        assert done.rc == 2 and "ferry-end:" in done.stderr, (command, done.rc, done.stderr)


def _counter(target, table: str, rule: str) -> None:
    target.run_test(
        f"nft add table inet {table} && "
        f"nft add chain inet {table} pre '{{ type filter hook prerouting priority -300; }}' && "
        f"nft add rule inet {table} pre {rule} counter"
    )


def _packets(target, table: str) -> int:
    items = json.loads(target.check_output(f"nft -j list table inet {table}"))["nftables"]
    return sum(e["counter"]["packets"] for i in items if "rule" in i for e in i["rule"]["expr"] if "counter" in e)


def test_no_packet_crosses_the_gatekeeper(host):
    decl, app = _other("zj-dc-decl1"), _other("zj-dc-app1")
    _counter(host, "jbprobe", "ip saddr 10.5.4.10 ip daddr 10.5.1.10")
    _counter(app, "jbprobe", "ip saddr 10.5.4.10")
    decl.run_test("ip route replace 10.5.1.0/24 via 10.5.4.254 dev eth1")
    try:
        probe = (
            "import socket\n"
            "for port in (22, 5432, 8443):\n"
            "    s = socket.socket(); s.settimeout(1)\n"
            "    try: s.connect(('10.5.1.10', port))\n"
            "    except OSError: pass\n"
            "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for port in (123, 514): u.sendto(b'x', ('10.5.1.10', port))\n"
        )
        decl.run_test(f'python3 -c "{probe}"')
        time.sleep(1)
        arrived, crossed = _packets(host, "jbprobe"), _packets(app, "jbprobe")
    finally:
        decl.run("ip route del 10.5.1.0/24 via 10.5.4.254")
        host.run("nft delete table inet jbprobe")
        app.run("nft delete table inet jbprobe")
    assert arrived >= 5, f"the probes did not reach the gatekeeper ({arrived} packets): the test proves nothing"
    assert crossed == 0, f"{crossed} packets from the DMZ reached the inside through the gatekeeper"
