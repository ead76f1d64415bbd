"""The one flow compiler (network.zones.compile): a flow of zones.yml becomes, in one DC, the
addresses it runs from and to, its protocol and its ports. The firewall layers, the hosts' own
ACLs and Pulumi's security groups all start from these rules, so the expectations here are
written from allocations.yml and zones.yml by hand, never from the code under test."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import LAB, copy_inventory

from network import zones
from network.planned import planned
from network.zones.paths import hop_on


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    env = copy_inventory(LAB, tmp_path_factory.mktemp("compile") / "lab")
    network, allocations = planned(env)
    return zones.load(env, network=network), network, allocations


def rules(lab, dc: str) -> dict[str, zones.FlowRule]:
    policy, network, allocations = lab
    return {r.flow: r for r in zones.flows_to_rules(policy, dc, network, allocations)}


def test_one_flow_becomes_its_addresses_protocol_and_ports(lab):
    # F1: internal/middleware → core-db/database, postgresql (tcp 5432)
    assert rules(lab, "zj-dc")["F1"] == zones.FlowRule(
        "F1",
        "internal/middleware",
        "core-db/database",
        "postgresql",
        ("10.5.1.10/32",),  # app1, the only middleware host of zj-dc
        ("10.5.0.10/32",),  # db1
        "tcp",
        (5432,),
    )
    # the same flow at the DR site: its own hosts
    dr = rules(lab, "zj-dr")["F1"]
    assert (dr.sources, dr.dests) == (("10.5.6.10/32",), ("10.5.5.10/32",))


def test_a_whole_zone_end_is_its_subnet_and_the_internet_is_any_address(lab):
    f2 = rules(lab, "zj-dc")["F2"]  # ops/bastion → core-db, ssh
    assert (f2.sources, f2.dests, f2.proto, f2.ports) == (("10.5.2.12/32",), ("10.5.0.0/24",), "tcp", (22,))
    f13 = rules(lab, "zj-dc")["F13"]  # internet → dmz/declaration-web, https
    assert (f13.sources, f13.dests, f13.proto, f13.ports) == ((), ("10.5.4.10/32",), "tcp", (443,))


def test_a_flow_via_the_gatekeeper_is_no_ip_rule(lab):
    """F14 (dmz/declaration-web → internal/middleware) is a ferry of files: the compiler gives
    it no rule, so no firewall layer, host ACL or security group opens an IP path for it."""
    policy, network, allocations = lab
    assert "F14" not in rules(lab, "zj-dc")
    (ferry,) = zones.gatekeepers(policy, network, allocations)["zj-dc"].ferries
    assert ferry.flow == "F14"


def test_a_flow_inside_one_zone_is_a_rule_between_its_roles_on_no_layer(lab):
    """F17 (internal/web → internal/middleware, app-api): a rule between the two roles' hosts,
    which no firewall layer crosses (the security groups hold it)."""
    policy, _, _ = lab
    f17 = rules(lab, "zj-dc")["F17"]
    assert (f17.sources, f17.dests, f17.proto, f17.ports) == (("10.5.1.11/32",), ("10.5.1.10/32",), "tcp", (7001,))
    assert all(hop_on(policy, f17.source, f17.to, layer) is None for layer in policy.layers)
    assert f17.starts_at("internal", "web") and f17.ends_at("internal", "middleware")
    assert not f17.ends_at("internal", "web") and not f17.starts_at("internal", "middleware")


def test_a_flow_the_dr_site_lacks_an_end_of_is_not_compiled_there(lab):
    # zj-dr has no external zone and no backup host: F4 (ops/ops → external) has no destination
    # there, F7 (external → ops/ops) no source, F20 (ops/backup → core-db/database) no source
    assert {"F4", "F7", "F20"} <= set(rules(lab, "zj-dc"))
    assert not {"F4", "F7", "F20"} & set(rules(lab, "zj-dr"))


def test_any_service_compiles_to_no_protocol(tmp_path):
    env = copy_inventory(LAB, tmp_path / "lab")
    data = yaml.safe_load((env / "zones.yml").read_text())
    waiver = {"reason": "migration", "approved_by": "CISO", "expires": "2099-01-01"}
    extra = {"id": "F99", "from": "ops/ops", "to": "internal/web", "service": "any", "waiver": waiver}
    data["flows"].append({**extra, "reason": "migration", "owner": "operations", "review": "2027-01-31"})
    (env / "zones.yml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    network, allocations = planned(Path(env))
    f99 = rules((zones.load(env, network=network), network, allocations), "zj-dc")["F99"]
    assert (f99.sources, f99.dests, f99.proto, f99.ports) == (("10.5.2.10/32",), ("10.5.1.11/32",), None, ())
