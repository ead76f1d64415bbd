"""Which devices an allocation change touches, so `jinbao plan --render` rewrites only those.

A new township changes its own site, device and line; the line also lands on the parent's
router. Anything wider (a region, a DC host that others send logs to, a template) falls
back to a full render, which is always correct, only slower.
"""

from __future__ import annotations

import json
from pathlib import Path

from network.ipam import Change
from network.model import Network
from network.render.engine import MANIFEST


def affected_devices(network: Network, changes: list[Change], out_dir: Path) -> list | None:
    """The (site, device) pairs to re-render; None means everything."""
    manifest = Path(out_dir) / MANIFEST
    if not manifest.exists() or not json.loads(manifest.read_text()).get("files"):
        return None  # no previous full build to be incremental against
    wanted: dict[tuple[str, str], None] = {}

    def site_devices(site_id: str) -> None:
        site = network.sites.get(site_id)
        for device in site.devices if site else ():
            wanted[(site_id, device.name)] = None

    for change in changes:
        if change.section in ("regions", "zones", "hosts"):
            return None
        if change.section == "sites":
            site_devices(change.key)
        elif change.section == "devices":
            site_id, device = change.key.split("/", 1)
            if site_id in network.sites:
                wanted[(site_id, device)] = None
        elif change.section == "links":
            site_id, line_key = change.key.split(":", 1)
            site = network.sites.get(site_id)
            if site is None:  # a released line: its parent still had a port on it
                return None
            site_devices(site_id)
            line = next((u for u in site.uplinks if u.key == line_key), None)
            if line is not None:
                site_devices(line.parent or site.parent)
    result = []
    for site_id, device_name in wanted:
        site = network.sites[site_id]
        device = site.device(device_name)
        if device is not None:
            result.append((site, device))
    return result
