"""The audit's HTML page, as an auditor prints it: dated, per device, per rule, with each
waiver's approver and expiry, and device output shown as text, never run as markup."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path

from network.audit import DeviceAudit, write_reports
from network.compliance import RuleResult, Waiver

SCRIPT = "<script>alert('pwned')</script>"
WAIVER = Waiver(
    "L3-SYSLOG", ("anhui-r1",), "no collector yet", "Zhang Wei (security office)", "SEC-42", dt.date(2027, 6, 30)
)


class Page(HTMLParser):
    """The page's text and its elements, as a browser would read them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def report(tmp_path: Path) -> str:
    waived = RuleResult(
        "L3-SYSLOG",
        "Logs go to the DC's collectors",
        "waived",
        ["running: missing /^info-center loghost 10\\.5\\.0\\.10$/"],
        {"reason": WAIVER.reason, "approved_by": WAIVER.approved_by, "ticket": WAIVER.ticket, "expires": "2027-06-30"},
    )
    failed = RuleResult("L3-SSH-ONLY", "Remote management over SSH only", "fail", [f"running: forbidden in {SCRIPT!r}"])
    results = [
        DeviceAudit("anhui-r1", "huawei_vrp", drift={"system": [f"+ header login information {SCRIPT}"]}),
        DeviceAudit("hefei-r1", "h3c_comware", compliance=[failed]),
    ]
    results[0].compliance = [waived]
    generated = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
    paths = write_reports("lab", results, tmp_path, [WAIVER], generated=generated)
    return Path(paths["html"]).read_text()


def test_the_page_is_dated_and_names_each_device_rule_and_waiver(tmp_path: Path) -> None:
    page = Page(report(tmp_path))
    text = " ".join(page.text)
    assert "2026-11-27 09:30 UTC" in text
    for device in ("anhui-r1", "hefei-r1"):
        assert device in text
    for rule in ("L3-SYSLOG", "L3-SSH-ONLY", "Remote management over SSH only"):
        assert rule in text
    for fact in ("Zhang Wei (security office)", "SEC-42", "2027-06-30", "no collector yet"):
        assert fact in text, fact
    assert "@media print" in text, "the page carries its print style"


def test_device_output_is_text_never_markup(tmp_path: Path) -> None:
    html = report(tmp_path)
    page = Page(html)
    assert "script" not in page.tags
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert any(SCRIPT in text for text in page.text), "shown to the auditor as the device printed it"


def test_an_audit_runs_without_the_command_line(lab: Path, tmp_path: Path, monkeypatch) -> None:
    """network.audit.run_audit is `jinbao audit` without its console: a result and the reports."""
    from network import audit

    def drifted(targets, intended, policy, **_):
        assert intended.keys() == {t.hostname for t in targets} and policy.rules
        return [DeviceAudit(t.hostname, t.platform, drift={"logging": ["+ log syslog"]}) for t in targets]

    monkeypatch.setattr(audit.run, "audit", drifted)
    run = audit.run_audit(lab, ["fotang"], tmp_path / "report", servers=False)
    assert [r.hostname for r in run.devices] == ["fotang-r1"] and run.servers == []
    assert run.findings and not run.failed and not run.ok
    assert Path(run.reports["html"]).exists() and run.environment == "lab"
