"""The policy pack's validations, called directly with violating and compliant resources,
and with every resource the DC stack creates (which must all pass)."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT
from pulumi_policy import ResourceValidationArgs

sys.path.insert(0, str(ROOT / "pulumi" / "policy"))
import rules


def violations(resource_type: str, props: dict, name: str = "r") -> list[str]:
    found = []
    args = ResourceValidationArgs(resource_type, props, f"urn:pulumi:t::p::{resource_type}::{name}", name, None, None)
    for _, check in rules.CHECKS.values():
        check(args, lambda message, urn=None: found.append(message))
    return found


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
