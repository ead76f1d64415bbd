"""The audit's reports: JSON for tools, JUnit XML for CI (one test case per device and
feature, per device and rule, per server), and one HTML page per environment for the
auditor: dated, per device and per rule, with the waivers that excused findings.

The page is network/audit/templates/report.html.j2 (autoescaped: device output is never
markup); this module prepares what it shows and decides every state. It lives beside the
audit, not in network/templates/: every file there is an input of each device config, and
a change to the audit page must not re-render every device.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from xml.etree import ElementTree as ET

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from network import compliance
from network.audit import drills as dr_drills
from network.audit import restore
from network.audit.diff import FEATURES

REPORT_TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"


def write_reports(
    environment: str,
    results: list,
    out_dir: Path,
    waivers=(),
    servers=None,
    generated: dt.datetime | None = None,
    restore_test: dict | None = None,
    drills: list[dict] | None = None,
) -> dict[str, str]:
    """`results`: DeviceAudit per device; `servers`: HostDrift results of the Ansible
    check-mode run (None: not checked); `generated`: the report's date (default now);
    `restore_test`: the latest restore test of the backups (network.audit.restore; None: none);
    `drills`: the DR drill history, newest first (network.audit.drills)."""
    drills = drills or []
    servers = servers or []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "audit.json", "junit": out_dir / "audit.junit.xml", "html": out_dir / "index.html"}
    summary = {
        "environment": environment,
        "devices": len(results),
        "clean": sum(r.clean for r in results),
        "drifted": sum(bool(r.drift) for r in results),
        "failed": sum(bool(r.error) for r in results),
        "noncompliant": sum(bool(r.noncompliant) for r in results),
        "waived": sum(1 for r in results for c in r.compliance if c.status == "waived"),
        "servers": len(servers),
        "servers_drifted": sum(bool(h.changes) for h in servers),
        "servers_failed": sum(bool(h.error) for h in servers),
        "servers_noncompliant": sum(bool(h.noncompliant) for h in servers),
        "unused_waivers": compliance.unused_waivers(
            list(waivers), [(r.hostname, "", r.compliance) for r in [*results, *servers]]
        ),
        "restore_test": restore.state(restore_test),
        "dr_drill": dr_drills.state(drills),
    }
    devices, hosts = [r.as_dict() for r in results], [h.as_dict() for h in servers]
    document = {
        "summary": summary,
        "devices": devices,
        "servers": hosts,
        "restore_test": restore_test,
        "dr_drills": drills,
    }
    paths["json"].write_text(json.dumps(document, indent=1))
    paths["junit"].write_text(junit(environment, results, servers))
    when = generated or dt.datetime.now(dt.UTC)
    paths["html"].write_text(html(environment, summary, results, servers, list(waivers), when, restore_test, drills))
    return {k: str(v) for k, v in paths.items()}


# --- JUnit --------------------------------------------------------------------------
def junit(environment: str, results: list, servers=()) -> str:
    suite = ET.Element("testsuite", name=f"jinbao audit {environment}")
    outcomes = []
    for r in results:
        outcomes += [_feature_case(suite, environment, r, feature) for feature in FEATURES]
        outcomes += [_rule_case(suite, environment, r.hostname, rule) for rule in r.compliance]
    for h in servers:
        if h.checked:  # the lab's firewalls and gatekeepers: level-3 rules only
            outcomes.append(_server_case(suite, environment, h))
        outcomes += [_rule_case(suite, environment, h.hostname, rule) for rule in h.compliance]
    suite.set("tests", str(len(outcomes)))
    suite.set("failures", str(outcomes.count("failure")))
    suite.set("errors", str(outcomes.count("error")))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _feature_case(suite: ET.Element, environment: str, r, feature: str) -> str:
    case = ET.SubElement(suite, "testcase", classname=f"{environment}.{r.hostname}", name=feature)
    if r.error:
        ET.SubElement(case, "error", message=r.error[:200]).text = r.error
        return "error"
    if feature in r.drift:
        text = "\n".join(r.drift[feature]) + ("\n\nremediation:\n" + r.remediation if r.remediation else "")
        ET.SubElement(case, "failure", message=f"{len(r.drift[feature])} line(s) differ").text = text
        return "failure"
    return "pass"


def _rule_case(suite: ET.Element, environment: str, hostname: str, rule: compliance.RuleResult) -> str:
    case = ET.SubElement(suite, "testcase", classname=f"{environment}.{hostname}.compliance", name=rule.rule)
    if rule.status == "waived":
        waiver = rule.waiver or {}
        ET.SubElement(case, "skipped", message=f"waived: {waiver.get('ticket')} until {waiver.get('expires')}")
        return "skipped"
    if rule.status in ("error", "fail"):
        tag = "error" if rule.status == "error" else "failure"
        ET.SubElement(case, tag, message=rule.title).text = "\n".join(rule.evidence)
        return tag
    return "pass"


def _server_case(suite: ET.Element, environment: str, h) -> str:
    case = ET.SubElement(suite, "testcase", classname=f"{environment}.{h.hostname}", name="ansible-check")
    if h.error:
        ET.SubElement(case, "error", message=h.error[:200]).text = h.error
        return "error"
    if h.changes:
        text = "\n\n".join(f"{c['task']}\n{c['diff']}" for c in h.changes)
        ET.SubElement(case, "failure", message=f"{len(h.changes)} task(s) would change").text = text
        return "failure"
    return "pass"


# --- HTML ---------------------------------------------------------------------------
@cache
def _template():
    env = Environment(
        loader=FileSystemLoader(str(REPORT_TEMPLATE.parent)),
        autoescape=True,  # device output, evidence and waiver text are text, never markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(REPORT_TEMPLATE.name)


def device_state(r) -> str:
    return "error" if r.error else "drift" if r.drift else "noncompliant" if r.noncompliant else "clean"


def server_state(h) -> str:
    if h.error or any(c.status == "error" for c in h.compliance):
        return "error"
    return "drift" if h.changes else "noncompliant" if h.noncompliant else "clean"


def _by_rule(results: list) -> list[dict]:
    """Per level-3 rule, in the order the rules ran: how many devices and hosts pass, fail, are
    waived or could not be checked, and each one that does not simply pass, with its evidence
    and waiver."""
    rules: dict[str, dict] = {}
    for r in sorted(results, key=lambda r: r.hostname):
        for c in r.compliance:
            rule = rules.setdefault(c.rule, {"id": c.rule, "title": c.title, "devices": [], "counts": {}})
            rule["counts"][c.status] = rule["counts"].get(c.status, 0) + 1
            if c.status != "pass":
                rule["devices"].append({"hostname": r.hostname, "result": c})
    return list(rules.values())


def html(
    environment: str,
    summary: dict,
    results: list,
    servers=(),
    waivers=(),
    generated: dt.datetime | None = None,
    restore_test: dict | None = None,
    drills: list[dict] | None = None,
) -> str:
    drills = drills or []
    generated = generated or dt.datetime.now(dt.UTC)
    unused = {(w["ticket"], w["rule"]) for w in summary["unused_waivers"]}
    devices = [
        {"audit": r, "state": device_state(r), "findings": [*r.drift, *r.noncompliant]}
        for r in sorted(results, key=lambda r: (r.clean, r.hostname))
    ]
    return _template().render(
        environment=environment,
        generated=generated.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        summary=summary,
        devices=devices,
        rules=_by_rule([*results, *servers]),
        waivers=[{"waiver": w, "used": (w.ticket, w.rule) not in unused} for w in waivers],
        unused=summary["unused_waivers"],
        servers=[{"host": h, "state": server_state(h)} for h in servers],
        restore_test={
            "result": restore_test,
            "state": restore.state(restore_test),
            "line": restore.summary(restore_test),
        },
        drills={
            "shown": drills[: dr_drills.SHOWN],
            "more": max(0, len(drills) - dr_drills.SHOWN),
            "state": dr_drills.state(drills),
            "line": dr_drills.summary(drills),
        },
    )
