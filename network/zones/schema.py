"""zones.yml as typed specs (pydantic), the level-3 constants the checks apply, and how a
flow end (`zone`, `zone/role` or `any`) is read."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from network.model.schema import Slug, Strict

FILE = "zones.yml"
ANY = "any"
Kind = Literal["core", "internal", "ops", "external", "partner", "dmz", "internet", "wan"]
UNTRUSTED = ("internet", "partner")
# The core database's database service (PostgreSQL, by name or by its port under another
# name) is reached by the middleware of an internal zone, and for maintenance by the
# operations zone's bastion (ops/bastion, the audited console), and by nothing else.
DATABASE_SERVICE = ("postgresql", "tcp", 5432)
# The audited console (docs/access.md): operators reach every other node from it only.
CONSOLE_ROLE = "bastion"
DATABASE_CLIENTS = {"internal": ("middleware",), "ops": (CONSOLE_ROLE,)}  # zone kind -> roles
# content types the gatekeeper can check (well-formed, no DTD or entities, size): a ferry
# may carry only these
CHECKED_CONTENT = ("application/xml", "application/json")
FERRY_ACCOUNT = "jinbao-ferry"  # the account a ferry end keeps for its gatekeeper, and nothing else
SPOOLS = "/var/spool/jinbao"  # a ferry's spool on each end: <SPOOLS>/<ferry>


class ZoneSpec(Strict):
    title: str = Field(min_length=1)
    kind: Kind


class ServiceSpec(Strict):
    proto: Literal["tcp", "udp"]
    ports: tuple[int, ...] = Field(min_length=1)

    def model_post_init(self, _context) -> None:
        if not all(1 <= p <= 65535 for p in self.ports):
            raise ValueError("ports are 1-65535")


class WaiverSpec(Strict):
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    expires: dt.date


class FerrySpec(Strict):
    """What the gatekeeper carries for a `via: gatekeeper` flow: files, checked, one way."""

    content: tuple[str, ...] = Field(min_length=1)  # accepted content types, e.g. application/xml
    max_bytes: int = Field(gt=0)


class FlowSpec(Strict):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,31}$")
    source: str = Field(alias="from")
    to: str
    service: str
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    review: dt.date
    via: Literal["firewall", "gatekeeper"] = "firewall"
    waiver: WaiverSpec | None = None
    # between the two sites of a DR pair (sites.yml dr_for) over the WAN, not inside one DC:
    # `dr` each way, `dc-to-dr` or `dr-to-dc` one way (docs/zones.md)
    across: Literal["dr", "dc-to-dr", "dr-to-dc"] | None = None


class LayerSpec(Strict):
    name: Slug
    vendor: Literal["nftables", "huawei_usg"]
    zones: tuple[Slug, ...] = Field(min_length=2)


class PolicySpec(Strict):
    zones: dict[Slug, ZoneSpec]
    services: dict[Slug, ServiceSpec]
    ferries: dict[Slug, FerrySpec] = Field(default_factory=dict)
    layers: tuple[LayerSpec, ...] = ()
    flows: tuple[FlowSpec, ...] = ()


def zone_of(endpoint: str) -> str:
    return endpoint.split("/", 1)[0]


def role_of(endpoint: str) -> str:
    return endpoint.partition("/")[2]


def names_hosts_of(endpoint: str, zone: str, role: str) -> bool:
    """The flow end covers the hosts of zone/role: it names their zone, or that zone and role
    (`any` covers no host of its own: a host's rules come from the flows that name it)."""
    return endpoint in (zone, f"{zone}/{role}")


def where(i: int, flow: FlowSpec | dict) -> str:
    """How a problem names the flow it is about: its index, and id, ends and service when known."""
    if isinstance(flow, FlowSpec):
        return f"flows[{i}] ({flow.id}: {flow.source} → {flow.to} {flow.service})"
    return f"flows[{i}]" + (f" ({flow.get('id')})" if isinstance(flow, dict) and flow.get("id") else "")
