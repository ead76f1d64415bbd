"""One way to open a netmiko session for this package's drivers (FRR, Comware): timeouts,
pinned host keys when known, and connection errors worded per device."""

from __future__ import annotations

from typing import Any

from napalm.base.exceptions import ConnectionException
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException


def connect(
    device_type: str,
    hostname: str,
    port: int,
    username: str,
    password: str,
    timeout: int,
    key_file: str | None = None,
    known_hosts: str | None = None,
):
    params: dict[str, Any] = {
        "device_type": device_type,
        "host": hostname,
        "port": port,
        "username": username,
        "password": password or None,
        "conn_timeout": timeout,
        "auth_timeout": timeout,
        "banner_timeout": timeout,
        "read_timeout_override": timeout,
        "fast_cli": True,
        "allow_agent": False,
        "use_keys": bool(key_file),
    }
    if key_file:
        params["key_file"] = key_file
    if known_hosts:  # pinned host keys: an unknown key is refused, never learned
        params.update(ssh_strict=True, system_host_keys=False, alt_host_keys=True, alt_key_file=known_hosts)
    try:
        return ConnectHandler(**params)
    except NetmikoAuthenticationException as exc:
        raise ConnectionException(f"{hostname}: authentication failed: {exc}") from exc
    except NetmikoTimeoutException as exc:
        raise ConnectionException(f"{hostname}: unreachable: {exc}") from exc
    except Exception as exc:  # paramiko host key refusals, socket errors, ...
        raise ConnectionException(f"{hostname}: {type(exc).__name__}: {exc}") from exc
