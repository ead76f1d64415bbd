"""Level-3 compliance rules against rendered VRP and Comware configs (the golden multivendor
case), one sabotage per rule, and the waivers file's review rules."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import GOLDEN

from network import compliance
from network.errors import JinbaoError

CASE = GOLDEN / "render" / "multivendor"
CONFIGS = CASE / "expected" / "configs"
RULES = compliance.load_rules()
RULE_IDS = {r.id for r in RULES}
TODAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def contexts(multivendor_contexts) -> dict[str, dict]:
    return multivendor_contexts


def run(contexts, hostname: str, platform: str, config: str, waivers=(), today=TODAY):
    context = contexts[hostname]
    return {
        r.rule: r
        for r in compliance.evaluate(
            RULES, platform, context, lambda source: config, hostname, context["site"]["id"], waivers, today
        )
    }


MANAGEMENT = {"L3-SSH-ONLY", "L3-AAA", "L3-LOCKOUT", "L3-SYSLOG", "L3-NTP", "L3-SNMPV3", "L3-BANNER", "L3-MGMT-ACL"}
# a Linux node's own rules (the baseline's hardening): FRR routers and Linux hosts only
HOST = {"L3-PASSWORD", "L3-UMASK", "L3-SYSCTL", "L3-SERVICES", "L3-AUDIT-RULES", "L3-AUDITD", "L3-TLS-EXPIRY"}
SERVERS = {"L3-TLS-EXPIRY"}  # routers serve no TLS


def test_every_management_rule_covers_every_platform_and_host_rules_every_linux_node():
    assert MANAGEMENT | HOST == RULE_IDS
    for rule in RULES:
        platforms = {"linux"} if rule.id in SERVERS else {"frr", "linux"}
        platforms |= {"huawei_vrp", "h3c_comware"} if rule.id in MANAGEMENT else set()
        assert set(rule.checks) == platforms, rule.id


@pytest.mark.parametrize(("hostname", "platform"), [("hefei-r1", "h3c_comware"), ("anhui-r1", "huawei_vrp")])
def test_a_rendered_config_complies_with_every_rule(contexts, hostname, platform):
    config = (CONFIGS / f"{hostname}.cfg").read_text()
    results = run(contexts, hostname, platform, config)
    assert set(results) == MANAGEMENT
    assert {r: v.evidence for r, v in results.items() if v.status != "pass"} == {}


# (platform, rule, what an operator did on the device: old → new line)
SABOTAGE = [
    ("huawei_vrp", "L3-SSH-ONLY", "undo telnet server enable", "telnet server enable"),
    ("huawei_vrp", "L3-SSH-ONLY", " protocol inbound ssh", " protocol inbound all"),
    ("huawei_vrp", "L3-AAA", " authentication-mode aaa", " authentication-mode password"),
    ("huawei_vrp", "L3-LOCKOUT", " local-aaa-user wrong-password retry-interval 5 retry-time 5",
     " local-aaa-user wrong-password retry-interval 5 retry-time 50"),
    ("huawei_vrp", "L3-SYSLOG", "info-center loghost ", "undo info-center loghost "),
    ("huawei_vrp", "L3-NTP", "ntp-service unicast-server ", "ntp-service unicast-peer "),
    ("huawei_vrp", "L3-SNMPV3", "snmp-agent sys-info version v3", "snmp-agent sys-info version all"),
    ("huawei_vrp", "L3-BANNER", "header login information", "header shell information"),
    ("huawei_vrp", "L3-MGMT-ACL", " acl 2000 inbound", " undo acl inbound"),
    ("h3c_comware", "L3-SSH-ONLY", "undo telnet server enable", "telnet server enable"),
    ("h3c_comware", "L3-AAA", " authentication-mode scheme", " authentication-mode none"),
    ("h3c_comware", "L3-LOCKOUT", "password-control enable", "undo password-control enable"),
    ("h3c_comware", "L3-SYSLOG", "info-center enable", "undo info-center enable"),
    ("h3c_comware", "L3-NTP", "ntp-service unicast-server ", "# ntp-service unicast-server "),
    ("h3c_comware", "L3-SNMPV3", "snmp-agent sys-info version v3",
     "snmp-agent sys-info version v3\nsnmp-agent community read public"),
    ("h3c_comware", "L3-BANNER", "header login %", "header motd %"),
    ("h3c_comware", "L3-MGMT-ACL", " rule 100 deny", " rule 100 permit"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("platform", "rule", "old", "new"), SABOTAGE, ids=[f"{p}-{r}-{o.strip()}" for p, r, o, _ in SABOTAGE]
)
def test_a_change_against_the_rules_fails_exactly_its_rule(contexts, platform, rule, old, new):
    hostname = {"huawei_vrp": "anhui-r1", "h3c_comware": "hefei-r1"}[platform]
    config = (CONFIGS / f"{hostname}.cfg").read_text()
    assert re.search("^" + re.escape(old), config, re.M), "the sabotage must change something"
    changed = re.sub("^" + re.escape(old), new.replace("\\", "\\\\"), config, count=1, flags=re.M)
    results = run(contexts, hostname, platform, changed)
    failed = {r for r, v in results.items() if v.status != "pass"}
    assert failed == {rule}
    assert results[rule].status == "fail" and results[rule].evidence


def test_a_site_without_collectors_fails_what_it_needs(contexts):
    # the ministry has no DC of its own in this model: no syslog or NTP host to send to
    assert contexts["ministry-r1"]["syslog"] == [] and contexts["ministry-r1"]["ntp"] == []
    config = (CONFIGS / "ministry-r1.cfg").read_text()
    results = run(contexts, "ministry-r1", "huawei_vrp", config)
    assert {r for r, v in results.items() if v.status == "fail"} == {"L3-SYSLOG", "L3-NTP"}
    assert "the model gives this site no syslog host" in results["L3-SYSLOG"].evidence


def test_a_check_that_cannot_read_its_source_is_an_error_not_a_pass(contexts):
    def unreadable(source):
        raise TimeoutError("no answer in 30 s")

    context = contexts["hefei-r1"]
    results = compliance.evaluate(RULES, "h3c_comware", context, unreadable, "hefei-r1", context["site"]["id"])
    assert {r.status for r in results} == {"error"}
    assert "TimeoutError: no answer in 30 s" in results[0].evidence[-1]


def write_waivers(env: Path, text: str) -> Path:
    env.mkdir(parents=True, exist_ok=True)
    (env / "waivers.yml").write_text(text)
    return env


WAIVER = """
waivers:
  - rule: L3-SYSLOG
    devices: [ministry]
    reason: The ministry's log collector is commissioned with the national DC.
    approved_by: Wang Li (security officer)
    ticket: SEC-2026-117
    expires: {expires}
  - rule: L3-NTP
    devices: [ministry-*]
    reason: Same as SEC-2026-117.
    approved_by: Wang Li (security officer)
    ticket: SEC-2026-118
    expires: 2027-06-30
  - rule: L3-BANNER
    devices: [nowhere-*]
    reason: Left from a decommissioned site.
    approved_by: Wang Li (security officer)
    ticket: SEC-2025-003
    expires: 2027-06-30
"""


def test_a_valid_waiver_excuses_its_rule_and_devices_only(contexts, tmp_path):
    waivers = compliance.load_waivers(write_waivers(tmp_path, WAIVER.format(expires="2027-03-31")), RULES)
    config = (CONFIGS / "ministry-r1.cfg").read_text()
    results = run(contexts, "ministry-r1", "huawei_vrp", config, waivers)
    assert results["L3-SYSLOG"].status == "waived" and results["L3-NTP"].status == "waived"
    assert results["L3-SYSLOG"].waiver["ticket"] == "SEC-2026-117"
    assert not any(r.failed for r in results.values())
    # the same waiver does not excuse another device
    broken = (CONFIGS / "anhui-r1.cfg").read_text().replace("info-center enable", "undo info-center enable")
    assert run(contexts, "anhui-r1", "huawei_vrp", broken, waivers)["L3-SYSLOG"].status == "fail"
    unused = compliance.unused_waivers(waivers, [("ministry-r1", "", list(results.values()))])
    assert [w["ticket"] for w in unused] == ["SEC-2025-003"]


def test_an_expired_waiver_no_longer_applies(contexts, tmp_path):
    waivers = compliance.load_waivers(write_waivers(tmp_path, WAIVER.format(expires="2026-11-22")), RULES)
    results = run(contexts, "ministry-r1", "huawei_vrp", (CONFIGS / "ministry-r1.cfg").read_text(), waivers)
    assert results["L3-SYSLOG"].status == "fail"
    assert "waiver SEC-2026-117 expired on 2026-11-22" in results["L3-SYSLOG"].evidence


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ("rule: L3-TELNET", "rule", "L3-TELNET is not a rule"),
        ("approved_by: ''", "approved_by", "is required"),
        ("expires: next year", "expires", "is not a date"),
        ("devices: ministry-r1", "devices", "is a list"),
        ("scope: all", "scope", "is not a waiver field"),
    ],
)
def test_an_unreviewed_waiver_is_refused_naming_it(tmp_path, entry, field, message):
    base = dict(
        line.strip().split(": ", 1)
        for line in WAIVER.format(expires="2027-03-31").split("  - ")[1].splitlines()
        if ": " in line
    )
    key = entry.split(":", 1)[0]
    base[key] = entry.split(": ", 1)[1]
    text = "waivers:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in base.items()) + "\n"
    with pytest.raises(JinbaoError) as caught:
        compliance.load_waivers(write_waivers(tmp_path, text), RULES)
    problem = caught.value.problems[0]
    assert problem.file == "waivers.yml" and problem.where.startswith("waivers[0]")
    assert problem.field == field and message in problem.message
