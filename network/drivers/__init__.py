"""Device drivers: NAPALM for every platform, one session per device.

``jinbao_frr`` (the lab's FRR routers) and ``jinbao_comware`` (H3C Comware over netmiko's
``hp_comware``) are this package's own drivers; Huawei VRP uses the NAPALM community driver
``huawei_vrp`` (napalm-huawei-vrp, over netmiko's ``huawei``) for its getters, as named in
network/platforms/<platform>.yml. VRP and Comware push through configure.py (docs/push.md).
tests/replay runs them against replayed device sessions.

Credentials: on a platform whose data says ``automation_key`` (the lab's FRR routers), the
automation account and the key that `jinbao lab up` made, with pinned host keys
(network/envstate.py), once that key exists; elsewhere the admin account of
``jinbao_admin_users`` and its password from the vault (``vault_jinbao_user_passwords``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from network.envstate import automation_key
from network.errors import JinbaoError, Problem
from network.model import Network
from network.platforms import platform


@dataclass(frozen=True)
class Target:
    """One device to talk to."""

    hostname: str  # inventory hostname
    platform: str
    address: str  # management address
    username: str
    password: str
    optional_args: dict


def targets(
    env: Path, network: Network, allocations, secrets=None, limit: list[str] | None = None, some: bool = True
) -> list[Target]:
    """The devices `limit` names (hostname or site id globs; None: all). `some`: a limit that
    names no device is refused (a caller that also acts on servers checks that itself)."""
    key = automation_key(env)
    found = []
    for site, device in network.iter_devices():
        hostname = network.hostname(site, device.name)
        if limit and not any(matches(hostname, site, pattern) for pattern in limit):
            continue
        address = allocations.devices[f"{site.id}/{device.name}"]["management"]
        if not by_password(key, device.platform):
            user = str(network.settings.get("ansible_user", "jinbao"))
            args = {"key_file": str(key.key_file), "known_hosts": str(key.known_hosts)}
            found.append(Target(hostname, device.platform, address, user, "", args))
            continue
        admin = next((u.name for u in network.policy.admin_users if u.role == "admin"), None)
        password = secrets.password(admin) if secrets is not None and admin else ""
        if not admin or not password:
            raise JinbaoError(
                Problem("group_vars/all", hostname, "jinbao_admin_users", "no admin account with a vault password")
            )
        found.append(Target(hostname, device.platform, address, admin, password, {}))
    if limit and not found and some:
        raise JinbaoError(Problem("sites.yml", "", "--limit", f"matches no device: {', '.join(limit)}"))
    return found


def by_password(key, platform_name: str) -> bool:
    """Whether jinbao logs in to a device of this platform as the admin, by password (its local
    accounts are then on it); False: by the environment's automation key (`key`:
    envstate.automation_key, the lab's; FRR)."""
    return key is None or not platform(platform_name).get("automation_key")


def matches(hostname: str, site, pattern: str) -> bool:
    """A --limit pattern names a node: its hostname or its site's id, globs allowed."""
    from fnmatch import fnmatch

    return fnmatch(hostname, pattern) or fnmatch(site.id, pattern)


def driver_class(platform_name: str):
    name = platform(platform_name)["napalm"]
    if name == "jinbao_frr":
        from network.drivers.frr import FrrDriver

        return FrrDriver
    if name == "huawei_vrp":
        from network.drivers.vrp import HuaweiVrpDriver

        return HuaweiVrpDriver
    if name == "jinbao_comware":
        from network.drivers.comware import ComwareDriver

        return ComwareDriver
    from napalm import get_network_driver

    return get_network_driver(name)


def open_driver(target: Target, timeout: int = 30):
    cls = driver_class(target.platform)
    device = cls(target.address, target.username, target.password, timeout=timeout, optional_args=target.optional_args)
    device.open()
    return device
