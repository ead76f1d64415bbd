"""frr_router alone: FRR runs the rendered config with only the daemons it needs, and a
reload that goes wrong is caught (side_effect.yml breaks it on purpose).

Expectations come from the jinbao renderer (the same config the role installs), so a role
that installs one thing and runs another fails here.
"""

import json
from pathlib import Path

import pytest

from network.audit import drift
from network.planned import planned
from network.platforms import scrub
from network.render import Renderer, load_secrets

HOSTNAME = "fotang-r1"
LAB = Path(__file__).resolve().parents[5] / "inventories" / "lab"


@pytest.fixture(scope="module")
def intended() -> str:
    network, allocations = planned(LAB)
    return Renderer(network, allocations, load_secrets(LAB)).render_hosts([HOSTNAME])[HOSTNAME]


def _running(host) -> str:
    return host.check_output("vtysh -c 'show running-config'")


def test_frr_runs_and_starts_at_boot(host):
    assert host.service("frr").is_running
    assert host.service("frr").is_enabled


def test_running_config_equals_the_rendered_intent(host, intended):
    running = _running(host)
    # the lines the fixture's intent is about, present at all (so the comparison is not vacuous)
    for line in (f"hostname {HOSTNAME}", "router ospf", " ip ospf cost 65000"):
        assert line in intended
    assert drift(scrub("frr", intended), scrub("frr", running)) == {}


def test_frr_conf_is_exactly_what_the_renderer_gave(host, intended):
    conf = host.file("/etc/frr/frr.conf")
    assert conf.user == "frr" and conf.mode == 0o640
    assert conf.content_string == intended


@pytest.mark.parametrize("daemon", ["zebra", "ospfd", "staticd", "bgpd"])
def test_only_the_daemons_the_config_needs_run(host, intended, daemon):
    needed = {"zebra": True, "staticd": True, "ospfd": "\nrouter ospf" in intended, "bgpd": "\nrouter bgp " in intended}
    assert needed["ospfd"] and not needed["bgpd"]  # fotang: OSPF only
    assert bool(host.process.filter(comm=daemon)) is needed[daemon]
    answering = host.check_output("vtysh -c 'show daemons'").split()
    assert (daemon in answering) is needed[daemon]


def test_ospf_runs_on_the_interfaces_of_the_intent(host, intended):
    shown = json.loads(host.check_output("vtysh -c 'show ip ospf interface json'"))
    interfaces = shown.get("interfaces", shown)
    wanted = {block.split()[0] for block in intended.split("\ninterface ")[1:] if "ip ospf area" in block}
    assert {"eth1", "eth2", "lan0"} <= wanted, wanted  # fotang: two lines and a LAN (prepare.yml cables them)
    assert wanted <= set(interfaces), f"OSPF does not run on {sorted(wanted - set(interfaces))}"


def test_a_reload_that_stops_frr_is_repaired_by_a_restart_from_frr_conf(host, intended):
    outcome = json.loads(host.file("/root/molecule-reload-stops-frr.json").content_string)
    assert outcome == {"failed": False}, outcome
    # the sabotaged reload really ran (and stopped FRR) in this case and in the one before
    assert len(host.file("/root/molecule-sabotaged-reloads").content_string.splitlines()) == 2
    # ... and FRR runs the rendered config again: the drift the case put in is gone
    assert "10.255.254.0/24" not in _running(host)
    assert drift(scrub("frr", intended), scrub("frr", _running(host))) == {}


def test_a_role_run_that_leaves_frr_down_fails_and_says_so(host):
    outcome = json.loads(host.file("/root/molecule-cannot-start.json").content_string)
    assert outcome["failed"] is True, "the role passed while FRR could not run"
    assert outcome["task"] == "Fail unless FRR runs the rendered frr.conf"
    message = " ".join(outcome["msg"]) if isinstance(outcome["msg"], list) else outcome["msg"]
    assert f"{HOSTNAME}: FRR does not run /etc/frr/frr.conf" in message
    assert "Failed to execute interface eth4" in message  # the reload's own error is shown


def test_forwarding_is_on(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
