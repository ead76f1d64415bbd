"""hier_config for our platforms: parse rendered or running configs into comparable trees.

hier_config's Comware 5 driver keeps the `#` separator lines that Comware prints between
sections (its VRP driver drops them), so every separator after the first is a
"duplicate section", and it leaves views with `exit` where Comware says `quit`. We give it
the VRP driver's behaviour for both, and teach both drivers
which commands simply overwrite their previous value on these platforms, so that a
remediation says `ospf cost 100` rather than `undo ospf cost 200` first.
"""

from __future__ import annotations

from functools import cache

from hier_config import HConfig, Platform, get_hconfig, get_hconfig_driver
from hier_config.child import HConfigChild
from hier_config.models import IdempotentCommandsRule, MatchRule, PerLineSubRule
from hier_config.platforms.driver_base import HConfigDriverBase
from hier_config.platforms.hp_comware5.driver import HConfigDriverHPComware5

from network.platforms import platform

COMMENT_LINES = PerLineSubRule(search=r"^\s*[#!].*", replace="")
OVERWRITING = (
    ((), ("sysname ", "header login ")),
    (("interface ",), ("description ", "ip address ", "ospf cost ", "ospf network-type ")),
    (("user-interface ",), ("idle-timeout ",)),
)


def _idempotent_rules() -> list[IdempotentCommandsRule]:
    rules = []
    for parents, commands in OVERWRITING:
        for command in commands:
            chain = (*tuple(MatchRule(startswith=p) for p in parents), MatchRule(startswith=command))
            rules.append(IdempotentCommandsRule(match_rules=chain))
    return rules


class ComwareDriver(HConfigDriverHPComware5):
    def sectional_exit(self, config: HConfigChild) -> str | None:
        result = super().sectional_exit(config)
        return "quit" if result == "exit" else result


@cache
def driver(platform_name: str) -> HConfigDriverBase:
    hier_name = platform(platform_name)["hier_config"]
    if hier_name is None:
        raise ValueError(f"platform {platform_name} has no hier_config driver")
    base = ComwareDriver() if hier_name == "HP_COMWARE5" else get_hconfig_driver(getattr(Platform, hier_name))
    if COMMENT_LINES not in base.rules.per_line_sub:
        base.rules.per_line_sub.append(COMMENT_LINES)
    base.rules.idempotent_commands.extend(_idempotent_rules())
    return base


def parse(platform_name: str, text: str) -> HConfig:
    return get_hconfig(driver(platform_name), text)
