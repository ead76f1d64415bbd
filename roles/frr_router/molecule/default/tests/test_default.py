"""frr_router alone: FRR runs the rendered config, with only the daemons it needs."""

import json

import pytest

HOSTNAME = "fotang-r1"


def test_frr_runs_with_the_rendered_config(host):
    assert host.service("frr").is_running
    assert host.service("frr").is_enabled
    running = host.check_output("vtysh -c 'show running-config'")
    assert f"hostname {HOSTNAME}" in running
    assert "router ospf" in running
    assert "ip ospf cost 65000" in running  # the 4G backup line


def test_frr_conf_is_what_the_renderer_gave(host):
    conf = host.file("/etc/frr/frr.conf")
    assert conf.user == "frr" and conf.mode == 0o640
    assert conf.contains("Rendered by jinbao from the source of truth")


@pytest.mark.parametrize(("daemon", "running"), [("zebra", True), ("ospfd", True), ("staticd", True), ("bgpd", False)])
def test_only_the_daemons_the_config_needs(host, daemon, running):
    assert bool(host.process.filter(comm=daemon)) is running


def test_ospf_is_configured_on_the_lines(host):
    interfaces = json.loads(host.check_output("vtysh -c 'show ip ospf interface json'"))
    assert "lo" in interfaces.get("interfaces", interfaces)


def test_forwarding_is_on(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
