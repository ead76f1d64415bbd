"""Per-platform data: interface naming, file names, library names, what is secret in a config
(network/platforms/<name>.yml).

Platform differences live here as data, not as ``if platform == ...`` in Python; the renderer,
the drivers, the audit and the inventory plugin all read them from this one loader.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PLATFORMS_DIR = Path(__file__).resolve().parent


@cache
def platform(name: str) -> dict[str, Any]:
    """The data of one platform (huawei_vrp, h3c_comware, frr)."""
    with (PLATFORMS_DIR / f"{name}.yml").open() as fh:
        return yaml.safe_load(fh)


@cache
def _scrub_rules(platform_name: str) -> list[tuple[re.Pattern, str]]:
    return [(re.compile(p, re.MULTILINE), r) for p, r in platform(platform_name).get("scrub", [])]


def scrub(platform_name: str, text: str) -> str:
    """`text` with its secrets replaced by the platform's ``scrub`` rules (salted ciphertexts
    differ on every read), ending in a newline: how backup, audit and push compare configs."""
    for pattern, replacement in _scrub_rules(platform_name):
        text = pattern.sub(replacement, text)
    return text if text.endswith("\n") else text + "\n"
