"""The source of truth: load and validate an environment's intent into typed objects."""

from network.model.load import Network, load, site_path
from network.model.schema import TIERS, AddressPlan, Device, Host, Site, Uplink, hostname

__all__ = ["TIERS", "AddressPlan", "Device", "Host", "Network", "Site", "Uplink", "hostname", "load", "site_path"]
