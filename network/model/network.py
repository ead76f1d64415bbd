"""The loaded environment: the validated sites and the indexes consumers read them by."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from network.model.schema import AddressPlan, Site, hostname
from network.model.settings import Settings


@dataclass
class Network:
    """The validated intent of one environment, with the indexes consumers need."""

    name: str
    root: Path
    sites: dict[str, Site]
    addressing: AddressPlan
    settings: dict[str, Any]
    site_files: dict[str, str] = field(default_factory=dict)  # site id -> file it came from
    children: dict[str, list[str]] = field(default_factory=dict)  # site id -> its children's ids (children_of)
    policy: Settings = field(default_factory=Settings)
    file_digests: dict[str, str] = field(default_factory=dict)  # sites file -> sha256 (incremental plans)
    _province: dict[str, Site | None] = field(default_factory=dict, repr=False)
    _paths: dict[str, str] = field(default_factory=dict, repr=False)

    def parent(self, site: Site) -> Site | None:
        return self.sites[site.parent] if site.parent else None

    def ancestors(self, site: Site) -> list[Site]:
        """Parent first, up to the root; stops at a parent loop (which check_tree refuses)."""
        chain, seen = [], {site.id}
        while site.parent in self.sites and site.parent not in seen:
            site = self.sites[site.parent]
            seen.add(site.id)
            chain.append(site)
        return chain

    def path(self, site: Site) -> str:
        if self.sites.get(site.id) is not site:  # another version of it (an incremental plan's before)
            return site_path(self.sites, site)
        found = self._paths.get(site.id)
        if found is None:
            found = self._paths[site.id] = site_path(self.sites, site)
        return found

    def province_of(self, site: Site) -> Site | None:
        """The province whose address block the site draws from; None for the national level."""
        if site.id in self._province:
            return self._province[site.id]
        if site.tier == "province":
            found = site
        elif site.tier == "ministry" or site.parent is None or site.parent not in self.sites:
            found = None
        else:
            found = self.province_of(self.sites[site.parent])
        self._province[site.id] = found
        return found

    def hostname(self, site: Site, name: str) -> str:
        return hostname(site, name)

    def dr_pairs(self) -> list[tuple[str, str]]:
        """(DC, its DR site) for every site that says `dr_for` (check_tree refuses a wrong one)."""
        return [(s.dr_for, s.id) for s in self.sites.values() if s.dr_for in self.sites]

    def dr_peers(self, site_id: str) -> list[str]:
        """The sites a DC or DR site replicates with: its DR site(s), or the DC it stands in for."""
        return [b if a == site_id else a for a, b in self.dr_pairs() if site_id in (a, b)]

    def iter_devices(self) -> Iterable[tuple[Site, Any]]:
        for site in self.sites.values():
            for device in site.devices:
                yield site, device


def children_of(sites: dict[str, Site]) -> dict[str, list[str]]:
    """Site id -> the ids of the sites whose parent it is, in file order (every site has an entry)."""
    children: dict[str, list[str]] = {site_id: [] for site_id in sites}
    for site in sites.values():
        if site.parent in sites:
            children[site.parent].append(site.id)
    return children


def site_path(sites: dict[str, Any], site: Any) -> str:
    """zhejiang/jinhua/yiwu/choucheng; the ministry is the implied root.

    Works on raw dicts too, so errors found before validation still name the site's place.
    """

    def get(record: Any, key: str) -> Any:
        return record.get(key) if isinstance(record, dict) else getattr(record, key, None)

    parts, seen = [], set()
    current = site
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if get(current, "tier") == "ministry" and current is not site:
            break
        parts.append(str(get(current, "slug") or get(current, "id") or "?"))
        parent_id = get(current, "parent")
        if parent_id is None:
            break
        current = sites.get(parent_id)
        if current is None:
            parts.append("…")
    return "/".join(reversed(parts))
