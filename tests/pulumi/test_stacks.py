"""The DC and DR stacks under Pulumi mocks: resources per zone, security groups equal to the
flows of zones.yml and nothing more, anti-affinity per role, encrypted database volumes, the
DR stack mirroring what the model places at the DR site. Assertions run on the recorded
resources after the program has finished (never inside an apply that might not run).

The security groups are also held to reviewed golden files (tests/golden/pulumi/<stack>/
security_groups.json; JINBAO_UPDATE_GOLDEN=1 rewrites them, to be reviewed against zones.yml
before they are committed): the plan that builds the groups is not its own expectation."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import GOLDEN, ROOT
from golden import compare_text
from jinbao_cloud.components import DataCenter, Sizing
from jinbao_cloud.plan import site_plan

import pulumi

LAB = ROOT / "inventories" / "lab"
STACKS = [("zj-dc", "zhejiang-dc"), ("zj-dr", "zhejiang-dr")]


def sizing(stack: str) -> Sizing:
    config = yaml.safe_load((ROOT / "pulumi" / f"Pulumi.{stack}.yaml").read_text())["config"]
    c = {k.split(":", 1)[1]: v for k, v in config.items()}
    return Sizing(c["image"], c["external_network"], c["flavors"], c.get("volumes", {}))


def build(recorder, site: str, stack: str, env: Path = LAB) -> DataCenter:
    """Run the stack's program under the mocks and wait until every resource is registered."""
    plan = site_plan(env, site)
    finished = []

    @pulumi.runtime.test
    def program():
        dc = DataCenter(plan.site, plan, sizing(stack))
        build.dc = dc
        ids = [i.id for i in dc.instances.values()] + [r.id for r in dc.rules] + [v.id for v in dc.volumes]
        ids += [z.interface.id for z in dc.zones.values()] + [f.id for f in dc.floating_ips]
        return pulumi.Output.all(*ids).apply(lambda values: finished.append(len(values)))

    program()
    assert finished, "the program never finished: every assertion below would be vacuous"
    return build.dc


def rules_of(recorder) -> set[tuple]:
    """(security group, direction, protocol, port, remote) of every recorded rule."""
    groups = {f"{r['name']}-id": r["inputs"]["name"] for r in recorder.of("openstack:networking/secGroup:SecGroup")}
    return {
        (
            groups[r["inputs"]["securityGroupId"]],
            r["inputs"]["direction"],
            r["inputs"]["protocol"],
            r["inputs"]["portRangeMin"],
            r["inputs"]["remoteIpPrefix"],
        )
        for r in recorder.of("openstack:networking/secGroupRule:SecGroupRule")
    }


def policy_rules(site: str) -> set[tuple]:
    """The same tuples, straight from zones.yml (via the plan) — what the groups must equal."""
    plan = site_plan(LAB, site)
    return {(f"{site}-{r.group}", r.direction, r.protocol, r.port, r.remote) for r in plan.rules}


def security_groups(recorder) -> str:
    """Every security group the stack created and its rules, as OpenStack will hold them, in
    a stable order: what the golden files record and a reviewer reads against zones.yml."""
    groups = {f"{g['name']}-id": g["inputs"] for g in recorder.of("openstack:networking/secGroup:SecGroup")}
    found = {
        g["name"]: {
            "description": g.get("description"),
            "delete_default_rules": g.get("deleteDefaultRules"),
            "rules": [],
        }
        for g in groups.values()
    }
    for rule in recorder.of("openstack:networking/secGroupRule:SecGroupRule"):
        i = rule["inputs"]
        low, high = (int(i[k]) if i.get(k) is not None else "any" for k in ("portRangeMin", "portRangeMax"))
        found[groups[i["securityGroupId"]]["name"]]["rules"].append(
            {
                "direction": i.get("direction"),
                "ethertype": i.get("ethertype"),
                "protocol": i.get("protocol"),
                "ports": str(low) if low == high else f"{low}-{high}",
                "remote": i.get("remoteIpPrefix"),
                "description": i.get("description"),
            }
        )
    for group in found.values():
        group["rules"].sort(key=lambda r: json.dumps(r, sort_keys=True))
    return json.dumps(dict(sorted(found.items())), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(("site", "stack"), STACKS)
def test_security_groups_are_the_reviewed_golden_file(recorder, site, stack):
    build(recorder, site, stack)
    compare_text(security_groups(recorder), GOLDEN / stack / "security_groups.json")


def test_a_plan_widened_to_whole_zones_differs_from_the_golden_file(recorder, monkeypatch):
    """A security group taking the flows of every role of its zone (the web tier gets the
    middleware's way to the database) leaves the plan-vs-stack comparison equal, and the
    golden file not."""
    from network import zones

    monkeypatch.setattr(zones.FlowRule, "starts_at", lambda rule, zone, role: rule.source.split("/")[0] == zone)
    monkeypatch.setattr(zones.FlowRule, "ends_at", lambda rule, zone, role: rule.to.split("/")[0] == zone)
    build(recorder, "zj-dc", "zhejiang-dc")
    assert rules_of(recorder) == policy_rules("zj-dc")  # the self-comparison cannot see it
    widened = json.loads(security_groups(recorder))["zj-dc-internal-web"]["rules"]
    reviewed = json.loads((GOLDEN / "zhejiang-dc" / "security_groups.json").read_text())["zj-dc-internal-web"]["rules"]
    assert [r for r in reviewed if r["ports"] == "5432"] == []
    assert [r for r in widened if r["ports"] == "5432" and r["direction"] == "egress"], widened


def test_the_dc_has_a_network_subnet_and_router_leg_per_zone(recorder):
    build(recorder, "zj-dc", "zhejiang-dc")
    plan = site_plan(LAB, "zj-dc")
    subnets = {r["inputs"]["name"]: r["inputs"]["cidr"] for r in recorder.of("openstack:networking/subnet:Subnet")}
    assert subnets == {f"zj-dc-{zone}": cidr for zone, cidr in plan.zones.items()}
    assert len(recorder.of("openstack:networking/network:Network")) == len(plan.zones) == 6
    assert len(recorder.of("openstack:networking/routerInterface:RouterInterface")) == 6
    assert len(recorder.of("openstack:networking/router:Router")) == 1
    instances = recorder.of("openstack:compute/instance:Instance")
    per_zone = Counter(r["inputs"]["metadata"]["jinbao_zone"] for r in instances)
    assert per_zone == Counter(h.zone for h in plan.hosts)


def test_security_groups_are_the_zone_policy_and_nothing_more(recorder):
    build(recorder, "zj-dc", "zhejiang-dc")
    assert rules_of(recorder) == policy_rules("zj-dc")
    # spot checks against zones.yml: F1 (middleware → database, 5432) and F13 (internet → DMZ, 443)
    assert ("zj-dc-core-db-database", "ingress", "tcp", 5432, "10.5.1.10/32") in rules_of(recorder)
    assert ("zj-dc-dmz-declaration-web", "ingress", "tcp", 443, "0.0.0.0/0") in rules_of(recorder)
    assert ("zj-dc-internal-middleware", "egress", "tcp", 5432, "10.5.0.10/32") in rules_of(recorder)
    # the web server is not the middleware: it gets no way to the database
    assert not [r for r in rules_of(recorder) if r[0] == "zj-dc-internal-web" and r[3] == 5432]
    # F17, inside one zone (web → middleware, 7001): no firewall layer holds it, the groups do,
    # and only for that pair of roles
    web, middleware = (
        f"{h.address}/32" for name in ("web1", "app1") for h in site_plan(LAB, "zj-dc").hosts if h.name == name
    )
    assert ("zj-dc-internal-middleware", "ingress", "tcp", 7001, web) in rules_of(recorder)
    assert ("zj-dc-internal-web", "egress", "tcp", 7001, middleware) in rules_of(recorder)
    assert {r[0] for r in rules_of(recorder) if r[3] == 7001} == {"zj-dc-internal-middleware", "zj-dc-internal-web"}
    groups = recorder.of("openstack:networking/secGroup:SecGroup")
    assert all(g["inputs"]["deleteDefaultRules"] for g in groups)


def test_one_port_more_than_zones_yml_allows_is_caught(recorder):
    """The comparison above fails when a group opens one port more than the policy."""
    dc = build(recorder, "zj-dc", "zhejiang-dc")
    extra_done = []

    @pulumi.runtime.test
    def add_one():
        import pulumi_openstack as openstack

        extra = openstack.networking.SecGroupRule(
            "one-port-more",
            security_group_id=dc.security_groups["core-db-database"].id,
            direction="ingress",
            ethertype="IPv4",
            protocol="tcp",
            port_range_min=5433,
            port_range_max=5433,
            remote_ip_prefix="10.5.1.10/32",
        )
        return extra.id.apply(extra_done.append)

    add_one()
    assert extra_done
    difference = rules_of(recorder) - policy_rules("zj-dc")
    assert difference == {("zj-dc-core-db-database", "ingress", "tcp", 5433, "10.5.1.10/32")}
    with pytest.raises(AssertionError):
        assert rules_of(recorder) == policy_rules("zj-dc")


def test_each_role_has_an_anti_affinity_group_and_its_instances_use_it(recorder):
    build(recorder, "zj-dc", "zhejiang-dc")
    groups = {f"{g['name']}-id": g["inputs"] for g in recorder.of("openstack:compute/serverGroup:ServerGroup")}
    assert groups and all(g["policies"] == "anti-affinity" for g in groups.values())
    for instance in recorder.of("openstack:compute/instance:Instance"):
        hint = instance["inputs"]["schedulerHints"][0]["group"]
        assert groups[hint]["name"] == f"zj-dc-{instance['inputs']['metadata']['jinbao_role']}"


def test_instances_are_sized_per_role_and_database_volumes_are_encrypted(recorder):
    build(recorder, "zj-dc", "zhejiang-dc")
    instances = recorder.of("openstack:compute/instance:Instance")
    flavors = {i["inputs"]["name"]: i["inputs"]["flavorName"] for i in instances}
    assert flavors["zj-dc-db1"] == "m1.xlarge" and flavors["zj-dc-web1"] == "m1.medium"
    volumes = recorder.of("openstack:blockstorage/volume:Volume")
    # the backups on the backup host (pgBackRest's repository), the data beside the database
    assert sorted(v["inputs"]["name"] for v in volumes) == ["zj-dc-bak1-backup", "zj-dc-db1-database"]
    assert flavors["zj-dc-bak1"] == "m1.large"
    assert {v["inputs"]["volumeType"] for v in volumes} == {"encrypted-luks"}
    assert len(recorder.of("openstack:compute/volumeAttach:VolumeAttach")) == 2
    fips = recorder.of("openstack:networking/floatingIp:FloatingIp")
    assert [f["inputs"]["tags"] for f in fips] == [["zone=dmz"]]


def test_the_dr_stack_mirrors_what_the_model_places_at_the_dr_site(recorder):
    build(recorder, "zj-dr", "zhejiang-dr")
    dr = site_plan(LAB, "zj-dr")
    dc = site_plan(LAB, "zj-dc")
    instances = recorder.of("openstack:compute/instance:Instance")
    assert sorted(i["inputs"]["name"] for i in instances) == sorted(h.hostname for h in dr.hosts)
    # the same zones and roles as the DC's for what it mirrors, its own subnets and sizes
    assert set(dr.zones) <= set(dc.zones) and {h.role for h in dr.hosts} <= {h.role for h in dc.hosts}
    assert not set(dr.zones.values()) & set(dc.zones.values())
    assert {i["inputs"]["flavorName"] for i in instances} == {"m1.large", "m1.medium", "m1.small"}
    assert rules_of(recorder) == policy_rules("zj-dr")
    # the flows across the DR pair (zones.yml `across`): replication both ways with the DC's
    # database, and the DC's middleware to the database here after a DR move
    hosts = yaml.safe_load((LAB / "allocations.yml").read_text())["hosts"]
    dc_db, dc_app = (f"{hosts[f'zj-dc/{h}']['address']}/32" for h in ("db1", "app1"))
    found = rules_of(recorder)
    assert {("zj-dr-core-db-database", way, "tcp", 5432, dc_db) for way in ("ingress", "egress")} <= found
    assert ("zj-dr-core-db-database", "ingress", "tcp", 5432, dc_app) in found


def test_a_role_without_a_flavor_is_refused_naming_the_site_and_role():
    plan = site_plan(LAB, "zj-dc")
    thin = Sizing("img", "ext", {"database": "m1.large"}, {})

    @pulumi.runtime.test
    def program():
        DataCenter(plan.site, plan, thin)

    pulumi.runtime.set_mocks(__import__("conftest").Recorder(), project="jinbao-dc", stack="t", preview=False)
    with pytest.raises(ValueError, match="zj-dc: no flavor for role"):
        program()
