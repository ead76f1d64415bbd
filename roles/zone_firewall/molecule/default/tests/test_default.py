"""zone_firewall: bridges exactly as configured, the layer's ruleset loaded with a forward
policy of drop, and traffic across a bridge filtered by the permits of zones.yml."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from network import zones
from network.planned import planned

ROOT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]).parents[1]
LAB = ROOT / "inventories" / "lab"


def _ports(host, bridge: str) -> set[str]:
    return {p["ifname"] for p in json.loads(host.check_output(f"ip -j link show master {bridge}"))}


def test_each_guarded_zone_is_one_bridge_of_its_two_ports(host):
    assert _ports(host, "br-core-db") == {"o-core-db", "i-core-db"}
    assert _ports(host, "br-ops") == {"o-ops", "i-ops"}
    assert host.service("jinbao-bridges").is_enabled


def test_each_bridge_tracks_connections_in_a_conntrack_zone_of_its_own(host):
    rules = host.check_output("nft list chain inet jinbao_ctzones prerouting")
    assert 'iifname "br-core-db" ct zone set 1' in rules and 'iifname "br-ops" ct zone set 2' in rules


def test_a_stray_port_is_released_and_the_ports_come_back_after_a_reset(host):
    host.run_test("ip link add stray type veth peer name stray-peer")
    try:
        host.run_test("ip link set stray master br-ops && ip link set i-core-db nomaster")
        host.run_test("systemctl reload jinbao-bridges")
        assert _ports(host, "br-ops") == {"o-ops", "i-ops"}
        assert _ports(host, "br-core-db") == {"o-core-db", "i-core-db"}
    finally:
        host.run("ip link del stray")


def test_nothing_is_bridged_without_the_zones_ruleset(host):
    """As after a reboot whose nftables.service failed: the bridge is not made, the service
    fails and says why; once the ruleset is back, the bridge is."""
    host.run_test("ip link del dev br-ops && nft delete table inet jinbao_zones")
    try:
        assert host.run("systemctl restart jinbao-bridges").rc != 0
        assert host.run("ip link show dev br-ops").rc != 0, "br-ops was bridged without the ruleset"
        said = host.check_output("journalctl -u jinbao-bridges -n 20 --no-pager -o cat")
        assert "table inet jinbao_zones is not loaded: nothing bridged" in said
    finally:
        host.run_test("nft -f /etc/nftables.d/50-jinbao-zones.nft")
        host.run_test("systemctl restart jinbao-bridges")
    assert _ports(host, "br-ops") == {"o-ops", "i-ops"}


def test_the_ruleset_is_the_layers_compiled_permits_and_drops_the_rest(host):
    policy = zones.load(LAB)
    network, allocations = planned(LAB)
    expected = [r.comment for r in zones.compile_rules(policy, network, allocations, "zj-dc", "inner")]
    items = json.loads(host.check_output("nft -j list table inet jinbao_zones"))["nftables"]
    chain = next(i["chain"] for i in items if "chain" in i)
    assert (chain["hook"], chain["policy"]) == ("forward", "drop")
    rules = [i["rule"] for i in items if "rule" in i]
    permits = [r["comment"] for r in rules if "comment" in r and any("accept" in e for e in r["expr"])]
    assert permits == expected and len(expected) >= 10


def test_the_firewall_routes_nothing_itself(host):
    assert host.sysctl("net.ipv4.ip_forward") == 0


def _connect(host, port: int) -> str:
    code = (
        "import socket\n"
        "s = socket.socket(); s.settimeout(1.5)\n"
        "try:\n"
        f"    s.connect(('10.5.0.10', {port})); print('open')\n"
        "except ConnectionRefusedError: print('open')\n"
        "except OSError: print('blocked')\n"
    )
    return host.check_output(f'ip netns exec ops python3 -c "{code}"')


@pytest.mark.parametrize(
    ("port", "verdict"),
    [(22, "open"), (5432, "open"), (7001, "blocked"), (3389, "blocked")],
    ids=["F2-ssh-from-the-bastion", "F18-maintenance-from-the-bastion", "app-api-is-not-the-dbs", "undeclared"],
)
def test_traffic_across_the_bridge_follows_zones_yml(host, port, verdict):
    assert _connect(host, port) == verdict
