"""Security zones as code: inventories/<env>/zones.yml, validated against the level-3 rules
and compiled into firewall rules (nftables for Linux firewalls, Huawei USG security-policy).

A flow names a source and a destination (a zone, or ``zone/role`` for the hosts of one role
in it), a service, why it exists, who owns it and when it is reviewed next. Validation refuses
what the protection rules forbid, naming the flow:

- nothing from the internet or a partner zone to the core database;
- the core database's database service only from the middleware, and for audited maintenance
  from the operations zone's bastion, the console that records sessions (B/S three tiers,
  level 3);
- a ``zone/role`` end that no DC of the environment has (it would compile to nothing);
- the internet reaches only the DMZ; the DMZ reaches the internal network only through the
  gatekeeper (``via: gatekeeper``: a ferry of files, never an IP path);
- ``any`` as a service or an address only with a waiver (reason, approver, expiry);
- every firewall flow crosses a declared firewall layer, and adjacent layers (sharing a zone)
  are of different vendors.

Addresses are never written here: a zone's subnet and its hosts come from allocations.yml.

One module per job: schema (the specs), read (load zones.yml), checks (the rules above), paths
(the layers a flow crosses), endpoints (the addresses of a flow end), compile (the one flow
compiler: a flow in a DC → addresses, protocol, ports), and its consumers layers (a firewall
layer's rules, rendered), acl (a host's own ACL); ferries (the gatekeepers). Stale permits read
from live counters are the audit's (network.audit.counters). Pulumi's security groups
(pulumi/jinbao_cloud/plan.py) are the compiler's third consumer. Callers import everything from `network.zones`.
"""

from network.zones.acl import admitted
from network.zones.checks import overdue, unplaced_roles, validate
from network.zones.compile import FlowRule, flows_to_rules
from network.zones.endpoints import endpoint_addresses, internet_edge_of, wan_addresses
from network.zones.ferries import Ferry, FerryEnd, Gatekeeper, ferry_logins, gatekeepers
from network.zones.layers import SUFFIX, Rule, compile_rules, render, render_all, zones_of
from network.zones.read import load, load_if_any
from network.zones.schema import (
    ANY,
    CHECKED_CONTENT,
    CONSOLE_ROLE,
    DATABASE_CLIENTS,
    DATABASE_SERVICE,
    FERRY_ACCOUNT,
    FILE,
    SPOOLS,
    UNTRUSTED,
    FerrySpec,
    FlowSpec,
    Kind,
    LayerSpec,
    PolicySpec,
    ServiceSpec,
    WaiverSpec,
    ZoneSpec,
    names_hosts_of,
)

__all__ = [
    "ANY",
    "CHECKED_CONTENT",
    "CONSOLE_ROLE",
    "DATABASE_CLIENTS",
    "DATABASE_SERVICE",
    "FERRY_ACCOUNT",
    "FILE",
    "SPOOLS",
    "SUFFIX",
    "UNTRUSTED",
    "Ferry",
    "FerryEnd",
    "FerrySpec",
    "FlowRule",
    "FlowSpec",
    "Gatekeeper",
    "Kind",
    "LayerSpec",
    "PolicySpec",
    "Rule",
    "ServiceSpec",
    "WaiverSpec",
    "ZoneSpec",
    "admitted",
    "compile_rules",
    "endpoint_addresses",
    "ferry_logins",
    "flows_to_rules",
    "gatekeepers",
    "internet_edge_of",
    "load",
    "load_if_any",
    "names_hosts_of",
    "overdue",
    "render",
    "render_all",
    "unplaced_roles",
    "validate",
    "wan_addresses",
    "zones_of",
]
