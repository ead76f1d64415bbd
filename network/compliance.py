"""Level-3 compliance: the rules of network/rules/level3.yml run against each device, with
the reviewed waivers of inventories/<env>/waivers.yml.

A rule's checks read the device's running config or, for Linux nodes, a command's output,
and require or forbid patterns rendered from the device's own render context (so a rule
asks for exactly the syslog host, banner or management network the model gives the
device). Results per device and rule: ``pass``, ``fail``, ``waived`` (failed, with a valid
waiver), or ``error`` (the check could not be run).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from network.errors import JinbaoError, Problem

RULES_FILE = Path(__file__).parent / "rules" / "level3.yml"
WAIVERS_FILE = "waivers.yml"
WAIVER_FIELDS = ("rule", "devices", "reason", "approved_by", "ticket", "expires")


@dataclass(frozen=True)
class Check:
    source: str  # "running" or a shell command (Jinja)
    require: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    each: str | None = None  # dotted path of a context list: the check runs per item


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    control: str
    checks: dict[str, tuple[Check, ...]]  # platform → checks
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Waiver:
    rule: str
    devices: tuple[str, ...]
    reason: str
    approved_by: str
    ticket: str
    expires: dt.date

    def covers(self, hostname: str, site: str) -> bool:
        return any(fnmatch(hostname, p) or fnmatch(site, p) for p in self.devices)


@dataclass
class RuleResult:
    rule: str
    title: str
    status: str  # pass | fail | waived | error
    evidence: list[str] = field(default_factory=list)
    waiver: dict | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "error")


def _environment() -> SandboxedEnvironment:
    from network.render.engine import environment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters.update(environment().filters)
    env.filters["re"] = re.escape
    return env


_ENV = _environment()


def load_rules(path: Path = RULES_FILE) -> list[Rule]:
    data = yaml.safe_load(Path(path).read_text())
    rules = []
    for i, raw in enumerate(data.get("rules") or []):
        where = f"rules[{i}]"
        missing = [k for k in ("id", "title", "control", "checks") if not raw.get(k)]
        if missing:
            raise JinbaoError(Problem(str(path), where, ", ".join(missing), "is required"))
        checks = {}
        for platform_name, items in raw["checks"].items():
            built = []
            for j, item in enumerate(items):
                unknown = set(item) - {"source", "require", "forbid", "each"}
                if unknown or not item.get("source") or not (item.get("require") or item.get("forbid")):
                    raise JinbaoError(
                        Problem(
                            str(path),
                            f"{raw['id']}.checks.{platform_name}[{j}]",
                            ", ".join(sorted(unknown)) or "source/require/forbid",
                            "a check has a source and patterns to require or forbid, nothing else",
                        )
                    )
                require, forbid = tuple(item.get("require", ())), tuple(item.get("forbid", ()))
                built.append(Check(item["source"], require, forbid, item.get("each")))
            checks[platform_name] = tuple(built)
        rules.append(Rule(raw["id"], raw["title"], raw["control"], checks, tuple(raw.get("needs", ()))))
    ids = [r.id for r in rules]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise JinbaoError(Problem(str(path), duplicate, "id", "is used by two rules"))
    return rules


def load_waivers(env: Path, rules: list[Rule]) -> list[Waiver]:
    """The environment's reviewed exceptions. Every field is required; an unknown rule, a
    missing reason or approver, or a date that is not a date is refused, naming the waiver."""
    path = Path(env) / WAIVERS_FILE
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    known = {r.id for r in rules}
    waivers, problems = [], []
    for i, raw in enumerate(data.get("waivers") or []):
        where = f"waivers[{i}]" + (f" ({raw.get('rule')})" if isinstance(raw, dict) and raw.get("rule") else "")
        wrong = _waiver_problems(raw, where, known)
        problems += wrong
        if not wrong and not problems:
            waivers.append(
                Waiver(
                    raw["rule"],
                    tuple(raw["devices"]),
                    str(raw["reason"]),
                    str(raw["approved_by"]),
                    str(raw["ticket"]),
                    raw["expires"],
                )
            )
    if problems:
        raise JinbaoError(problems)
    return waivers


def _waiver_problems(raw: Any, where: str, known: set[str]) -> list[Problem]:
    """What is wrong with one waiver of waivers.yml (nothing: it is a reviewed waiver)."""
    if not isinstance(raw, dict):
        return [Problem(WAIVERS_FILE, where, "", "is not a mapping")]
    problems = []
    missing = [k for k in WAIVER_FIELDS if not raw.get(k)]
    unknown = sorted(set(raw) - set(WAIVER_FIELDS))
    if missing:
        problems.append(Problem(WAIVERS_FILE, where, ", ".join(missing), "is required (reviewed waivers only)"))
    if unknown:
        problems.append(Problem(WAIVERS_FILE, where, ", ".join(unknown), "is not a waiver field"))
    if raw.get("rule") and raw["rule"] not in known:
        problems.append(Problem(WAIVERS_FILE, where, "rule", f"{raw['rule']} is not a rule of {RULES_FILE.name}"))
    expires = raw.get("expires")
    if expires and not isinstance(expires, dt.date):
        problems.append(Problem(WAIVERS_FILE, where, "expires", f"{expires!r} is not a date (YYYY-MM-DD)"))
    devices = raw.get("devices")
    if devices is not None and not (isinstance(devices, list) and all(isinstance(d, str) for d in devices)):
        problems.append(Problem(WAIVERS_FILE, where, "devices", "is a list of hostnames or site ids (globs)"))
    return problems


def lookup(context: dict, dotted: str) -> Any:
    value: Any = context
    for part in dotted.split("."):
        value = value[part]
    return value


@cache
def _template(text: str):
    return _ENV.from_string(text)


def render(text: str, context: dict, item: Any = None) -> str:
    return _template(text).render(context, item=item)


def evaluate(
    rules: list[Rule],
    platform_name: str,
    context: dict,
    read: Callable[[str], str],
    hostname: str,
    site: str,
    waivers: list[Waiver] = (),
    today: dt.date | None = None,
) -> list[RuleResult]:
    """Run every rule that has checks for this platform. `read(source)` returns the running
    config for "running" or a command's output; each distinct source is read once."""
    today = today or dt.date.today()
    output = _read_once(read)
    results = []
    for rule in rules:
        checks = rule.checks.get(platform_name)
        if checks is None:
            continue
        result = _run_rule(rule, checks, context, output)
        if result.status == "fail":
            _waive(result, waivers, hostname, site, today)
        results.append(result)
    return results


def _read_once(read: Callable[[str], str]) -> Callable[[str], str]:
    """`read`, each source read once: an unreadable source raises its error again on every use."""
    outputs: dict[str, str | Exception] = {}

    def output(source: str) -> str:
        if source not in outputs:
            try:
                outputs[source] = read(source)
            except Exception as exc:  # one unreadable source fails the rules that need it, not the audit
                outputs[source] = exc
        value = outputs[source]
        if isinstance(value, Exception):
            raise value
        return value

    return output


def _run_rule(rule: Rule, checks: tuple[Check, ...], context: dict, output: Callable[[str], str]) -> RuleResult:
    evidence = [f"the model gives this site no {need} host" for need in rule.needs if not lookup(context, need)]
    status = "fail" if evidence else "pass"
    try:
        for check in checks:
            items = lookup(context, check.each) if check.each else [None]
            for item in items:
                if not _run_check(check, context, item, output, evidence):
                    status = "fail"
    except Exception as exc:
        evidence.append(f"cannot check: {type(exc).__name__}: {exc}")
        status = "error"
    return RuleResult(rule.id, rule.title, status, evidence)


def _run_check(check: Check, context: dict, item: Any, output: Callable[[str], str], evidence: list[str]) -> bool:
    """One check for one item: True when it passes, else False with its evidence appended."""
    source = render(check.source, context, item)
    text = output(source)
    before = len(evidence)
    for pattern in check.require:
        wanted = render(pattern, context, item)
        if not re.search(wanted, text, re.M):
            evidence.append(f"{source}: missing /{wanted}/")
    for pattern in check.forbid:
        unwanted = render(pattern, context, item)
        found = re.search(unwanted, text, re.M)
        if found:
            line = text[text.rfind("\n", 0, found.start()) + 1 :].split("\n", 1)[0]
            evidence.append(f"{source}: forbidden /{unwanted}/ in {line.strip()!r}")
    return len(evidence) == before


def _waive(result: RuleResult, waivers: list[Waiver], hostname: str, site: str, today: dt.date) -> None:
    """A failed rule's waiver, if one covers the device: waived until it expires, noted after."""
    waiver = next((w for w in waivers if w.rule == result.rule and w.covers(hostname, site)), None)
    if waiver is None:
        return
    note = {"reason": waiver.reason, "approved_by": waiver.approved_by, "ticket": waiver.ticket}
    note["expires"] = waiver.expires.isoformat()
    if waiver.expires >= today:
        result.status, result.waiver = "waived", note
    else:
        result.evidence.append(f"waiver {waiver.ticket} expired on {waiver.expires.isoformat()}")


def unused_waivers(waivers: list[Waiver], audited: list[tuple[str, str, list[RuleResult]]]) -> list[dict]:
    """Waivers that excused nothing in this audit (every device they cover passes, or they
    cover no audited device): candidates for removal at the next review."""
    used = {
        (r.waiver["ticket"], r.rule) for _, _, results in audited for r in results if r.status == "waived" and r.waiver
    }
    return [
        {"rule": w.rule, "ticket": w.ticket, "devices": list(w.devices), "expires": w.expires.isoformat()}
        for w in waivers
        if (w.ticket, w.rule) not in used
    ]
