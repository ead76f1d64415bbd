"""Stable IPAM: allocate from hierarchical pools, persist in allocations.yml."""

from network.ipam.allocate import Change, Plan, allocate, line_ends, region_of
from network.ipam.store import Allocations, read, write

__all__ = ["Allocations", "Change", "Plan", "allocate", "line_ends", "read", "region_of", "write"]
