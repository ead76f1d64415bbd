"""Huawei VRP: napalm-huawei-vrp's driver (over netmiko's ``huawei``) for its getters, with
jinbao's configuration methods (network/drivers/configure.py) and closing fast.

napalm-huawei-vrp's own configuration methods are not used: its replace candidate compares
nothing useful (a drifted device showed an empty diff and `unchanged`) and its commit has
no ``revert_in``.

netmiko ends a Huawei session by probing for configuration mode with a delay-based read
(about 2 s per device, most of an audit's time). Sending ``return`` (to the user view from
any view) and ``quit`` ends the session the way an operator does, without the wait.
"""

from __future__ import annotations

import contextlib
import re

from napalm.base.exceptions import ConnectionException
from napalm_huawei_vrp.huawei_vrp import VRPDriver

from network.drivers.configure import ConfigSession

_END = re.compile(r"^return\s*$", re.M)  # the last line of every VRP and Comware configuration


def read_config(connection, hostname: str, timeout: float) -> str:
    """`display current-configuration`, checked to be whole: a read that returns before the
    device finished (a prompt left in the buffer, a slow device) is read again once, and
    refused if it is still cut short — never compared as if it were the device's config."""
    for _ in range(2):
        output = connection.send_command("display current-configuration", read_timeout=timeout)
        # an echo netmiko did not strip (it came after a late prompt): drop it and what precedes it
        head = output.split("\n", 3)
        for i, line in enumerate(head[:3]):
            if line.rstrip().endswith("display current-configuration"):
                output = "\n".join(head[i + 1 :])
                break
        if _END.search(output):
            return output
        connection.clear_buffer()
    raise ConnectionException(f"{hostname}: the configuration read was cut short (no final `return`)")


def close_quickly(netmiko_connection) -> None:
    """`return` + `quit`, then close the SSH transport (Huawei and H3C alike)."""
    with contextlib.suppress(Exception):  # the device may already have closed the session
        netmiko_connection.write_channel("return\nquit\n")
    netmiko_connection.paramiko_cleanup()


class HuaweiVrpDriver(ConfigSession, VRPDriver):
    platform_name = "huawei_vrp"

    def get_config(self, retrieve="all", full=False, sanitized=False, format="text"):
        running = read_config(self.device, self.hostname, self.timeout) if retrieve in ("running", "all") else ""
        return {"running": running, "startup": "", "candidate": ""}

    def close(self) -> None:
        if self.auto_file_prompt and self.prompt_quiet_changed is True:  # as VRPDriver.close
            self.device.send_config_set(["no file prompt quiet"])
            self.prompt_quiet_changed = False
        if getattr(self, "device", None) is not None:
            close_quickly(self.device)
            self.device = None
