"""The source of truth: load and validate an environment's intent into typed objects."""

from network.model.load import Network, gc_paused, load, site_path
from network.model.schema import TIERS, AddressPlan, Device, Host, Site, Uplink, hostname
from network.model.sitefiles import site_files

__all__ = [
    "TIERS",
    "AddressPlan",
    "Device",
    "Host",
    "Network",
    "Site",
    "Uplink",
    "gc_paused",
    "hostname",
    "load",
    "site_files",
    "site_path",
]
