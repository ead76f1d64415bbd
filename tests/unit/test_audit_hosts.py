"""The level-3 rules on Linux hosts (network/audit/hosts.py): their context from the inventory,
the one-shell read and its split, a host that cannot be read, and the reports that show
them beside the devices."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from network import compliance
from network.audit import hosts
from network.audit.reports import write_reports
from network.model import load
from network.servers import HostDrift

LAB = Path(__file__).resolve().parents[2] / "inventories" / "lab"


@pytest.fixture(scope="module")
def lab_hosts() -> dict[str, hosts.LinuxHost]:
    return {h.hostname: h for h in hosts.inventory(LAB, load(LAB))}


def test_every_linux_host_but_the_routers_is_listed(lab_hosts) -> None:
    assert {"zj-dc-app1", "zj-dc-ops1", "zj-dc-fw-inner", "zj-dc-gatekeeper", "zj-dr-bastion1"} <= set(lab_hosts)
    assert not [name for name in lab_hosts if name.endswith("-r1")]
    assert lab_hosts["zj-dc-fw-inner"].site == "zj-dc"


def test_a_collector_forwards_to_the_others_but_not_to_itself(lab_hosts) -> None:
    collector, server = lab_hosts["zj-dc-ops1"].context, lab_hosts["zj-dc-app1"].context
    assert collector["syslog"] == server["syslog"] and collector["syslog"]  # the plane: `needs` passes
    assert not set(collector["forward"]["syslog"]) & set(collector["syslog"])
    assert server["forward"]["syslog"] == server["syslog"]
    assert server["hardening"]["password"]["min_length"] == 12
    assert server["management"]["address"].startswith(lab_hosts["zj-dc-app1"].context["management"]["address"])


def test_a_missing_management_address_is_named() -> None:
    with pytest.raises(Exception, match=r"zj-dc-x1.*ansible_host"):
        hosts.context(load(LAB), "zj-dc-x1", {"jinbao_management_network": "172.24.0.0/16"})


def test_the_rules_commands_run_in_one_shell_and_split_back_by_command() -> None:
    commands = ["echo one; echo two", "echo oops >&2; false", "printf 'no newline'", "true"]
    marker = "@@test-marker@@"
    done = subprocess.run(["bash", "-c", hosts.script(commands, marker)], capture_output=True, text=True, check=False)
    outputs = hosts.split(done.stdout, commands, marker)
    assert outputs == {commands[0]: "one\ntwo", commands[1]: "oops", commands[2]: "no newline", commands[3]: ""}


def test_a_command_that_gave_nothing_back_errs_its_rule_only(lab_hosts, monkeypatch) -> None:
    rules = compliance.load_rules()
    host = lab_hosts["zj-dc-app1"]
    wanted = hosts.sources(rules, host)
    assert "sudo -n auditctl -l" in wanted and "sudo -n sysctl -a -r '^net\\.'" in wanted
    monkeypatch.setattr(hosts, "read", lambda env, w: {host.hostname: {c: "" for c in wanted[1:]}})
    results = {r.rule: r for r in hosts.audit(LAB, [host], rules, [])[host.hostname]}
    assert results["L3-SSH-ONLY"].status == "error" and "gave no output" in results["L3-SSH-ONLY"].evidence[0]
    assert results["L3-PASSWORD"].status == "fail"  # read, found wanting
    assert len(results) == sum("linux" in r.checks for r in rules)


def test_a_host_that_cannot_be_read_errs_on_every_rule(lab_hosts, monkeypatch) -> None:
    rules = compliance.load_rules()
    host = lab_hosts["zj-dc-fw-inner"]
    monkeypatch.setattr(hosts, "read", lambda env, w: {host.hostname: "UNREACHABLE: ssh timed out"})
    results = hosts.audit(LAB, [host], rules, [])[host.hostname]
    assert results and {r.status for r in results} == {"error"}
    assert "ssh timed out" in results[0].evidence[0]


def test_a_waiver_covers_a_host_by_name_or_site(lab_hosts, monkeypatch) -> None:
    rules = compliance.load_rules()
    host = lab_hosts["zj-dc-db1"]
    monkeypatch.setattr(hosts, "read", lambda env, w: {host.hostname: dict.fromkeys(w[host.hostname], "")})
    waivers = [compliance.Waiver("L3-AUDITD", ("zj-dc",), "containers", "lab", "LAB-3", dt.date(2099, 1, 1))]
    results = {r.rule: r for r in hosts.audit(LAB, [host], rules, waivers)[host.hostname]}
    assert results["L3-AUDITD"].status == "waived" and results["L3-AUDIT-RULES"].status == "fail"


def test_the_reports_show_a_hosts_rules_beside_its_check(tmp_path) -> None:
    failing = compliance.RuleResult("L3-UMASK", "umask", "fail", ["cat /etc/login.defs: missing /^UMASK/"])
    passing = compliance.RuleResult("L3-BANNER", "banner", "pass")
    servers = [
        HostDrift("zj-dc-app1", compliance=[passing]),
        HostDrift("zj-dc-fw-inner", checked=False, compliance=[failing, passing]),
    ]
    paths = write_reports("lab", [], tmp_path, servers=servers)
    document = json.loads(Path(paths["json"]).read_text())
    assert document["summary"]["servers_noncompliant"] == 1
    firewall = next(s for s in document["servers"] if s["hostname"] == "zj-dc-fw-inner")
    assert firewall["noncompliant"] == ["L3-UMASK"] and not firewall["clean"] and not firewall["checked"]
    junit = Path(paths["junit"]).read_text()
    assert 'classname="lab.zj-dc-fw-inner.compliance" name="L3-UMASK"><failure' in junit
    assert 'classname="lab.zj-dc-fw-inner" name="ansible-check"' not in junit  # never checked, never passed
    assert 'classname="lab.zj-dc-app1" name="ansible-check"' in junit
    page = Path(paths["html"]).read_text()
    assert "not checked by the playbooks" in page and "missing /^UMASK/" in page


def test_a_certificate_near_its_end_is_found_by_openssl_itself(lab_hosts, tmp_path) -> None:
    """L3-TLS-EXPIRY's own command, run here against real certificates: one valid for a year
    passes, one with ten days left (under the 30-day warning) fails, naming the file."""
    rules = [r for r in compliance.load_rules() if r.id == "L3-TLS-EXPIRY"]
    host = lab_hosts["zj-dc-web1"]
    (command,) = hosts.sources(rules, host)

    def certificate(name: str, days: int) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days), "-subj", f"/CN={name}",
             "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / f"{name}.crt")],
            check=True, capture_output=True,
        )  # fmt: skip

    def judged() -> compliance.RuleResult:
        local = command.replace("/etc/jinbao/tls", str(tmp_path)).replace("/etc/nginx/tls", str(tmp_path / "none"))
        output = subprocess.run(["bash", "-c", local], capture_output=True, text=True, check=True).stdout
        (result,) = compliance.evaluate(rules, hosts.PLATFORM, host.context, lambda s: output, host.hostname, "zj-dc")
        return result

    certificate("web", 365)
    assert judged().status == "pass"
    certificate("db", 10)
    result = judged()
    assert result.status == "fail" and "db.crt expiring notAfter=" in result.evidence[0]
