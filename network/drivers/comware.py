"""NAPALM driver for H3C Comware over netmiko's ``hp_comware``.

Getters (config, facts) and ``cli`` for backup and audit; the configuration methods are
network/drivers/configure.py's: the remediation typed in system-view, committed under
Comware 7's `configuration commit delay` (a controller checkpoint on older releases).
"""

from __future__ import annotations

import re

from napalm.base import NetworkDriver
from napalm.base.exceptions import ConnectionException

from network.drivers.configure import ConfigSession
from network.drivers.session import connect
from network.drivers.vrp import close_quickly, read_config


class ComwareDriver(ConfigSession, NetworkDriver):
    platform = "h3c_comware"
    platform_name = "h3c_comware"

    def __init__(self, hostname: str, username: str, password: str = "", timeout: int = 30, optional_args=None):
        args = dict(optional_args or {})
        self.hostname = hostname
        self.username = username
        self.password = password
        self.timeout = timeout
        self.port = int(args.get("port", 22))
        self.known_hosts = args.get("known_hosts")
        self.device = None

    def open(self) -> None:
        self.device = connect(
            "hp_comware", self.hostname, self.port, self.username, self.password, self.timeout, None, self.known_hosts
        )

    def close(self) -> None:
        if self.device is not None:
            close_quickly(self.device)
            self.device = None

    def is_alive(self) -> dict:
        return {"is_alive": bool(self.device and self.device.is_alive())}

    def _send(self, command: str) -> str:
        output = self.device.send_command(command, read_timeout=self.timeout)
        if re.search(r"^\s*% (Unrecognized|Incomplete|Wrong parameter)", output, re.M):
            raise ConnectionException(f"{self.hostname}: `{command}` refused: {output.strip()[-200:]}")
        return output

    def cli(self, commands: list[str], encoding: str = "text") -> dict[str, str]:
        return {command: self.device.send_command(command, read_timeout=self.timeout) for command in commands}

    def get_config(self, retrieve: str = "all", full: bool = False, sanitized: bool = False, format: str = "text"):
        running = read_config(self.device, self.hostname, self.timeout) if retrieve in ("running", "all") else ""
        return {"running": running, "startup": "", "candidate": ""}

    def get_facts(self) -> dict:
        version = self._send("display version")
        sysname = self._send("display current-configuration | include sysname")
        release = re.search(r"Version (\S+), Release (\S+)", version)
        model = re.search(r"^H3C (\S+) uptime", version, re.M)
        return {
            "hostname": sysname.split()[-1] if sysname.split() else "",
            "fqdn": "",
            "vendor": "H3C",
            "model": model.group(1) if model else "",
            "os_version": f"{release.group(1)} Release {release.group(2)}" if release else "",
            "serial_number": "",
            "uptime": -1.0,
            "interface_list": [],
        }
