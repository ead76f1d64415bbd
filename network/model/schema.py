"""Typed shape of the intent files. Only the shape of one record lives here;
rules that span records (parents exist, names unique) live in ``load``.

Two layers: pydantic ``*Spec`` models validate what people wrote and say precisely what
is wrong; validated records become immutable ``NamedTuple``s (Site, Device, Uplink, Host)
that the rest of the code uses. Those are ~20x cheaper to keep and to load from the
per-file cache, which is what lets the national inventory re-plan in about a second.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Tiers from the top of the tree down; a site's parent sits exactly one tier above it.
TIERS: tuple[str, ...] = ("ministry", "province", "city", "county", "township", "village")
DC_PARENT_TIERS: tuple[str, ...] = ("ministry", "province", "city")

Tier = Literal["ministry", "province", "city", "county", "township", "village", "datacenter"]
PlatformName = Literal["huawei_vrp", "h3c_comware", "frr"]
LineType = Literal["mstp", "mpls-vpn", "fibre", "4g", "vpn"]
BACKUP_LINE_TYPES = frozenset({"4g", "vpn"})

Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")]
SiteId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]

# Laptops per office, from the reference plan: at least two per province/city/county, one per township
# (none at a village access point: its /30 holds the clerk's PC, docs/addressing.md).
DEFAULT_LAPTOPS = {"ministry": 2, "province": 2, "city": 2, "county": 2, "township": 1, "village": 0}

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_BANDWIDTH = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMG])(?:bps|b)?$", re.IGNORECASE)


def parse_bandwidth(text: object) -> int:
    """'10M' -> 10_000 kbit/s. A number without a unit is refused: 10 what?"""
    if isinstance(text, int | float) or (isinstance(text, str) and _NUMBER.match(text.strip())):
        raise ValueError(f"bandwidth {text!r} has no unit; write it with one, like 2M, 100M or 1G")
    match = _BANDWIDTH.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"bandwidth {text!r} is not like 2M, 100M or 1G")
    value, unit = float(match.group(1)), match.group(2).upper()
    return int(value * {"K": 1, "M": 1_000, "G": 1_000_000}[unit])


def format_bandwidth(kbps: int) -> str:
    """10_000 -> '10M': the inverse of parse_bandwidth, for descriptions and reports."""
    for unit, size in (("G", 1_000_000), ("M", 1_000)):
        if kbps >= size and kbps % size == 0:
            return f"{kbps // size}{unit}"
    return f"{kbps}K"


# An OSPF interface cost is 16 bits on every platform: FRR, VRP and Comware refuse 0 or above 65535.
OSPF_COST_MIN, OSPF_COST_MAX = 1, 65_535


def ospf_cost(bandwidth_kbps: int, reference_kbps: int) -> int:
    """Cost from bandwidth against the reference (10G costs 1), inside the platforms' range:
    a 64K line would cost 156,250 against 10G, which no router takes."""
    return min(OSPF_COST_MAX, max(OSPF_COST_MIN, reference_kbps // bandwidth_kbps))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceSpec(Strict):
    """A router at a site. Its addresses come from IPAM, never from here."""

    name: Slug
    role: Literal["core", "aggregation", "access", "border"]
    platform: PlatformName


class UplinkSpec(Strict):
    """A leased line from this site up to a site of a higher tier."""

    name: Slug | None = None  # stable key of the line; defaults to its type
    parent: SiteId | None = None  # defaults to the site's parent
    carrier: str = Field(min_length=1)
    type: LineType
    bandwidth_kbps: int = Field(alias="bandwidth", gt=0)
    device: Slug | None = None  # this site's router; defaults to its first
    parent_device: Slug | None = None  # the parent's router; defaults to its first
    circuit_id: str | None = None

    @field_validator("bandwidth_kbps", mode="before")
    @classmethod
    def _bandwidth(cls, value: object) -> int:
        return parse_bandwidth(value)


class HostSpec(Strict):
    """A server in a data-centre site, placed in a security zone."""

    name: Slug
    role: str = Field(min_length=1)
    zone: Slug
    provides: tuple[Literal["syslog", "ntp", "dns", "tacacs", "snmp-manager"], ...] = ()


class SiteSpec(Strict):
    id: SiteId
    slug: Slug
    name: str = Field(min_length=1)  # display name, Chinese welcome
    tier: Tier
    parent: SiteId | None = None
    posts: int = Field(default=0, ge=0, le=5000)  # business posts: one PC + one printer each
    laptops: int | None = Field(default=None, ge=0)
    # people insured in its area (a township's, or a county's spread over its townships): sizes lines
    insured: int | None = Field(default=None, ge=0, le=10_000_000)
    devices: tuple[DeviceSpec, ...] = ()
    uplinks: tuple[UplinkSpec, ...] = ()
    hosts: tuple[HostSpec, ...] = ()
    # a DR site: the id of the DC whose business system it replicates (docs/dr.md)
    dr_for: SiteId | None = None

    def to_site(self) -> Site:
        return Site(
            self.id,
            self.slug,
            self.name,
            self.tier,
            self.parent,
            self.posts,
            self.laptops,
            tuple(Device(d.name, d.role, d.platform) for d in self.devices),
            tuple(
                Uplink(
                    u.name,
                    u.parent or self.parent,  # resolved here, once: every reader takes the line's own parent
                    u.carrier,
                    u.type,
                    u.bandwidth_kbps,
                    u.device,
                    u.parent_device,
                    u.circuit_id,
                    u.parent,
                )
                for u in self.uplinks
            ),
            tuple(Host(h.name, h.role, h.zone, h.provides) for h in self.hosts),
            self.dr_for,
            self.insured,
        )


# --- the validated records everything else uses ------------------------------------------


class Device(NamedTuple):
    """A router at a site. Its addresses come from IPAM, never from here."""

    name: str
    role: str
    platform: str


class Uplink(NamedTuple):
    """A leased line from a site up to a site of a higher tier."""

    name: str | None
    parent: str | None  # the site the line lands on: as written, else its site's parent (resolved at load)
    carrier: str
    type: str
    bandwidth_kbps: int
    device: str | None
    parent_device: str | None
    circuit_id: str | None
    stated_parent: str | None = None  # the parent as written in sites.yml (None: the site's); for load's checks

    @property
    def key(self) -> str:
        """Stable key of the line within its site: its name, else its type."""
        return self.name or self.type

    @property
    def backup(self) -> bool:
        return self.type in BACKUP_LINE_TYPES


class Host(NamedTuple):
    name: str
    role: str
    zone: str
    provides: tuple[str, ...]


class Site(NamedTuple):
    id: str
    slug: str
    name: str
    tier: str
    parent: str | None
    posts: int
    laptops: int | None
    devices: tuple[Device, ...]
    uplinks: tuple[Uplink, ...]
    hosts: tuple[Host, ...]
    dr_for: str | None = None  # a DR site: the DC it replicates
    insured: int | None = None  # as written; network.capacity spreads a county's over its townships

    @property
    def laptop_count(self) -> int:
        if self.laptops is not None:
            return self.laptops
        return DEFAULT_LAPTOPS.get(self.tier, 0)

    def device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)


def hostname(site: Site, name: str) -> str:
    """The one name of every host, router, server or lab stand-in alike: <site slug>-<name>.
    The inventory, configs, Pulumi and the lab all use it; load checks it is unique."""
    return f"{site.slug}-{name}"


class Pool(Strict):
    """A pool carved inside every region block, in the order listed."""

    name: str
    prefixlen: int = Field(ge=8, le=32)  # size of the pool itself
    # prefix length of one allocation; LAN pools size each allocation from the site's posts
    allocate: int | Literal["sized"] = Field(default=32)


class RegionPlan(Strict):
    supernet: str
    # one block of this size per region; None: the region is the whole supernet (national)
    prefixlen: int | None = Field(default=None, ge=8, le=30)
    pools: tuple[Pool, ...]
    # province id -> its block, as the national plan assigned it; for a province whose sites
    # live in an inventory of its own, so that its block cannot collide with another's
    assigned: dict[str, str] = Field(default_factory=dict)


class ManagementPlan(Strict):
    supernet: str  # one out-of-band management address (/32) per device, network-wide


class VillagePlan(Strict):
    """Village access points (docs/addressing.md): a fixed LAN each, first from the province's
    `lan-village` pool, then from blocks of this supernet a province takes as it needs them."""

    supernet: str
    prefixlen: int = Field(default=17, ge=8, le=30)  # one block a province takes
    allocate: int = Field(default=30, ge=24, le=30)  # one village's LAN: the gateway and the clerk's PC

    @model_validator(mode="after")
    def _block_holds_a_village(self) -> VillagePlan:
        if self.prefixlen > self.allocate:
            raise ValueError(f"prefixlen /{self.prefixlen} is smaller than one village's /{self.allocate}")
        return self


class LanSizing(Strict):
    growth: float = Field(default=1.5, ge=1.0)  # head-room over today's count
    min_prefixlen: int = Field(default=28, ge=16, le=30)
    max_prefixlen: int = Field(default=22, ge=16, le=30)


class AddressPlan(Strict):
    """The national address plan, see docs/addressing.md."""

    national: RegionPlan  # the ministry and national services
    provinces: RegionPlan  # one block per province; the province's whole subtree draws from it
    management: ManagementPlan
    villages: VillagePlan | None = None  # None: villages only in the provinces' lan-village pools
    lan_sizing: LanSizing = LanSizing()
