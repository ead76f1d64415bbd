"""The lab topology is the model's: checked without Docker."""

from __future__ import annotations

import ipaddress
import re
import shutil

import pytest
from conftest import LAB, copy_inventory, edit_sites

from network import ipam, zones
from network.errors import JinbaoError, LabError, ModelError
from network.ipam.conventions import link_addresses
from network.lab import firewalls, images, topology
from network.model import load
from network.platforms import platform


@pytest.fixture(scope="module")
def topo():
    network = load(LAB)
    allocations = ipam.read(LAB)
    return network, allocations, topology.build(network, allocations)


def test_every_device_and_host_of_the_model_is_a_node(topo):
    network, allocations, lab = topo
    routers = {network.hostname(s, d.name) for s, d in network.iter_devices()}
    servers = {network.hostname(s, h.name) for s in network.sites.values() for h in s.hosts}
    assert routers and servers
    assert set(lab.nodes) == routers | servers
    for node in lab.nodes.values():
        key = f"{node.site}/{node.name.removeprefix(network.sites[node.site].slug + '-')}"
        section = allocations.devices if node.kind == "router" else allocations.hosts
        assert node.management == section[key]["management"], node.name


def test_every_line_is_one_network_between_its_two_routers_on_their_ports(topo):
    _, allocations, lab = topo
    lines = [k for k, n in lab.networks.items() if n.kind == "line"]
    assert sorted(k.removeprefix("line:") for k in lines) == sorted(allocations.links)
    port = platform("frr")["interfaces"]["port"]
    for key in lines:
        ends = lab.members(key)
        assert len(ends) == 2, key
        ports = allocations.links[key.removeprefix("line:")]["ports"]
        assert sorted(a.ifname for _, a in ends) == sorted(port.format(n=p) for p in ports), key
        assert all(a.address is None for _, a in ends)  # routers configure their own (FRR)


def test_interface_names_are_unique_per_node_and_eth0_is_management(topo):
    _, _, lab = topo
    for node in lab.nodes.values():
        names = [a.ifname for a in node.attachments]
        assert len(names) == len(set(names)), node.name
        assert node.attachments[0] == topology.Attachment("mgmt", "eth0")


def test_servers_sit_in_their_zone_behind_the_dc_router(topo):
    network, allocations, lab = topo
    checked = 0
    for site in network.sites.values():
        for host in site.hosts:
            node = lab.nodes[network.hostname(site, host.name)]
            zone = f"zone:{site.id}/{host.zone}"
            subnet = ipaddress.ip_network(allocations.zones[f"{site.id}/{host.zone}"])
            leg = node.attachments[1]
            assert leg.network == zone
            assert leg.address == f"{allocations.hosts[f'{site.id}/{host.name}']['address']}/{subnet.prefixlen}"
            routers = [n for n, _ in lab.members(zone) if n.kind == "router"]
            if host.zone in network.policy.unrouted_zones:
                assert not routers and node.gateway is None, f"{node.name}: the {host.zone} zone must not be routed"
            else:
                assert len(routers) == 1 and node.gateway == str(subnet[1]), node.name
            checked += 1
    assert checked


def test_management_network_leaves_the_gateway_to_this_machine(topo):
    network, _, lab = topo
    supernet = ipaddress.ip_network(network.addressing.management.supernet)
    assert lab.management_gateway == str(supernet[1])
    assert lab.management_gateway not in {n.management for n in lab.nodes.values()}


def test_the_lab_refuses_platforms_it_cannot_run(tmp_path):
    env = copy_inventory(LAB, tmp_path / "lab")

    def to_huawei(sites):
        site = next(s for s in sites if s["id"] == "dongshan")
        site["devices"] = [{"name": "r1", "role": "access", "platform": "huawei_vrp"}]

    edit_sites(env, to_huawei)
    network = load(env, cache=False)
    with pytest.raises(LabError) as caught:
        topology.build(network, ipam.read(env))
    problem = caught.value.problems[0]
    assert problem.where == "jiangsu/nanjing/jiangning/dongshan"
    assert problem.field == "devices[r1].platform"
    assert "huawei_vrp" in problem.message


def test_line_addresses_fit_the_plumbing_free_design(topo):
    """Docker never holds a model address: the model's line addresses are not in the plumbing range."""
    _, allocations, _ = topo
    plumbing = ipaddress.ip_network(topology.PLUMBING)
    for link in allocations.links.values():
        for end in link_addresses(link["subnet"]):
            assert ipaddress.ip_interface(end).ip not in plumbing


def test_image_tags_follow_their_inputs(tmp_path, monkeypatch):
    mirror = load(LAB).policy.debian_mirror
    before = images.tags(mirror)
    assert before == images.tags(mirror)  # stable
    copy = tmp_path / "images"
    shutil.copytree(images.IMAGES_DIR, copy)
    monkeypatch.setattr(images, "IMAGES_DIR", copy)
    assert images.tags(mirror) == before
    (copy / "router" / "Dockerfile").write_text((copy / "router" / "Dockerfile").read_text() + "# changed\n")
    after = images.tags(mirror)
    assert after["router"] != before["router"]
    assert {k: v for k, v in after.items() if k != "router"} == {k: v for k, v in before.items() if k != "router"}
    (copy / "base" / "Dockerfile").write_text((copy / "base" / "Dockerfile").read_text() + "# changed\n")
    rebuilt = images.tags(mirror)
    assert rebuilt["base"] != before["base"] and rebuilt["server"] != before["server"]  # children follow


def test_the_lab_images_come_from_the_mirror_offline_yml_names():
    """The lab's default is Debian's public mirror, as before offline.yml (the cached images
    keep their tags); another mirror is another rootfs, and every image above it follows."""
    public = "http://deb.debian.org/debian"
    assert load(LAB).policy.debian_mirror == public
    # the tag the rootfs had before offline.yml (JINBAO_DEBIAN_MIRROR unset): a change of
    # ROOTFS_PACKAGES or SUITE moves it, rightly
    assert images.tags(public)["rootfs"] == "jinbao/rootfs:d516e4493aa6"
    internal = images.tags("http://mirrors.example.internal/debian")
    assert all(internal[name] != tag for name, tag in images.tags(public).items())


# --- the zone firewalls ------------------------------------------------------------------
@pytest.fixture(scope="module")
def zoned():
    network = load(LAB)
    allocations = ipam.read(LAB)
    policy = zones.load(LAB)
    return network, allocations, policy, topology.build(network, allocations, policy)


def test_every_routed_zone_is_bridged_by_the_first_layer_that_lists_it(zoned):
    network, allocations, policy, lab = zoned
    firewalls = {n.name: n for n in lab.nodes.values() if n.kind == "firewall"}
    assert set(firewalls) == {"zj-dc-fw-inner", "zj-dc-fw-outer", "zj-dc-fw-edge", "zj-dr-fw-inner"}
    guarded = {(fw.site, zone): fw for fw in firewalls.values() for zone, _, _ in fw.bridges}
    assert sorted(guarded) == [
        ("zj-dc", "core-db"), ("zj-dc", "dmz"), ("zj-dc", "external"), ("zj-dc", "internal"), ("zj-dc", "ops"),
        ("zj-dc", "partner"), ("zj-dr", "core-db"), ("zj-dr", "internal"), ("zj-dr", "ops"),
    ]  # fmt: skip
    for (site, zone), fw in guarded.items():
        if zone == "dmz":
            continue  # unrouted: its outside is the internet (below)
        first = next(x.name for x in policy.layers if zone in x.zones)
        assert fw.layer == first
        # hosts stay on the zone's segment, the router moves to the firewall's other side
        members = {n.name: a.ifname for n, a in lab.members(f"zone:{site}/{zone}")}
        uplink = {n.name: a.ifname for n, a in lab.members(f"uplink:{site}/{zone}")}
        assert members[fw.name] == f"i-{zone}" and uplink[fw.name] == f"o-{zone}"
        assert [n for n in uplink if lab.nodes[n].kind == "router"] == [network.hostname(network.sites[site], "r1")]
        assert all(lab.nodes[n].kind in ("server", "firewall", "gatekeeper") for n in members), members
        assert lab.networks[f"uplink:{site}/{zone}"].subnet == allocations.zones[f"{site}/{zone}"]
    # the zone the WAN enters by (internal) is guarded too: no router on its hosts' segment
    assert not any(lab.nodes[n].kind == "router" for n in (m.name for m, _ in lab.members("zone:zj-dc/internal")))


def test_the_firewall_guarding_the_hub_zone_carries_the_other_layers_permits_into_it(zoned):
    network, allocations, policy, lab = zoned
    rulesets = firewalls.rulesets(lab, policy, network, allocations)
    assert sorted(rulesets) == ["zj-dc-edge.nft", "zj-dc-inner.nft", "zj-dc-outer.nft", "zj-dr-inner.nft"]
    flows = {name: re.findall(r'comment "(F\d+) ', text) for name, text in rulesets.items()}
    # the inner firewall bridges `internal`: the outer layer's F11 (external -> the middleware)
    # crosses it there, and only once; F4 (ops -> external) is the inner layer's own already
    assert flows["zj-dc-inner.nft"].count("F11") == 1 and flows["zj-dc-inner.nft"].count("F4") == 1
    assert "F11" not in [r.flow for r in zones.compile_rules(policy, network, allocations, "zj-dc", "inner")]
    # the other firewalls guard no zone another layer reaches: production's rulesets
    for name in ("zj-dc-outer", "zj-dc-edge"):
        site, layer = name.rsplit("-", 1)
        assert rulesets[f"{name}.nft"] == zones.render(policy, network, allocations, site, layer, "nftables")


def test_firewalls_change_no_address_or_gateway(topo, zoned):
    *_, plain = topo
    *_, lab = zoned
    for name, node in plain.nodes.items():
        assert lab.nodes[name].management == node.management
        assert lab.nodes[name].gateway == node.gateway
        assert [(a.ifname, a.address) for a in lab.nodes[name].attachments] == [
            (a.ifname, a.address) for a in node.attachments
        ]


def test_stand_in_management_addresses_come_from_the_top_and_never_collide(zoned):
    network, allocations, _, lab = zoned
    supernet = ipaddress.ip_network(network.addressing.management.supernet)
    stand_ins = [n for n in lab.nodes.values() if n.kind in ("firewall", "gatekeeper", "probe")]
    assert [n.kind for n in stand_ins] == ["firewall"] * 4 + ["probe", "gatekeeper"]
    assert [n.management for n in stand_ins] == [str(supernet[-2 - i]) for i in range(len(stand_ins))]
    ipam_given = {d["management"] for d in allocations.devices.values()} | {
        h["management"] for h in allocations.hosts.values()
    }
    assert not ipam_given & {n.management for n in stand_ins}


def test_the_dmz_meets_the_internet_only_through_its_edge_firewall(zoned):
    *_, lab = zoned
    edge = lab.nodes["zj-dc-fw-edge"]
    assert (edge.layer, edge.bridges) == ("edge", (("dmz", "o-dmz", "i-dmz"),))
    outside = {n.name: (a.ifname, a.address) for n, a in lab.members("uplink:zj-dc/dmz")}
    assert outside == {"zj-dc-fw-edge": ("o-dmz", None), "zj-dc-internet-dmz": ("eth1", "10.5.4.253/24")}
    probe = lab.nodes["zj-dc-internet-dmz"]
    assert (probe.kind, probe.gateway, topology.sysctls(probe)["net.ipv4.ip_forward"]) == ("probe", None, "0")
    # no router on either side: the WAN still never reaches the DMZ
    inside = {n.name for n, _ in lab.members("zone:zj-dc/dmz")}
    assert not [n for n in inside | set(outside) if lab.nodes[n].kind == "router"]


def test_an_internet_edge_address_a_host_holds_is_refused(zoned):
    network, allocations, policy, _ = zoned
    allocations = ipam.read(LAB)
    allocations.hosts["zj-dc/decl1"]["address"] = "10.5.4.253"
    with pytest.raises(JinbaoError, match=r"zones\[zj-dc/dmz\].*10\.5\.4\.253.*taken by zj-dc/decl1"):
        topology.build(network, allocations, policy)


# --- the gatekeeper -------------------------------------------------------------------------
def test_the_gatekeeper_has_a_leg_in_each_zone_it_ferries_between_and_no_route(zoned):
    *_, lab = zoned
    (gk,) = [n for n in lab.nodes.values() if n.kind == "gatekeeper"]
    assert (gk.name, gk.site, gk.gateway) == ("zj-dc-gatekeeper", "zj-dc", None)
    assert gk.legs == (("dmz", "g-dmz", "10.5.4.254/24"), ("internal", "g-internal", "10.5.1.254/24"))
    legs = {a.network: (a.ifname, a.address) for a in gk.attachments if a.network != "mgmt"}
    assert legs == {
        "zone:zj-dc/dmz": ("g-dmz", "10.5.4.254/24"),
        "zone:zj-dc/internal": ("g-internal", "10.5.1.254/24"),
    }
    # the zones' hosts share the segment with it; nothing else joins the two
    assert {n.name for n, _ in lab.members("zone:zj-dc/dmz")} == {"zj-dc-decl1", "zj-dc-fw-edge", "zj-dc-gatekeeper"}
    assert topology.sysctls(gk)["net.ipv4.ip_forward"] == "0"


def test_lab_up_raises_the_hosts_inotify_limits_and_never_lowers_them(tmp_path, monkeypatch):
    from network.lab import engine

    for key, value in {"fs/inotify/max_user_instances": "128\n", "fs/inotify/max_user_watches": "1048576\n"}.items():
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_text(value)
    monkeypatch.setattr(engine, "PROC_SYS", tmp_path)
    monkeypatch.setattr(engine.os, "geteuid", lambda: 0)
    assert engine.host_limits() == ["fs.inotify.max_user_instances: 128 -> 1024"]
    assert (tmp_path / "fs/inotify/max_user_instances").read_text() == "1024"
    assert (tmp_path / "fs/inotify/max_user_watches").read_text() == "1048576\n"  # higher already: untouched
    assert engine.host_limits() == []
    (tmp_path / "fs/inotify/max_user_instances").write_text("128")
    monkeypatch.setattr(engine.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match=r"fs.inotify.max_user_instances is 128; the lab needs 1024"):
        engine.host_limits()


def test_only_routers_forward_and_the_setting_is_part_of_the_digest(tmp_path, monkeypatch):
    env = copy_inventory(LAB, tmp_path / "lab")
    network = load(env)
    topo = topology.build(network, ipam.read(env), zones.load_if_any(env))
    forwarding = {n.kind: topology.sysctls(n)["net.ipv4.ip_forward"] for n in topo.nodes.values()}
    assert forwarding == {"router": "1", "server": "0", "firewall": "0", "gatekeeper": "0", "probe": "0"}
    router = next(n for n in topo.nodes.values() if n.kind == "router")
    before = topo.digest(router)
    original = topology.sysctls
    monkeypatch.setattr(topology, "sysctls", lambda node: {**original(node), "net.ipv4.ip_forward": "0"})
    assert topo.digest(router) != before


def test_every_node_is_created_with_the_hardening_sysctls_and_a_change_recreates_it(tmp_path):
    env = copy_inventory(LAB, tmp_path / "lab")
    management = env / "group_vars" / "all" / "management.yml"
    topo = topology.build(load(env), ipam.read(env), zones.load_if_any(env))
    for node in topo.nodes.values():
        kernel = topo.sysctls(node)
        assert kernel["net.ipv4.conf.all.accept_redirects"] == "0", node.name
        assert kernel["net.ipv4.tcp_syncookies"] == "1", node.name
    router = next(n for n in topo.nodes.values() if n.kind == "router")
    assert topo.sysctls(router)["net.ipv4.ip_forward"] == "1"  # the hardening does not stop a router forwarding
    management.write_text(
        management.read_text() + "  sysctls: {net.ipv4.conf.all.accept_redirects: 1, net.ipv4.tcp_syncookies: 1}\n"
    )
    changed = topology.build(load(env, cache=False), ipam.read(env), zones.load_if_any(env))
    assert changed.sysctls(changed.nodes[router.name])["net.ipv4.conf.all.accept_redirects"] == "1"
    assert changed.digest(changed.nodes[router.name]) != topo.digest(router)


def test_a_hardening_sysctl_outside_the_network_namespace_is_refused(tmp_path):
    env = copy_inventory(LAB, tmp_path / "lab")
    management = env / "group_vars" / "all" / "management.yml"
    management.write_text(management.read_text() + "  sysctls: {kernel.kptr_restrict: 2}\n")
    with pytest.raises(ModelError, match=r"kernel\.kptr_restrict: only net\."):
        load(env, cache=False)


def test_the_kernel_settings_are_written_again_kind_first_then_the_hardening(tmp_path, monkeypatch):
    """Docker applies them at each start in no fixed order, and a change of forwarding resets
    accept_redirects: wiring writes them again, forwarding first, from the host."""
    from types import SimpleNamespace

    from network.lab import nodes

    env = copy_inventory(LAB, tmp_path / "lab")
    topo = topology.build(load(env), ipam.read(env), zones.load_if_any(env))
    server = next(n for n in topo.nodes.values() if n.kind == "server")
    calls = []

    def run(argv, **_):
        calls.append(argv)
        return SimpleNamespace(returncode=0 if len(calls) == 1 else 1, stderr="sysctl: permission denied")

    monkeypatch.setattr(nodes.subprocess, "run", run)
    container = SimpleNamespace(attrs={"State": {"Pid": 4242}})
    nodes._kernel_settings(container, topo, server)
    argv = calls[0]
    assert argv[:4] == ["nsenter", "-t", "4242", "-n"]
    written = [a.split("=")[0] for a in argv if "=" in a]
    assert written.index("net.ipv4.ip_forward") < written.index("net.ipv4.conf.all.accept_redirects")
    assert set(written) == set(topo.sysctls(server))
    with pytest.raises(LabError, match=r"could not set its kernel settings: sysctl: permission denied"):
        nodes._kernel_settings(container, topo, server)
