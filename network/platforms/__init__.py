"""Per-platform data: interface naming, file names, library names (network/platforms/<name>.yml).

Platform differences live here as data, not as ``if platform == ...`` in Python; the renderer,
the drivers, the audit and the inventory plugin all read them from this one loader.
"""

from __future__ import annotations

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
