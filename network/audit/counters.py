"""Stale permits read back from a live firewall's counters: the periodic cleanup's list
(`jinbao zones stale`). It reads device output, as the rest of the audit does."""

from __future__ import annotations

import datetime as dt
import json


def stale_usg(display_output: str, since: dt.datetime | dt.date | str) -> list[dict]:
    """The same report from a Huawei USG: `display security-policy rule all` lists each rule
    with its hit count (since the counters were last cleared: `since`)."""
    found = []
    for line in display_output.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit() and fields[-2] in ("permit", "deny") and fields[-1].isdigit():
            name, action, hits = fields[1], fields[-2], int(fields[-1])
            if action == "permit" and hits == 0:
                found.append({"flow": name, "comment": name, "packets": 0, "since": str(since)})
    return found


def stale(ruleset_json: str, loaded: dt.datetime | dt.date | str) -> list[dict]:
    """Permits of a loaded nftables ruleset (`nft -j list table inet jinbao_zones`) that
    matched nothing since it was loaded: flow id, comment, packets. nftables counters start
    at zero when the table is (re)loaded, so "since" is the load time."""
    rules = []
    for item in json.loads(ruleset_json).get("nftables", []):
        rule = item.get("rule")
        if not rule or rule.get("table") != "jinbao_zones":
            continue
        comment = rule.get("comment", "")
        verdict = any("accept" in expr for expr in rule.get("expr", []))
        counter = next((expr["counter"] for expr in rule.get("expr", []) if "counter" in expr), None)
        if not verdict or counter is None:
            continue
        flow = comment.split(" ", 1)[0]
        rules.append({"flow": flow, "comment": comment, "packets": counter.get("packets", 0), "since": str(loaded)})
    return [r for r in rules if r["packets"] == 0]
