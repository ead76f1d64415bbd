"""Intended vs running as configuration, not text: per feature, with the device's remediation.

Both texts are read as blocks (a top-level line and its indented children) with comments,
separators and device-added headers dropped, so only configuration is compared. Each
difference is filed under a feature (interfaces, routing, aaa, logging, acls, system) and
comes with the remediation the device needs: hier_config's for VRP and Comware, FRR's
own frr-reload.py diff for FRR (exactly what `jinbao push` would apply).
"""

from __future__ import annotations

import re

from hier_config import WorkflowRemediation

from network.platforms import platform
from network.render.hier import parse

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
        workflow = WorkflowRemediation(parse(platform_name, running), parse(platform_name, scrubbed))
        return str(workflow.remediation_config)
    device.load_replace_candidate(config=intended)
    try:
        return device.compare_config()
    finally:
        device.discard_config()
