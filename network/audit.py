"""`jinbao audit`: intended (rendered) vs running, per device and per feature.

Both texts are read as blocks (a top-level line and its indented children) with comments,
separators and device-added headers dropped, so only configuration is compared. Each
difference is filed under a feature (interfaces, routing, aaa, logging, acls, system) and
comes with the remediation the device needs: hier_config's for VRP and Comware, FRR's
own frr-reload.py diff for FRR (exactly what `jinbao push` would apply).

Reports: JSON for tools, JUnit XML for CI (one test case per device and feature), and one
HTML page per environment with a drill-down per device.
"""

from __future__ import annotations

import html
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from network import compliance
from network.backup import scrub
from network.drivers import Target, open_driver
from network.render.context import platform

FEATURES = ("interfaces", "routing", "aaa", "logging", "acls", "system")
_FEATURE_OF = [
    ("interfaces", re.compile(r"^(interface|vlan)\b")),
    ("routing", re.compile(r"^(router|ip route|ipv6 route|ip prefix-list|route-map|bgp|ospf|ip as-path)\b")),
    ("aaa", re.compile(r"^(aaa|local-user|user|username|password|enable password|ssh|stelnet|line)\b")),
    ("logging", re.compile(r"^(log|logging|info-center|snmp|snmp-agent|ntp|ntp-service|clock)\b")),
    ("acls", re.compile(r"^(acl|access-list|ip access-list|firewall|traffic)\b")),
]
# lines a device adds or prints around its config: not configuration
_NOISE = re.compile(
    r"^(!.*|#.*|exit|quit|end|return|Building configuration\.\.\.|Current configuration:?.*|frr version .*"
    r"|version \d+\.\d+\.\d+, Release \S+)$"  # the last: Comware's software version line
)


def feature_of(top_line: str) -> str:
    return next((name for name, pattern in _FEATURE_OF if pattern.match(top_line)), "system")


def blocks(text: str) -> dict[str, list[str]]:
    """Top-level line → its children, in order; noise dropped."""
    result: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or _NOISE.match(line.strip()):
            continue
        if line[0].isspace() and current is not None:
            result[current].append(line.strip())
        else:
            current = line.strip()
            result.setdefault(current, [])
    return result


def drift(intended: str, running: str) -> dict[str, list[str]]:
    """Per feature, '+ line' the device lacks and '- line' it has beyond the intent."""
    want, have = blocks(intended), blocks(running)
    found: dict[str, list[str]] = {}
    for top in list(want) + [t for t in have if t not in want]:
        lines = []
        if top not in have:
            lines += [f"+ {top}"] + [f"+  {c}" for c in want[top]]
        elif top not in want:
            lines += [f"- {top}"] + [f"-  {c}" for c in have[top]]
        else:
            missing = [c for c in want[top] if c not in have[top]]
            extra = [c for c in have[top] if c not in want[top]]
            if missing or extra:
                lines += [f"  {top}"] + [f"+  {c}" for c in missing] + [f"-  {c}" for c in extra]
        if lines:
            found.setdefault(feature_of(top), []).extend(lines)
    return found


def remediation(platform_name: str, device, running: str, intended: str, scrubbed: str) -> str:
    """What brings the device to its intent: hier_config where the platform has a driver
    (VRP, Comware), else the device's own diff (FRR: frr-reload.py)."""
    if platform(platform_name).get("hier_config"):
        from hier_config import WorkflowRemediation

        from network.render.hier import parse

        workflow = WorkflowRemediation(parse(platform_name, running), parse(platform_name, scrubbed))
        return str(workflow.remediation_config)
    device.load_replace_candidate(config=intended)
    try:
        return device.compare_config()
    finally:
        device.discard_config()


@dataclass
class DeviceAudit:
    hostname: str
    platform: str
    drift: dict[str, list[str]] = field(default_factory=dict)
    remediation: str = ""
    error: str = ""
    seconds: float = 0.0
    compliance: list[compliance.RuleResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the device said beside its output (stderr)

    @property
    def noncompliant(self) -> list[str]:
        return [r.rule for r in self.compliance if r.failed]

    @property
    def clean(self) -> bool:
        return not self.drift and not self.error and not self.noncompliant

    def as_dict(self) -> dict:
        data = {**self.__dict__, "clean": self.clean, "noncompliant": self.noncompliant}
        data["compliance"] = [r.__dict__ | {"failed": r.failed} for r in self.compliance]
        return data


@dataclass(frozen=True)
class Policy:
    """What the devices are held to besides their intended config."""

    rules: list[compliance.Rule] = field(default_factory=list)
    waivers: list[compliance.Waiver] = field(default_factory=list)
    contexts: dict[str, dict] = field(default_factory=dict)  # hostname → render context


def audit_device(target: Target, intended: str, policy: Policy = Policy(), timeout: int = 30) -> DeviceAudit:
    started = time.perf_counter()
    result = DeviceAudit(target.hostname, target.platform)
    try:
        device = open_driver(target, timeout)
        try:
            running = scrub(target.platform, device.get_config(retrieve="running")["running"])
            wanted = scrub(target.platform, intended)  # secrets are compared by neither side
            result.drift = drift(wanted, running)
            if result.drift:
                result.remediation = remediation(target.platform, device, running, intended, wanted)
            context = policy.contexts.get(target.hostname)
            if policy.rules and context is not None:

                def read(source: str) -> str:
                    return running if source == "running" else device.cli([source])[source]

                result.compliance = compliance.evaluate(
                    policy.rules, target.platform, context, read, target.hostname, context["site"]["id"], policy.waivers
                )
        finally:
            result.warnings = list(getattr(device, "warnings", []))
            device.close()
    except Exception as exc:  # reported per device; the audit goes on
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def audit(
    targets: list[Target], intended: dict[str, str], policy: Policy = Policy(), workers: int = 16, timeout: int = 30
) -> list[DeviceAudit]:
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        return list(pool.map(lambda t: audit_device(t, intended[t.hostname], policy, timeout), targets))


# --- reports ------------------------------------------------------------------------
def write_reports(
    environment: str, results: list[DeviceAudit], out_dir: Path, waivers=(), servers=None
) -> dict[str, str]:
    """`servers`: HostDrift results of the Ansible check-mode run (None: not checked)."""
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
        "unused_waivers": compliance.unused_waivers(list(waivers), [(r.hostname, "", r.compliance) for r in results]),
    }
    devices, hosts = [r.as_dict() for r in results], [h.as_dict() for h in servers]
    document = {"summary": summary, "devices": devices, "servers": hosts}
    paths["json"].write_text(json.dumps(document, indent=1))
    paths["junit"].write_text(_junit(environment, results, servers))
    paths["html"].write_text(_html(environment, summary, results, servers))
    return {k: str(v) for k, v in paths.items()}


def _junit(environment: str, results: list[DeviceAudit], servers=()) -> str:
    suite = ET.Element("testsuite", name=f"jinbao audit {environment}")
    cases = failures = errors = 0
    for r in results:
        for feature in FEATURES:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"{environment}.{r.hostname}", name=feature)
            if r.error:
                errors += 1
                ET.SubElement(case, "error", message=r.error[:200]).text = r.error
            elif feature in r.drift:
                failures += 1
                text = "\n".join(r.drift[feature]) + ("\n\nremediation:\n" + r.remediation if r.remediation else "")
                ET.SubElement(case, "failure", message=f"{len(r.drift[feature])} line(s) differ").text = text
        for rule in r.compliance:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"{environment}.{r.hostname}.compliance", name=rule.rule)
            if rule.status == "waived":
                waiver = rule.waiver or {}
                ET.SubElement(case, "skipped", message=f"waived: {waiver.get('ticket')} until {waiver.get('expires')}")
            elif rule.status == "error":
                errors += 1
                ET.SubElement(case, "error", message=rule.title).text = "\n".join(rule.evidence)
            elif rule.status == "fail":
                failures += 1
                ET.SubElement(case, "failure", message=rule.title).text = "\n".join(rule.evidence)
    for h in servers:
        cases += 1
        case = ET.SubElement(suite, "testcase", classname=f"{environment}.{h.hostname}", name="ansible-check")
        if h.error:
            errors += 1
            ET.SubElement(case, "error", message=h.error[:200]).text = h.error
        elif h.changes:
            failures += 1
            text = "\n\n".join(f"{c['task']}\n{c['diff']}" for c in h.changes)
            ET.SubElement(case, "failure", message=f"{len(h.changes)} task(s) would change").text = text
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _html(environment: str, summary: dict, results: list[DeviceAudit], servers=()) -> str:
    e = html.escape
    rows, details = [], []
    for r in sorted(results, key=lambda r: (r.clean, r.hostname)):
        state = "error" if r.error else "drift" if r.drift else "noncompliant" if r.noncompliant else "clean"
        features = ", ".join([*r.drift, *r.noncompliant])
        rows.append(
            f'<tr class="{state}"><td><a href="#{e(r.hostname)}">{e(r.hostname)}</a></td><td>{e(r.platform)}</td>'
            f"<td>{state}</td><td>{e(features)}</td><td>{e(r.error)}</td></tr>"
        )
        body = "".join(f"<h4>{e(f)}</h4><pre>{e(chr(10).join(lines))}</pre>" for f, lines in r.drift.items()) + (
            f"<h4>remediation</h4><pre>{e(r.remediation)}</pre>" if r.remediation else ""
        )
        if r.compliance:
            body += "<h4>level-3 compliance</h4><table><tr><th>rule</th><th>status</th><th>evidence / waiver</th></tr>"
            for c in r.compliance:
                why = "<br>".join(e(x) for x in c.evidence)
                if c.waiver:
                    w = c.waiver
                    why += f"<br>waived: {e(w['reason'])} ({e(w['ticket'])}, {e(w['approved_by'])}"
                    why += f", until {e(w['expires'])})"
                body += (
                    f'<tr class="{e(c.status)}"><td title="{e(c.title)}">{e(c.rule)}</td>'
                    f"<td>{e(c.status)}</td><td>{why}</td></tr>"
                )
            body += "</table>"
        if r.error:
            body = f"<p>{e(r.error)}</p>"
        elif not r.drift:
            body = "<p>running config equals the intent</p>" + body
        if r.warnings:
            body = f"<h4>device warnings</h4><pre>{e(chr(10).join(r.warnings))}</pre>" + body
        details.append(
            f'<details id="{e(r.hostname)}"{" open" if not r.clean else ""}><summary>{e(r.hostname)} — {state}'
            f"</summary>{body}</details>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jinbao audit · {e(environment)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em}}
tr.drift td,tr.waived td{{background:#fff3cd}}
tr.error td,tr.fail td,tr.noncompliant td{{background:#f8d7da}}pre{{background:#f6f6f6;padding:.5em}}</style></head>
<body><h1>Configuration audit: {e(environment)}</h1>
<p>{summary["devices"]} devices: {summary["clean"]} clean, {summary["drifted"]} drifted,
{summary["noncompliant"]} not compliant with level-3 rules, {summary["failed"]} failed;
{summary["waived"]} waived finding(s).</p>
{_unused(summary["unused_waivers"])}
<table><tr><th>device</th><th>platform</th><th>state</th><th>features</th><th>error</th></tr>{"".join(rows)}</table>
<h2>Devices</h2>{"".join(details)}
{_servers(servers)}</body></html>
"""


def _unused(unused: list[dict]) -> str:
    if not unused:
        return ""
    e = html.escape
    items = "".join(f"<li>{e(w['rule'])} ({e(w['ticket'])}, until {e(w['expires'])})</li>" for w in unused)
    return f"<p>Waivers that excused nothing in this audit (review them):</p><ul>{items}</ul>"


def _servers(servers) -> str:
    if not servers:
        return ""
    e = html.escape
    rows = []
    for h in servers:
        state = "error" if h.error else "drift" if h.changes else "clean"
        body = e(h.error) or "".join(f"<h4>{e(c['task'])}</h4><pre>{e(c['diff'])}</pre>" for c in h.changes)
        rows.append(
            f'<details id="{e(h.hostname)}"{" open" if state != "clean" else ""}><summary>{e(h.hostname)} — {state}'
            f"</summary>{body or '<p>the playbooks would change nothing</p>'}</details>"
        )
    return "<h2>Servers (ansible-playbook --check --diff)</h2>" + "".join(rows)
