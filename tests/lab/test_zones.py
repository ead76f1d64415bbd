"""The security zones in the lab, proved by probing: from one host of every (zone, role) of a
DC (the internet's is the probe outside the DMZ's edge firewall) and from a township router
of the WAN, every declared and undeclared service of every host of every other zone (inside
the lab's networks only). The observed matrix must equal the one zones.yml intends: no extra
open path, no blocked allowed flow; so role-scoped flows are proven per role (only the
middleware reaches the database, the web tier does not). The sources probe in parallel.
Adding a flow and re-converging opens exactly that flow; a held-back policy is refused
before any firewall is touched."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from network import zones
from network.audit.counters import stale

DC = "zj-dc"
# probed besides the declared services: ports nothing in zones.yml opens
UNDECLARED = {"rdp": ("tcp", 3389), "http-alt": ("tcp", 8080), "snmp": ("udp", 161)}
TIMEOUT = 1.5

# Runs on the probing host: TCP connect (an RST means the path is open and nothing listens)
# or a UDP datagram that the target's responder answers; silence is a blocked path.
PROBE = r"""
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
source, timeout, targets = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
NTP = b"\x1b" + 47 * b"\0"
def probe(t):
    address, proto, port = t
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    try:
        s.bind((source, 0))
        s.connect((address, port))
        if proto == "udp":
            s.send(NTP if port == 123 else b"jinbao-probe")
            s.recv(512)
        return "open"
    except ConnectionRefusedError:
        return "open"
    except OSError:
        return "blocked"
    finally:
        s.close()
with ThreadPoolExecutor(64) as pool:
    print(json.dumps(list(pool.map(probe, targets))))
"""

# Runs on every probed host for the length of the module: answers UDP on the probed ports
# that no real service holds (chrony answers NTP on the ops host itself).
RESPONDER = r"""
import selectors, socket, sys, time
address, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
sel = selectors.DefaultSelector()
for port in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((address, port))
    except OSError:
        continue
    sel.register(s, selectors.EVENT_READ)
end = time.time() + 900
while time.time() < end:
    for key, _ in sel.select(timeout=1):
        data, peer = key.fileobj.recvfrom(512)
        key.fileobj.sendto(data, peer)
"""


@dataclass(frozen=True)
class Host:
    name: str
    zone: str
    role: str
    address: str


def _site_hosts(lab, dc: str) -> list[Host]:
    site = lab.network.sites[dc]
    return [
        Host(lab.network.hostname(site, h.name), h.zone, h.role, lab.allocations.hosts[f"{dc}/{h.name}"]["address"])
        for h in site.hosts
    ]


def _hosts(lab) -> list[Host]:
    """The DC's hosts, and the probe that stands for the internet outside its edge firewall."""
    site = lab.network.sites[DC]
    internet = next(name for name, spec in zones.load(lab.env).zones.items() if spec.kind == "internet")
    return [
        Host(lab.network.hostname(site, h.name), h.zone, h.role, lab.allocations.hosts[f"{DC}/{h.name}"]["address"])
        for h in site.hosts
    ] + [
        Host(n.name, internet, "probe", n.attachments[1].address.split("/")[0])
        for n in lab.topology.nodes.values()
        if n.kind == "probe" and n.site == DC
    ]


def _wan_router(lab) -> Host:
    """A township router of the DC's province, probing from its LAN address: the private WAN
    as a source (its flows, F15 and F16, admit every LAN, line and loopback of it)."""
    wan = next(name for name, spec in lab.policy.zones.items() if spec.kind == "wan")
    province = lab.network.province_of(lab.network.sites[DC])
    router = next(n for n in lab.townships() if lab.network.province_of(lab.site(n)) == province)
    return Host(router.name, wan, "router", lab.lan_address(router))


def _probe_sources(hosts: list[Host]) -> list[Host]:
    """One host of every (zone, role): the hosts of one role share its zone's segment, its
    firewall and its flows, so the first speaks for the rest."""
    first: dict[tuple[str, str], Host] = {}
    for h in hosts:
        first.setdefault((h.zone, h.role), h)
    return list(first.values())


def _services(policy) -> dict[str, tuple[str, int]]:
    found = {}
    for name, spec in policy.services.items():
        for port in spec.ports:
            found[f"{name}" if len(spec.ports) == 1 else f"{name}/{port}"] = (spec.proto, port)
    return {**found, **UNDECLARED}


def _matches(endpoint: str, host: Host) -> bool:
    zone, _, role = endpoint.partition("/")
    return host.zone == zone and (not role or host.role == role)


def intended(policy, sources: list[Host], hosts: list[Host]) -> set[tuple[str, str, str]]:
    """(source host, target host, service) that zones.yml opens between zones: firewall flows
    only (the gatekeeper's ferries are files, never an IP path)."""
    services = _services(policy)
    opened = set()
    for flow in policy.flows:
        if flow.via != "firewall" or flow.across:  # a flow across sites: test_the_dr_pair_probes_as_zones_yml
            continue
        spec = policy.services[flow.service]
        for a in sources:
            for b in hosts:
                if a.zone != b.zone and _matches(flow.source, a) and _matches(flow.to, b):
                    opened |= {
                        (a.name, b.name, name) for name, (proto, port) in services.items()
                        if proto == spec.proto and port in spec.ports
                    }  # fmt: skip
    return opened


def observed(lab, policy, sources: list[Host], hosts: list[Host]) -> set[tuple[str, str, str]]:
    """(source, target, service) found open by probing from every source host to every
    service of every host of another zone; the sources probe at the same time."""
    services = _services(policy)
    shells = {source.name: lab.host(source.name) for source in sources}  # made here, not in the threads

    def probe(source: Host) -> set[tuple[str, str, str]]:
        targets = [(b, name) for b in hosts if b.zone != source.zone for name in services]
        wire = [(b.address, *services[name]) for b, name in targets]
        result = shells[source.name].run(f"python3 -c '{PROBE}' {source.address} {TIMEOUT} '{json.dumps(wire)}'")
        assert result.rc == 0, f"{source.name}: {result.stderr}"
        verdicts = json.loads(result.stdout)
        return {(source.name, b.name, name) for (b, name), v in zip(targets, verdicts, strict=True) if v == "open"}

    with ThreadPoolExecutor(len(sources)) as pool:
        return set().union(*pool.map(probe, sources))


def _table(sources, hosts, opened, expected) -> str:
    """The matrix as people read it: one row per probing host, one column per target host;
    each cell lists the open services (! marks a difference from zones.yml)."""
    rows = []
    for s in sources:
        cells = []
        for b in hosts:
            found = sorted(x for (a, t, x) in opened | expected if a == s.name and t == b.name)
            text = ",".join(x + ("" if ((s.name, b.name, x) in opened) == ((s.name, b.name, x) in expected) else "!")
                            for x in found)  # fmt: skip
            cells.append("·" if s.zone == b.zone else text or "-")
        rows.append([f"{s.name.removeprefix(f'{DC}-')} ({s.zone}/{s.role})", *cells])
    header = ["from \\ to", *(h.name.removeprefix(f"{DC}-") for h in hosts)]
    widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(len(header))]
    return "\n".join("".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows])


@pytest.fixture(scope="module")
def responders(lab):
    policy = lab.policy
    udp = sorted({port for proto, port in _services(policy).values() if proto == "udp"})
    hosts = _hosts(lab)
    for h in hosts:
        lab.host(h.name).run(
            f"nohup timeout 900 python3 -c '{RESPONDER}' {h.address} {','.join(map(str, udp))} >/dev/null 2>&1 &"
        )
    time.sleep(1)
    yield hosts
    for h in hosts:
        lab.host(h.name).run("pkill -f '^python3 -c.*selectors' || true")


def _compare(lab, policy, hosts):
    sources = _probe_sources(hosts)
    return observed(lab, policy, sources, hosts), intended(policy, sources, hosts)


def _show(title: str, sources, hosts, opened, expected, started: float) -> None:
    print(f"\n{title}, probed from {len(sources)} host(s) in {time.monotonic() - started:.0f}s "
          "(services open; · same zone, - nothing, ! differs from zones.yml):")  # fmt: skip
    print(_table(sources, hosts, opened, expected))


def test_the_probed_matrix_is_zones_yml(lab, responders, capsys):
    policy = lab.policy
    hosts = responders
    assert {h.zone for h in hosts} >= {"core-db", "internal", "ops", "external", "dmz"}
    sources = _probe_sources(hosts)
    started = time.monotonic()
    opened, expected = observed(lab, policy, sources, hosts), intended(policy, sources, hosts)
    with capsys.disabled():
        _show(f"zones of {DC}", sources, hosts, opened, expected, started)
    role = {h.name: h.role for h in hosts}
    # every (zone, role) of the DC's hosts in sites.yml probes, so each role-scoped flow is proven
    model = {(h.zone, h.role) for h in lab.network.sites[DC].hosts}
    assert model <= {(s.zone, s.role) for s in sources}, "a role of the DC never probes"
    # the database's clients: the middleware (F1) and the audited console (F18), no one else
    clients = {h.name for h in hosts if h.role in ("middleware", "bastion")}
    assert {a for a, _, x in expected if x == "postgresql"} == clients
    assert not [(a, b) for a, b, x in opened if x == "postgresql" and role[a] == "web"], "the web tier reaches the db"
    assert expected, "zones.yml should open something between the lab's zones"
    assert sorted(opened - expected) == [], "open, but no flow of zones.yml allows it"
    assert sorted(expected - opened) == [], "allowed by zones.yml, but blocked"


@pytest.fixture(scope="module")
def from_the_wan(lab, responders):
    """What a township router finds open in the DC from its LAN address, and what zones.yml
    lets the WAN reach; and the zones the WAN enters the DC by (kind internal)."""
    router = _wan_router(lab)
    started = time.monotonic()
    opened = observed(lab, lab.policy, [router], responders)
    expected = intended(lab.policy, [router], responders)
    _show(f"the WAN into {DC}", [router], responders, opened, expected, started)
    entered = {z for z, spec in lab.policy.zones.items() if spec.kind == "internal"}
    return opened, expected, {h.name for h in responders if h.zone in entered}


def test_the_wan_reaches_its_flows_and_no_guarded_zone_beyond_them(from_the_wan):
    opened, expected, entered = from_the_wan
    assert expected, "zones.yml lets the WAN reach the collector and NTP (F15, F16)"
    assert sorted(expected - opened) == [], "allowed by zones.yml, but blocked"
    assert sorted(t for t in opened - expected if t[1] not in entered) == [], "open, but no flow allows it"


def test_the_wan_reaches_nothing_in_the_internal_zone_that_zones_yml_does_not_open(from_the_wan):
    opened, expected, entered = from_the_wan
    assert sorted(t for t in opened - expected if t[1] in entered) == [], "open, but no flow allows it"


@pytest.fixture
def zones_file(lab):
    """zones.yml as it was, put back (and re-converged) whatever the test does."""
    path = lab.env / zones.FILE
    saved = path.read_text()
    yield path
    path.write_text(saved)
    converged = lab.ansible("playbooks/zones.yml")
    assert converged.returncode == 0, converged.stdout[-3000:]


def _ruleset(lab, name: str) -> str:
    return lab.host(name).check_output("nft list table inet jinbao_zones")


def intended_across(policy, network, sources: list[Host], hosts: list[Host], site_of) -> set[tuple[str, str, str]]:
    """(source host, target host, service) that zones.yml's flows across the DR pair open from
    a host of one site to a host of the other, in the directions each flow names."""
    services = _services(policy)
    ways = {"dr": {(a, b) for a, b in network.dr_pairs()} | {(b, a) for a, b in network.dr_pairs()},
            "dc-to-dr": set(network.dr_pairs()), "dr-to-dc": {(b, a) for a, b in network.dr_pairs()}}  # fmt: skip
    opened = set()
    for flow in (f for f in policy.flows if f.across):
        spec = policy.services[flow.service]
        for a in sources:
            for b in hosts:
                if (
                    (site_of[a.name], site_of[b.name]) in ways[flow.across]
                    and _matches(flow.source, a)
                    and _matches(flow.to, b)
                ):
                    opened |= {
                        (a.name, b.name, name) for name, (proto, port) in services.items()
                        if proto == spec.proto and port in spec.ports
                    }  # fmt: skip
    return opened


@pytest.fixture(scope="module")
def dr_responders(lab, responders):
    """The DR site's hosts answer UDP on the probed ports too (the DC's already do)."""
    (dr,) = lab.network.dr_peers(DC)
    udp = sorted({port for proto, port in _services(lab.policy).values() if proto == "udp"})
    hosts = _site_hosts(lab, dr)
    for h in hosts:
        lab.host(h.name).run(
            f"nohup timeout 900 python3 -c '{RESPONDER}' {h.address} {','.join(map(str, udp))} >/dev/null 2>&1 &"
        )
    time.sleep(1)
    yield dr, hosts
    for h in hosts:
        lab.host(h.name).run("pkill -f '^python3 -c.*selectors' || true")


def test_the_dr_pair_probes_as_zones_yml(lab, responders, dr_responders, capsys):
    """From one host of every (zone, role) of each site of the DR pair, every service of every
    host of the other site: open exactly where a flow `across` the pair says (replication,
    the application to the database wherever it is, names, logs, time, administration)."""
    dr, dr_hosts = dr_responders
    dc_hosts = _site_hosts(lab, DC)
    site_of = {h.name: DC for h in dc_hosts} | {h.name: dr for h in dr_hosts}
    started = time.monotonic()
    opened = set()
    for sources, targets in ((_probe_sources(dr_hosts), dc_hosts), (_probe_sources(dc_hosts), dr_hosts)):
        # hosts of one site are never in "another zone" of the other, so every target is probed
        far = [Host(t.name, f"{site_of[t.name]}:{t.zone}", t.role, t.address) for t in targets]
        found = observed(lab, lab.policy, sources, far)
        expected_part = intended_across(lab.policy, lab.network, sources, targets, site_of)
        with capsys.disabled():
            _show(f"across the DR pair, {site_of[sources[0].name]} -> {site_of[targets[0].name]}", sources,
                  far, found, expected_part, started)  # fmt: skip
        opened |= found
    expected = intended_across(
        lab.policy, lab.network, _probe_sources(dr_hosts) + _probe_sources(dc_hosts), dc_hosts + dr_hosts, site_of
    )
    replication = {(a, b) for a, b, x in expected if x == "postgresql" and "db1" in a}
    assert replication == {(f"{DC}-db1", f"{dr}-db1"), (f"{dr}-db1", f"{DC}-db1")}, "replication runs either way"
    assert sorted(opened - expected) == [], "open between the sites, but no flow of zones.yml allows it"
    assert sorted(expected - opened) == [], "allowed across the DR pair by zones.yml, but blocked"


def test_a_new_flow_opens_exactly_that_flow(lab, responders, zones_file):
    hosts = responders
    before_open, _ = _compare(lab, lab.policy, hosts)
    text = zones_file.read_text()
    zones_file.write_text(
        text
        + "  - id: F90\n    from: core-db/database\n    to: external/front-end-processor\n    service: exchange-api\n"
        "    reason: lab test, removed again\n    owner: tests\n    review: 2027-01-31\n"
    )
    converged = lab.ansible("playbooks/zones.yml")
    assert converged.returncode == 0, converged.stdout[-3000:]
    policy = zones.load(lab.env)
    after_open, expected = _compare(lab, policy, hosts)
    assert after_open == expected
    db = next(h.name for h in hosts if h.role == "database")
    fep = next(h.name for h in hosts if h.role == "front-end-processor")
    assert after_open - before_open == {(db, fep, "exchange-api")}
    assert before_open - after_open == set()


def test_a_held_back_policy_is_refused_before_any_firewall_is_touched(lab, zones_file):
    firewall = next(n.name for n in lab.topology.nodes.values() if n.kind == "firewall")
    before = _ruleset(lab, firewall)
    text = zones_file.read_text()
    zones_file.write_text(
        text + "  - id: F91\n    from: internet\n    to: core-db/database\n    service: postgresql\n"
        "    reason: held back\n    owner: nobody\n    review: 2027-01-31\n"
    )
    refused = lab.ansible("playbooks/zones.yml")
    assert refused.returncode != 0
    # the inventory plugin refuses the model, so Ansible stops before its first play and says why on stderr
    assert "F91" in refused.stderr and "core database" in refused.stderr, refused.stderr[-3000:]
    assert "PLAY [" not in refused.stdout, refused.stdout[-3000:]
    after = _ruleset(lab, firewall)
    assert _without_counters(after) == _without_counters(before)


def _without_counters(text: str) -> str:
    return re.sub(r"counter packets \d+ bytes \d+", "counter", text)


def test_firewalls_only_bridge_and_their_forward_policy_is_drop(lab):
    for node in (n for n in lab.topology.nodes.values() if n.kind == "firewall"):
        host = lab.host(node.name)
        assert host.sysctl("net.ipv4.ip_forward") == 0, node.name
        for zone, outside, inside in node.bridges:
            ports = {p["ifname"] for p in json.loads(host.check_output(f"ip -j link show master br-{zone}"))}
            assert ports == {outside, inside}, node.name
        table = json.loads(host.check_output("nft -j list chain inet jinbao_zones forward"))["nftables"]
        chain = next(i["chain"] for i in table if "chain" in i)
        assert chain["policy"] == "drop" and chain["hook"] == "forward", node.name


def test_the_stale_rule_report_reads_a_live_firewall(lab, tmp_path):
    firewall = lab.host("zj-dc-fw-inner")
    firewall.run_test("nft -f /etc/nftables.d/50-jinbao-zones.nft")  # counters start again at zero
    collector = lab.allocations.hosts[f"{DC}/ops1"]["address"]
    port = lab.policy.services["syslog"].ports[0]
    lab.host("zhejiang-r1").run_test(f"nc -z -w 3 {collector} {port}")  # a router opens a log connection
    counters = tmp_path / "inner.json"
    counters.write_text(firewall.check_output("nft -j list table inet jinbao_zones"))
    flows = {r["flow"] for r in stale(counters.read_text(), "the reload")}
    assert "F15" not in flows  # used since the reload
    assert {"F2", "F3", "F4"} <= flows  # nobody administered anything since
    assert flows <= {f.id for f in lab.policy.flows}
