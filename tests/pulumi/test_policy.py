"""The policy pack's validations, called directly with violating and compliant resources,
and with every resource the DC stack creates (which must all pass). The stack check (an
open rule's group must sit on the DMZ's network) gets the recorded stack as the Pulumi
engine would hand it: resources with the dependencies of their properties."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

sys.path.insert(0, str(ROOT / "pulumi" / "policy"))
import rules


def violations(resource_type: str, props: dict, name: str = "r") -> list[str]:
    found = []
    args = ResourceValidationArgs(resource_type, props, f"urn:pulumi:t::p::{resource_type}::{name}", name, None, None)
    for _, check in rules.CHECKS.values():
        check(args, lambda message, urn=None: found.append(message))
    return found


SECGROUP = "openstack:networking/secGroup:SecGroup"
RULE = {"direction": "ingress", "protocol": "tcp", "ethertype": "IPv4"}
CASES = [
    ("open ssh to the core database", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "0.0.0.0/0", "description": "zone=core-db F2"},
     "allowed only to the declaration DMZ"),
    ("open https outside the DMZ", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0", "description": "zone=internal"},
     "in zone internal"),
    ("open every port of the DMZ", rules.SECGROUP_RULE,
     {**RULE, "remoteIpPrefix": "0.0.0.0/0", "description": "zone=dmz F13"}, "any-any"),
    ("unencrypted database volume", rules.VOLUME,
     {"size": 500, "volumeType": "ssd", "metadata": {"jinbao_role": "database"}}, "encrypted volume type"),
    ("floating IP on the internal network", rules.FLOATING_IP, {"pool": "ext", "tags": ["zone=internal"]},
     "in internal"),
    ("floating IP with no zone", rules.FLOATING_IP, {"pool": "ext"}, "no zone"),
    ("instance on a network by name", rules.INSTANCE,
     {"metadata": {"jinbao_zone": "internal"}, "networks": [{"name": "public"}]}, "through ports"),
    ("instance without a zone", rules.INSTANCE, {"networks": [{"port": "p1"}]}, "belongs to a security zone"),
    # a rule with no remote prefix is open to any source (OpenStack's reading of it)
    ("no remote prefix to the core database", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 5432, "portRangeMax": 5432, "description": "zone=core-db F1"},
     "ingress from anywhere (no remoteIpPrefix)"),
    ("no remote prefix on every port of the DMZ", rules.SECGROUP_RULE,
     {**RULE, "description": "zone=dmz F13"}, "ingress from anywhere (no remoteIpPrefix)"),
    # half the internet is as open as all of it; so is any prefix reaching beyond private space
    ("0.0.0.0/1 to the core database", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": "0.0.0.0/1",
      "description": "zone=core-db F1"}, "ingress from 0.0.0.0/1"),
    ("128.0.0.0/1 to ssh", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "128.0.0.0/1",
      "description": "zone=ops F2"}, "ingress from 128.0.0.0/1"),
    ("a public /24 to ssh", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "203.0.113.0/24",
      "description": "zone=ops F2"}, "ingress from 203.0.113.0/24"),
    ("8.0.0.0/5 (wider than 10/8) to ssh", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "8.0.0.0/5",
      "description": "zone=ops F2"}, "ingress from 8.0.0.0/5"),
    ("::/1 over IPv6", rules.SECGROUP_RULE,
     {**RULE, "ethertype": "IPv6", "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "::/1",
      "description": "zone=ops F2"}, "ingress from ::/1"),
    # egress to anywhere: never, the DMZ included
    ("egress to 0.0.0.0/0", rules.SECGROUP_RULE,
     {**RULE, "direction": "egress", "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0",
      "description": "zone=internal"}, "egress to 0.0.0.0/0"),
    ("egress with no remote prefix", rules.SECGROUP_RULE,
     {**RULE, "direction": "egress", "description": "zone=core-db"}, "egress to anywhere (no remoteIpPrefix)"),
    ("egress from the DMZ to the internet", rules.SECGROUP_RULE,
     {**RULE, "direction": "egress", "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0",
      "description": "zone=dmz F13"}, "in zone dmz"),
]  # fmt: skip
COMPLIANT = [
    ("https to the DMZ", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0", "description": "zone=dmz F13"}),
    ("database port from the middleware", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": "10.5.1.10/32",
      "description": "zone=core-db F1"}),
    ("encrypted database volume", rules.VOLUME,
     {"size": 500, "volumeType": "encrypted-luks", "metadata": {"jinbao_role": "database"}}),
    ("a plain volume of another role", rules.VOLUME, {"size": 50, "volumeType": "ssd", "metadata": {}}),
    ("floating IP in the DMZ", rules.FLOATING_IP, {"pool": "ext", "tags": ["zone=dmz"]}),
    ("instance on its zone's port", rules.INSTANCE,
     {"metadata": {"jinbao_zone": "internal"}, "networks": [{"port": "p1"}]}),
    ("egress to the database from the middleware", rules.SECGROUP_RULE,
     {**RULE, "direction": "egress", "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": "10.5.0.10/32",
      "description": "zone=internal F1"}),
    ("syslog from the whole provincial WAN", rules.SECGROUP_RULE,
     {**RULE, "portRangeMin": 514, "portRangeMax": 514, "remoteIpPrefix": "10.0.0.0/13",
      "description": "zone=ops F15"}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "typ", "props", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_violating_resource_is_reported(case, typ, props, message):
    found = violations(typ, props)
    assert len(found) == 1 and message in found[0], found


@pytest.mark.parametrize(("case", "typ", "props"), COMPLIANT, ids=[c[0] for c in COMPLIANT])
def test_a_compliant_resource_passes(case, typ, props):
    assert violations(typ, props) == []


def test_everything_the_dc_stack_creates_passes_the_pack(recorder):
    from test_stacks import build

    build(recorder, "zj-dc", "zhejiang-dc")
    assert len(recorder.resources) > 50
    found = [v for r in recorder.resources for v in violations(r["type"], r["inputs"], r["name"])]
    assert found == []
    stack = recorded_stack(recorder)
    open_rules = [r for r in stack if r.resource_type == rules.SECGROUP_RULE and rules.anywhere(r.props)]
    assert [r.property_dependencies["securityGroupId"][0].name for r in open_rules] == ["zj-dc-dmz-declaration-web"]
    assert stack_violations(stack) == []


def test_the_dc_stacks_open_rule_moved_to_the_database_group_is_reported(recorder):
    """The same stack with F13's rule in the database's group (its zone=dmz label kept)."""
    from test_stacks import build

    build(recorder, "zj-dc", "zhejiang-dc")
    stack = recorded_stack(recorder)
    (f13,) = [r for r in stack if r.resource_type == rules.SECGROUP_RULE and rules.anywhere(r.props)]
    database = next(r for r in stack if r.name == "zj-dc-core-db-database" and r.resource_type == SECGROUP)
    f13.property_dependencies["securityGroupId"] = [database]
    found = stack_violations(stack)
    assert len(found) == 2, found  # open to anywhere outside the DMZ, and a range into the core database
    assert "ports are on core-db" in found[0] and "admits single hosts only" in found[1], found


# --- the stack check: the DMZ exemption comes from where the group's ports are ---------------
def resource(typ: str, name: str, props: dict, **depends_on) -> PolicyResource:
    deps = {key: value if isinstance(value, list) else [value] for key, value in depends_on.items()}
    urn = f"urn:pulumi:t::p::{typ}::{name}"
    return PolicyResource(typ, props, urn, name, None, None, None, [d for v in deps.values() for d in v], deps)


def stack_violations(resources: list[PolicyResource]) -> list[str]:
    found = []
    for _, check in rules.STACK_CHECKS.values():
        check(StackValidationArgs(resources), lambda message, urn=None: found.append(message))
    return found


def open_https(group: PolicyResource, label: str = "zone=dmz F13") -> PolicyResource:
    props = {**RULE, "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0", "description": label}
    return resource(rules.SECGROUP_RULE, f"{group.name}-https", props, securityGroupId=group)


def zone_network(zone: str) -> PolicyResource:
    return resource(rules.NETWORK, f"dc-{zone}", {"name": f"dc-{zone}", "tags": [f"zone={zone}"]})


def group_on(name: str, *networks: PolicyResource) -> tuple[PolicyResource, list[PolicyResource]]:
    group = resource(SECGROUP, name, {"name": name, "tags": ["zone=dmz"]})
    ports = [
        resource(rules.PORT, f"{name}-port{i}", {"name": f"{name}-port{i}"}, networkId=n, securityGroupIds=[group])
        for i, n in enumerate(networks)
    ]
    return group, ports


def test_a_group_that_labels_itself_dmz_on_another_zones_network_is_reported():
    core = zone_network("core-db")
    group, ports = group_on("dc-core-db-database", core)
    rule = open_https(group)
    assert violations(rule.resource_type, dict(rule.props), rule.name) == []  # the label alone passes each rule
    found = stack_violations([core, group, *ports, rule])
    assert len(found) == 2 and "ports are on core-db" in found[0] and "zone=dmz does not make it so" in found[0]
    assert "admits single hosts only" in found[1]


def test_a_group_on_the_dmz_and_another_network_or_on_none_is_reported():
    dmz, internal = zone_network("dmz"), zone_network("internal")
    both, both_ports = group_on("dc-both", dmz, internal)
    unattached, _ = group_on("dc-nowhere")
    found = stack_violations([dmz, internal, both, *both_ports, open_https(both), unattached, open_https(unattached)])
    assert len(found) == 2, found
    assert "ports are on dmz, internal" in found[0] and "ports are on no network" in found[1]


def test_https_from_anywhere_to_a_group_on_the_dmz_network_passes():
    dmz = zone_network("dmz")
    group, ports = group_on("dc-dmz-declaration-web", dmz)
    assert stack_violations([dmz, group, *ports, open_https(group)]) == []


@pytest.mark.parametrize("remote", ["10.0.0.0/8", "10.5.1.0/24", None])
def test_a_range_admitted_to_the_core_database_is_reported(remote):
    """Private is not narrow: the whole national WAN is 10.0.0.0/8."""
    core = zone_network("core-db")
    group, ports = group_on("dc-core-db-database", core)
    props = {**RULE, "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": remote, "description": "F1"}
    rule = resource(rules.SECGROUP_RULE, "dc-core-db-pg", props, securityGroupId=group)
    found = stack_violations([core, group, *ports, rule])
    assert [m for m in found if "admits single hosts only" in m], found


def test_a_single_host_admitted_to_the_core_database_passes():
    core = zone_network("core-db")
    group, ports = group_on("dc-core-db-database", core)
    props = {**RULE, "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": "10.5.1.10/32", "description": "F1"}
    rule = resource(rules.SECGROUP_RULE, "dc-core-db-pg", props, securityGroupId=group)
    assert stack_violations([core, group, *ports, rule]) == []


def recorded_stack(recorder) -> list[PolicyResource]:
    """The recorded resources as the engine hands them to a stack check: the resources a
    property's value names (the mocks' ids are `<name>-id`) are its dependencies."""
    refers = {"securityGroupId": SECGROUP, "securityGroupIds": SECGROUP, "networkId": rules.NETWORK}
    made = [
        PolicyResource(r["type"], r["inputs"], f"urn:pulumi:t::p::{r['type']}::{r['name']}", r["name"], None, None,
                       None, [], {})
        for r in recorder.resources
    ]  # fmt: skip
    by_id = {(p.resource_type, f"{p.name}-id"): p for p in made}
    for policy_resource in made:
        for key, typ in refers.items():
            value = policy_resource.props.get(key)
            ids = value if isinstance(value, list) else [value] if value else []
            policy_resource.property_dependencies[key] = [by_id[(typ, i)] for i in ids]
    return made
