"""Jinja test for the frr_router role: whether `frr-reload.py --test` found nothing to change.

frr-reload.py --test prints two sections, 'Lines To Delete' and 'Lines To Add', each under a
'====' rule; FRR runs the file exactly when both are empty. It exits non-zero when it cannot
read the running config (vtysh finds no daemons: FRR is down), which is never in sync.
"""

import re

_DECORATION = re.compile(r"^(Lines To (Delete|Add)|=+|\s*)$")


def frr_router_in_sync(result) -> bool:
    if not isinstance(result, dict) or result.get("skipped") or result.get("rc") != 0:
        return False
    return not [line for line in result.get("stdout_lines", []) if not _DECORATION.match(line)]


class TestModule:
    def tests(self):
        return {"frr_router_in_sync": frr_router_in_sync}
