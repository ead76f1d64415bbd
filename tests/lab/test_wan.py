"""The WAN in the lab: reachability, adjacencies and backup-line failover (docs/lab.md).

Expectations come from the model (sites, lines, allocations), not from the rendered
configs, so a template that renders the wrong neighbour or area fails here.
"""

from __future__ import annotations

import json
import time

import pytest

from network.ipam.conventions import link_addresses

PORT = 8479  # the test's own TCP listener; nothing else in the lab uses it
# Documented in docs/lab.md: the township's own line going down is seen at once (link
# down, new router LSA, SPF); the primary coming back waits for a new OSPF adjacency.
FAILOVER_SECONDS = 10
FAILBACK_SECONDS = 60


def test_every_township_reaches_its_dc_and_the_ministry_by_ping(lab):
    townships = lab.townships()
    assert any(any("loopback" in d for d, _ in lab.targets(t)) for t in townships), "no township has a DC to reach"
    assert all(any(d == "ministry LAN" for d, _ in lab.targets(t)) for t in townships)
    failures = lab.unreachable(count=3)
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def listeners(lab):
    """A TCP listener on every address a township must reach, for the length of this module."""
    started = []
    for address, router in lab.owners().items():
        lab.host(router.name).run(f"nohup timeout 300 nc -lk {address} {PORT} >/dev/null 2>&1 &")
        started.append((router.name, address))
    time.sleep(0.5)
    yield started
    for name, address in started:
        lab.host(name).run(f"pkill -f '^nc -lk {address} {PORT}'")


def test_every_township_reaches_its_dc_and_the_ministry_by_tcp(lab, listeners):
    assert listeners
    failures, checked = [], 0
    for township in lab.townships():
        source = lab.lan_address(township)
        for description, address in lab.targets(township):
            result = lab.host(township.name).run(f"nc -z -w 3 -s {source} {address} {PORT}")
            checked += 1
            if result.rc != 0:
                failures.append(f"{township.name} ({source}) → {description} {address}:{PORT} refused or timed out")
    assert checked and not failures, "\n".join(failures)


def _expected_adjacencies(lab):
    """Per router: OSPF neighbours {(router-id, ifname)} and BGP peers {address}, from the lines."""
    ospf = {n.name: set() for n in lab.routers()}
    bgp = {n.name: set() for n in lab.routers()}
    for key, net in lab.topology.networks.items():
        if net.kind != "line":
            continue
        ends = lab.topology.members(key)
        assert len(ends) == 2, f"{key} should join two routers, joins {[n.name for n, _ in ends]}"
        owner = key.split(":")[1]
        parent_ip, child_ip = (a.split("/")[0] for a in link_addresses(net.subnet))
        tiers = {lab.site(n).tier for n, _ in ends}
        for (node, attachment), (peer, _) in ((ends[0], ends[1]), (ends[1], ends[0])):
            if tiers == {"ministry", "province"}:
                bgp[node.name].add(parent_ip if peer.site != owner else child_ip)
            else:
                ospf[node.name].add((lab.loopback(peer), attachment.ifname))
    return ospf, bgp


def test_ospf_adjacencies_are_the_designed_ones(lab):
    expected, _ = _expected_adjacencies(lab)
    assert any(expected.values())
    problems = []
    for router in lab.routers():
        if not expected[router.name] and lab.site(router).tier == "ministry":
            continue  # the ministry speaks only BGP
        out = lab.host(router.name).check_output("vtysh -c 'show ip ospf neighbor json'")
        neighbours = json.loads(out).get("neighbors", {})
        actual = {
            (rid, entry["ifaceName"].split(":")[0])
            for rid, entries in neighbours.items()
            for entry in entries
            if entry["state"].startswith("Full")
        }
        if actual != expected[router.name]:
            problems.append(f"{router.name}: expected {sorted(expected[router.name])}, running {sorted(actual)}")
    assert not problems, "\n".join(problems)


def test_bgp_sessions_are_the_designed_ones(lab):
    _, expected = _expected_adjacencies(lab)
    assert any(expected.values())
    problems = []
    for router in lab.routers():
        out = lab.host(router.name).run("vtysh -c 'show bgp ipv4 unicast summary json'")
        peers = json.loads(out.stdout or "{}").get("peers", {}) if out.rc == 0 else {}
        established = {addr for addr, peer in peers.items() if peer.get("state") == "Established"}
        if established != expected[router.name]:
            problems.append(
                f"{router.name}: expected {sorted(expected[router.name])}, established {sorted(established)}"
            )
    assert not problems, "\n".join(problems)


def test_only_routers_with_bgp_run_bgpd(lab):
    _, expected = _expected_adjacencies(lab)
    for router in lab.routers():
        listening = lab.host(router.name).socket("tcp://0.0.0.0:179").is_listening
        assert listening == bool(expected[router.name]), f"{router.name}: bgpd listening={listening}"


def _backup_township(lab):
    for router in lab.routers():
        site = lab.site(router)
        if site.tier == "township" and any(u.backup for u in site.uplinks):
            return router
    pytest.fail("the lab has no township with a backup line (sites.yml should have one)")


def _line_ifnames(lab, router):
    """(primary ifname, backup ifname) of a township's uplinks."""
    site = lab.site(router)
    names = {}
    for uplink in site.uplinks:
        attachment = next(a for a in router.attachments if a.network == f"line:{site.id}:{uplink.key}")
        names[uplink.backup] = attachment.ifname
    return names[False], names[True]


def _wait_for(host, source, target, ifname, limit):
    """Seconds until traffic from source to target leaves by ifname and gets answers."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        route = host.run(f"ip -j route get {target} from {source}")
        dev = json.loads(route.stdout)[0].get("dev") if route.rc == 0 else None
        if dev == ifname and host.run(f"ping -c 1 -W 1 -I {source} {target}").rc == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def test_backup_line_takes_over_and_hands_back(lab):
    township = _backup_township(lab)
    primary, backup = _line_ifnames(lab, township)
    host = lab.host(township.name)
    source = lab.lan_address(township)
    targets = [a for d, a in lab.targets(township) if d.endswith("loopback") or d == "ministry LAN"]
    assert targets
    for target in targets:
        assert _wait_for(host, source, target, primary, 5) is not None, (
            f"{target} is not reached by {primary} at the start"
        )
    try:
        host.run_test(f"ip link set {primary} down")
        failover = [_wait_for(host, source, t, backup, FAILOVER_SECONDS) for t in targets]
        assert None not in failover, f"traffic did not move to {backup} within {FAILOVER_SECONDS} s: {failover}"
    finally:
        host.run(f"ip link set {primary} up")
    failback = [_wait_for(host, source, t, primary, FAILBACK_SECONDS) for t in targets]
    assert None not in failback, f"traffic did not return to {primary} within {FAILBACK_SECONDS} s: {failback}"
    print(f"\n{township.name}: failover {max(failover):.1f} s, failback {max(failback):.1f} s")
