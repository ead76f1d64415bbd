"""zones.yml: the protection rules refuse what they forbid (naming the flow), the policy
compiles to nftables and Huawei USG (golden files; nftables checked and loaded by nft
itself), a new flow opens exactly one rule, and the stale-rule report reads real counters."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import GOLDEN, LAB, copy_inventory
from golden import compare_tree

from network import zones
from network.audit.counters import stale, stale_usg
from network.errors import ModelError
from network.planned import planned

NFT = shutil.which("nft") or "/usr/sbin/nft"


@pytest.fixture
def env(tmp_path) -> Path:
    return copy_inventory(LAB, tmp_path / "lab")


def edit_flows(env: Path, change) -> None:
    path = env / "zones.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def flow(id_, source, to, service, **extra) -> dict:
    base = {"id": id_, "from": source, "to": to, "service": service, "reason": "held back for review"}
    return {**base, "owner": "security review", "review": "2027-01-31", **extra}


def test_the_lab_policy_compiles_as_the_golden_files(env, tmp_path):
    policy = zones.load(env)
    network, allocations = planned(env)
    out = tmp_path / "out"
    out.mkdir()
    for name, text in zones.render_all(policy, network, allocations).items():
        (out / name).write_text(text)
    compare_tree(out, GOLDEN / "zones" / "lab")


def test_every_nftables_layer_is_accepted_by_nft(env):
    policy = zones.load(env)
    network, allocations = planned(env)
    files = zones.render_all(policy, network, allocations)
    assert {n.rsplit(".", 1)[1] for n in files} == {"nft", "cfg"}, "both vendors are rendered"
    for name, text in files.items():
        if name.endswith(".nft"):
            check = subprocess.run([NFT, "-c", "-f", "-"], input=text, text=True, capture_output=True)
            assert check.returncode == 0, f"{name}: {check.stderr}"


EXPIRED = {"reason": "migration", "approved_by": "CISO", "expires": "2020-01-01"}
WAIVED = {"reason": "migration", "approved_by": "CISO", "expires": "2099-01-01"}
DATABASE_RULE = "the core database's database service is reached only by internal/middleware and ops/bastion"
HELD_BACK = [
    (flow("X1", "internet", "core-db", "postgresql"), "to", "nothing from the internet zone may reach the core"),
    (flow("X2", "partner", "core-db/database", "postgresql"), "to", "nothing from the partner zone"),
    (flow("X3", "internet", "internal", "https"), "to", "the internet reaches the DMZ only"),
    (flow("X4", "dmz/declaration-web", "internal/middleware", "https"), "via", "only through the gatekeeper"),
    (flow("X5", "internal", "core-db", "any"), "service", "is `any`: it needs a waiver"),
    (flow("X6", "ops/ops", "any", "ssh"), "to", "is `any`: it needs a waiver"),
    (
        flow("X7", "internal", "core-db", "any", waiver=EXPIRED),
        "waiver.expires",
        "the waiver expired on 2020-01-01",
    ),
    (flow("X8", "internal", "vault", "ssh"), "to", "zone 'vault' is not declared"),
    (flow("X9", "internal", "core-db", "mysql"), "service", "'mysql' is not declared under services"),
    # inside one zone only between two named roles of it, never through the gatekeeper
    (flow("X10", "internal", "internal/middleware", "app-api"), "to", "between two of its roles"),
    (flow("X11", "internal/web", "internal/web", "app-api"), "to", "between two of its roles"),
    (flow("X12", "dmz/declaration-web", "dmz/proxy", "declarations", via="gatekeeper"), "via", "not inside one"),
    # the core database's database service: the middleware, and ops/bastion for audited maintenance, only
    (flow("X13", "external", "core-db", "postgresql"), "from", DATABASE_RULE),
    (flow("X14", "wan", "core-db", "postgresql"), "from", DATABASE_RULE),
    (flow("X15", "internal/web", "core-db", "postgresql"), "from", DATABASE_RULE),
    (flow("X16", "internal/web", "core-db/database", "postgresql"), "from", DATABASE_RULE),
    (flow("X17", "internal", "core-db/database", "postgresql"), "from", DATABASE_RULE),  # the web tier too
    (flow("X18", "ops", "core-db", "postgresql"), "from", DATABASE_RULE),  # not only the bastion
    (flow("X26", "ops/ops", "core-db/database", "postgresql"), "from", DATABASE_RULE),  # not the unrecorded host
    (flow("X19", "external/front-end-processor", "core-db", "postgresql"), "from", DATABASE_RULE),
    (flow("X20", "internal/web", "core-db", "pg-alt"), "from", DATABASE_RULE),  # its port under another name
    (flow("X21", "internal/web", "core-db", "any", waiver=WAIVED), "from", DATABASE_RULE),
    (flow("X22", "internal/web", "any", "postgresql", waiver=WAIVED), "from", DATABASE_RULE),
    # a zone/role end no DC has compiles to nothing: refused
    (flow("X23", "ops/admin", "core-db", "ssh"), "from", "no DC of lab has a host of role 'admin' in zone 'ops'"),
    (flow("X24", "internal/middleware", "core-db/databse", "postgresql"), "to", "role 'databse' in zone 'core-db'"),
    (flow("X25", "internal/database", "ops/ops", "syslog"), "from", "role 'database' in zone 'internal'"),
]  # fmt: skip


@pytest.mark.parametrize(("held_back", "field", "message"), HELD_BACK, ids=[h[0]["id"] for h in HELD_BACK])
def test_a_held_back_flow_is_refused_naming_it(env, tmp_path, held_back, field, message):
    def add(data):
        data["services"]["pg-alt"] = {"proto": "tcp", "ports": [5432]}
        data["flows"].append(held_back)

    edit_flows(env, add)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ModelError) as caught:
        zones.load(env)
    index = len(yaml.safe_load((env / "zones.yml").read_text())["flows"]) - 1
    problems = [p for p in caught.value.problems if p.where.startswith(f"flows[{index}] ({held_back['id']}:")]
    assert problems, caught.value.problems
    assert problems[0].file == "zones.yml" and problems[0].field == field and message in problems[0].message
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_the_cli_refuses_the_internet_to_the_core_database_before_anything_is_rendered(env, in_tmp):
    from typer.testing import CliRunner

    from network.cli import app

    edit_flows(env, lambda data: data["flows"].append(flow("X1", "internet", "core-db", "postgresql")))
    result = CliRunner().invoke(app, ["zones", "render", str(env)])
    assert result.exit_code == 2
    assert "X1: internet → core-db postgresql" in result.output
    assert not (in_tmp / "build").exists()


def test_the_cli_refuses_the_web_tier_to_the_database_naming_the_flow_and_the_rule(env):
    from typer.testing import CliRunner

    from network.cli import app

    edit_flows(env, lambda data: data["flows"].append(flow("X15", "internal/web", "core-db", "postgresql")))
    result = CliRunner().invoke(app, ["zones", "validate", str(env)])
    assert result.exit_code == 2
    assert "X15: internal/web → core-db postgresql" in result.output
    assert DATABASE_RULE in " ".join(result.output.split())
    assert "✓" not in result.output


def test_a_yaml_syntax_error_names_the_file_and_line(env, in_tmp):
    from typer.testing import CliRunner

    from network.cli import app

    path = env / "zones.yml"
    lines = path.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if line.startswith("  ssh:"))
    lines[broken] = "  ssh: {proto: tcp, ports: [22]"  # the mapping is never closed
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError) as caught:
        zones.load(env)
    (problem,) = caught.value.problems
    assert problem.file == "zones.yml" and problem.where == f"line {broken + 2}", problem
    assert "is not valid YAML" in problem.message
    for command in (["zones", "validate", str(env)], ["zones", "render", str(env)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert f"zones.yml: line {broken + 2}: is not valid YAML" in result.output
        assert "Traceback" not in result.output
    assert not (in_tmp / "build").exists()


def test_the_maintenance_flow_from_the_audited_console_to_the_database_is_allowed(env):
    edit_flows(env, lambda data: data["flows"].append(flow("F99", "ops/bastion", "core-db/database", "postgresql")))
    assert "F99" in {f.id for f in zones.load(env).flows}


def test_adjacent_layers_of_one_vendor_are_refused(env):
    def same_vendor(data):
        data["layers"][1]["vendor"] = "nftables"

    edit_flows(env, same_vendor)
    with pytest.raises(ModelError, match="adjacent layers must differ"):
        zones.load(env)


def test_a_new_flow_opens_exactly_one_rule(env):
    network, allocations = planned(env)
    before = zones.render(zones.load(env), network, allocations, "zj-dc", "inner").splitlines()
    metrics = flow("F99", "ops/ops", "core-db/database", "app-api")  # e.g. a monitoring agent on the operations host
    edit_flows(env, lambda data: data["flows"].append(metrics))
    after = zones.render(zones.load(env), network, allocations, "zj-dc", "inner").splitlines()
    added = [line for line in after if line not in before]
    assert added == [
        "\t\tip saddr { 10.5.2.10/32 } ip daddr { 10.5.0.10/32 } tcp dport { 7001 } ct state new counter accept "
        'comment "F99 ops/ops->core-db/database app-api"'
    ]
    assert [line for line in before if line not in after] == []


def test_a_flow_through_two_layers_is_in_both_as_each_layer_sees_it(env):
    policy = zones.load(env)
    network, allocations = planned(env)
    inner = {r.flow: r for r in zones.compile_rules(policy, network, allocations, "zj-dc", "inner")}
    outer = {r.flow: r for r in zones.compile_rules(policy, network, allocations, "zj-dc", "outer")}
    # F4: ops → external crosses the inner layer (ops → internal) and the outer one (internal → external)
    assert (inner["F4"].source_zone, inner["F4"].dest_zone) == ("ops", "internal")
    assert (outer["F4"].source_zone, outer["F4"].dest_zone) == ("internal", "external")
    assert "F1" in inner and "F1" not in outer
    assert "F14" not in inner and "F14" not in outer  # the gatekeeper's ferry is no IP path


def test_a_flow_inside_one_zone_is_on_no_firewall_layer(env):
    """F17 (internal/web → internal/middleware): no layer stands inside a zone, so none compiles
    it; the cloud's security groups hold it (tests/pulumi)."""
    policy = zones.load(env)
    network, allocations = planned(env)
    (f17,) = [f for f in policy.flows if f.id == "F17"]
    assert (f17.source, f17.to, f17.service) == ("internal/web", "internal/middleware", "app-api")
    for dc in ("zj-dc", "zj-dr"):
        for layer in policy.layers:
            assert "F17" not in {r.flow for r in zones.compile_rules(policy, network, allocations, dc, layer.name)}
    for text in zones.render_all(policy, network, allocations).values():
        assert "F17" not in text
        # the web tier to the other site's middleware (F28, across the DR pair) does cross a layer
        assert all("F28 " in line for line in text.splitlines() if "7001" in line)


def test_stale_rules_come_from_the_loaded_rulesets_counters(env):
    policy = zones.load(env)
    network, allocations = planned(env)
    text = zones.render(policy, network, allocations, "zj-dc", "inner")
    # F1 and F6 have matched traffic since the load; the rest have not
    for flow_id, packets in (("F1", 12), ("F6", 3)):
        marker = f'counter accept comment "{flow_id} '
        assert marker in text
        text = text.replace(marker, f'counter packets {packets} bytes {packets * 60} accept comment "{flow_id} ')
    script = f"{NFT} -f - && {NFT} -j list table inet jinbao_zones"
    loaded = subprocess.run(["unshare", "--net", "sh", "-c", script], input=text, text=True, capture_output=True)
    assert loaded.returncode == 0, loaded.stderr
    report = stale(loaded.stdout, "2026-11-01")
    assert [r["flow"] for r in report] == [
        "F2", "F3", "F4", "F5", "F7", "F8", "F9", "F10", "F15", "F16", "F18", "F19", "F20", "F21", "F22", "F23", "F24",
        "F25",  # the flows across the DR pair, each way it runs here
        "F26", "F26", "F27", "F27", "F28", "F28", "F29", "F29", "F30", "F30", "F31", "F31", "F32", "F32",
        "F33", "F34", "F35", "F36", "F37", "F38", "F39", "F40",
    ]  # fmt: skip
    assert all(r["packets"] == 0 and r["since"] == "2026-11-01" for r in report)
    assert json.loads(loaded.stdout)["nftables"]  # real nft output, not a fixture


USG_RULES = """\
Total:5
RULE ID  RULE NAME                         STATE      ACTION       HITS
-------------------------------------------------------------------------------
1        F4                                enable     permit       0
2        F7                                enable     permit       1452
3        F10                               enable     permit       88
4        F11                               enable     permit       0
0        default-deny                      enable     deny         3310
-------------------------------------------------------------------------------
"""


def test_stale_rules_on_a_usg_and_through_the_cli(env, tmp_path):
    from typer.testing import CliRunner

    from network.cli import app

    assert [r["flow"] for r in stale_usg(USG_RULES, "2026-11-01")] == ["F4", "F11"]
    counters = tmp_path / "usg.txt"
    counters.write_text(USG_RULES)
    result = CliRunner().invoke(app, ["zones", "stale", str(env), str(counters), "--since", "2026-11-01", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)["stale"]
    assert [(r["flow"], r["owner"]) for r in report] == [("F4", "operations"), ("F11", "exchange team")]


def test_the_wan_is_every_lan_line_and_loopback_and_of_the_dcs_only_the_routers_legs(env):
    network, allocations = planned(env)
    wan = [ipaddress.ip_network(n) for n in zones.wan_addresses(network, allocations)]
    covered = [s["lan"] for s in allocations.sites.values()] + [x["subnet"] for x in allocations.links.values()]
    covered += [f"{d['loopback']}/32" for d in allocations.devices.values()]
    for cidr in covered:
        assert any(ipaddress.ip_network(cidr).subnet_of(n) for n in wan), cidr
    for zone, subnet in allocations.zones.items():
        inside = [n for n in wan if n.overlaps(ipaddress.ip_network(subnet))]
        if zone.split("/")[1] in network.policy.unrouted_zones:
            assert inside == [], zone  # the DMZ has no router leg
        else:
            gateway = next(ipaddress.ip_network(subnet).hosts())
            assert inside == [ipaddress.ip_network(f"{gateway}/32")], zone
    assert len(wan) < len(covered)  # collapsed


def test_the_dmz_reaches_the_wan_only_through_the_gatekeeper(env):
    edit_flows(env, lambda data: data["flows"].append(flow("X10", "dmz/declaration-web", "wan", "https")))
    with pytest.raises(ModelError) as caught:
        zones.load(env)
    assert any(p.field == "via" and "X10" in p.where for p in caught.value.problems)


def test_a_hosts_own_acl_admits_ssh_from_exactly_the_flows_sources(env):
    policy = zones.load(env)
    network, allocations = planned(env)
    console = f"{allocations.hosts['zj-dc/bastion1']['address']}/32"  # the audited console (F2)
    backup = f"{allocations.hosts['zj-dc/bak1']['address']}/32"  # pgBackRest (F20)
    assert zones.admitted(policy, "ssh", "zj-dc", "core-db", "database", network, allocations) == (backup, console)
    assert zones.admitted(policy, "ssh", "zj-dc", "ops", "ops", network, allocations) == ()
    # at the DR site: its own bastion (F2) and the DC's, across the pair (F39)
    dr_console = f"{allocations.hosts['zj-dr/bastion1']['address']}/32"
    assert zones.admitted(policy, "ssh", "zj-dr", "core-db", "database", network, allocations) == (console, dr_console)
    edit_flows(env, lambda data: data["flows"].append(flow("F99", "internal", "core-db/database", "ssh")))
    widened = zones.admitted(zones.load(env), "ssh", "zj-dc", "core-db", "database", network, allocations)
    assert sorted(widened) == sorted([console, backup, allocations.zones["zj-dc/internal"]])


def test_a_flow_across_the_dr_pair_compiles_in_each_site_towards_the_other(env):
    """F26 (core-db/database ↔ core-db/database, across: dr): in each DC one permit out to the
    peer's database over the WAN and one in from it; F33 (dr-to-dc) only the one way."""
    policy = zones.load(env)
    network, allocations = planned(env)
    dc_db, dr_db = (f"{allocations.hosts[f'{s}/db1']['address']}/32" for s in ("zj-dc", "zj-dr"))
    for here, mine, peer in (("zj-dc", dc_db, dr_db), ("zj-dr", dr_db, dc_db)):
        compiled = zones.compile_rules(policy, network, allocations, here, "inner")
        f26 = {(r.source_zone, r.dest_zone, r.sources, r.dests, r.name) for r in compiled if r.flow == "F26"}
        assert f26 == {
            ("core-db", "wan", (mine,), (peer,), "F26-out"),
            ("wan", "core-db", (peer,), (mine,), "F26-in"),
        }, here
    f33 = lambda dc: [r for r in zones.compile_rules(policy, network, allocations, dc, "inner") if r.flow == "F33"]  # noqa: E731
    assert [(r.source_zone, r.dest_zone) for r in f33("zj-dr")] == [("core-db", "wan")]
    assert [(r.source_zone, r.dest_zone) for r in f33("zj-dc")] == [("wan", "ops")]
    # the database's own ACL admits the peer's database: replication reaches it (admitted)
    assert dr_db in zones.admitted(policy, "postgresql", "zj-dc", "core-db", "database", network, allocations)


@pytest.mark.parametrize(
    ("extra", "field", "said"),
    [
        (flow("X1", "internal/web", "core-db/database", "postgresql", across="dr"), "from", "core database"),
        (flow("X2", "any", "core-db/database", "ssh", across="dr"), "from", "runs between hosts"),
        (
            flow("X3", "dmz/declaration-web", "internal/middleware", "declarations", via="gatekeeper", across="dr"),
            "via",
            "IP flow over the WAN",
        ),
        (flow("X4", "core-db/database", "core-db/database", "postgresql", across="both"), "across", ""),
    ],
)
def test_a_flow_across_sites_is_refused_where_the_rules_forbid_it(env, extra, field, said):
    edit_flows(env, lambda data: data["flows"].append(extra))
    with pytest.raises(ModelError) as caught:
        zones.load(env)
    found = [p for p in caught.value.problems if extra["id"] in p.where or field in p.field]
    assert any(field in p.field and said in p.message for p in found), caught.value.problems


def test_a_flow_across_sites_without_a_dr_site_compiles_to_nothing_and_is_refused(env):
    sites = yaml.safe_load((env / "sites.yml").read_text())
    for site in sites["sites"]:
        site.pop("dr_for", None)
    (env / "sites.yml").write_text(yaml.safe_dump(sites, allow_unicode=True, sort_keys=False))
    with pytest.raises(ModelError) as caught:
        zones.load(env)
    assert any(p.field == "across" and "dr_for" in p.message for p in caught.value.problems)


@pytest.mark.parametrize(("tls", "ports", "said"), [(True, [514], "over TLS"), (False, [6514], "in clear")])
def test_the_syslog_port_must_be_the_one_the_collector_listens_on(env, tls, ports, said):
    """jinbao_syslog_tls says where the collector listens (6514 over TLS, 514 in clear); a
    zones.yml whose syslog service says otherwise would drop every node's logs at the zone
    firewalls: refused, naming the service."""
    management = env / "group_vars" / "all" / "management.yml"
    text = management.read_text(encoding="utf-8").replace(
        "jinbao_syslog_tls: true", f"jinbao_syslog_tls: {str(tls).lower()}"
    )
    management.write_text(text, encoding="utf-8")
    edit_flows(env, lambda data: data["services"].update(syslog={"proto": "tcp", "ports": ports}))
    with pytest.raises(ModelError) as caught:
        zones.load(env)
    problems = [p for p in caught.value.problems if p.where == "services.syslog"]
    assert problems and problems[0].field == "ports" and said in problems[0].message, caught.value.problems
    edit_flows(env, lambda data: data["services"].update(syslog={"proto": "tcp", "ports": [6514 if tls else 514]}))
    zones.load(env)
