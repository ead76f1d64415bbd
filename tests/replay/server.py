"""Replayed vendor devices: SSH servers that answer like a Huawei VRP or H3C Comware CLI.

No VRP or Comware device runs here, so their code paths (napalm-huawei-vrp, netmiko's
``huawei`` and ``hp_comware``) are exercised against recorded sessions, as Oxidized and
NAPALM test with mocked data, but over real SSH: the drivers connect, authenticate, find
the prompt, disable paging and read `display current-configuration` exactly as they would
from a device.

A session (tests/replay/sessions/<platform>.yml) records the device's prompt, login
banner, and what it prints for each command; `display current-configuration` prints the
device's stored config wrapped in the header the platform adds (VRP's ciphers get a fresh
salt on every fetch, as a real VRP does). Unknown commands get the platform's error.

Run many on loopback addresses for the throughput benchmark:
    python tests/replay/server.py --platform huawei_vrp --configs DIR --listen 127.0.1.1-127.0.1.100:8022
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import re
import secrets
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import yaml

SESSIONS = Path(__file__).parent / "sessions"


@dataclass
class Device:
    hostname: str
    platform: str
    config: str
    username: str = "netadmin"
    password: str = "replay"
    mute: bool = False  # accepts the login, then never answers (a hung device)
    session: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.session:
            self.session = load_session(self.platform)


def load_session(platform: str) -> dict:
    return yaml.safe_load((SESSIONS / f"{platform}.yml").read_text())


def _salted(text: str) -> str:
    """VRP prints each cipher with a fresh salt: never the same bytes twice."""
    return re.sub(r"(cipher) (\S+)", lambda m: f"{m.group(1)} %^%#{secrets.token_hex(12)}%^%#", text)


class DeviceShell:
    def __init__(self, device: Device, process: asyncssh.SSHServerProcess):
        self.device, self.process = device, process
        self.prompt = device.session["prompt"].format(hostname=device.hostname)

    def output(self, command: str) -> str:
        session = self.device.session
        if command == "display current-configuration":
            header = session.get("config_header", "").format(hostname=self.device.hostname)
            body = _salted(self.device.config) if session.get("salted_ciphers") else self.device.config
            return header + body
        for pattern, text in session["commands"].items():
            if re.fullmatch(pattern, command):
                return text.format(hostname=self.device.hostname)
        return session["unknown"].format(command=command)

    async def run(self) -> None:
        write = self.process.stdout.write
        if self.device.mute:
            await self.process.stdin.read()  # say nothing until the client gives up
            return
        write(self.device.session.get("banner", "").replace("\n", "\r\n") + "\r\n" + self.prompt)
        buffer = ""
        while True:
            try:
                data = await self.process.stdin.read(4096)
            except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                continue
            if not data:
                break
            buffer += data
            while "\n" in buffer or "\r" in buffer:
                line, _, buffer = buffer.replace("\r\n", "\n").replace("\r", "\n").partition("\n")
                command = line.strip()
                if command in ("quit", "exit", "logout"):
                    self.process.exit(0)
                    return
                reply = self.output(command) if command else ""
                text = (line + "\n" + reply.rstrip("\n") + "\n" if reply else line + "\n").replace("\n", "\r\n")
                write(text + self.prompt)
        self.process.exit(0)


class Server(asyncssh.SSHServer):
    def __init__(self, device: Device):
        self.device = device

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.device.username and password == self.device.password


async def serve(devices: dict[tuple[str, int], Device], host_key=None):
    """Start one SSH server per (address, port); returns the asyncssh acceptors."""
    key = host_key or asyncssh.generate_private_key("ssh-ed25519")
    acceptors = []
    for (address, port), device in devices.items():

        async def handle(process, device=device):
            await DeviceShell(device, process).run()

        acceptors.append(
            await asyncssh.create_server(
                lambda device=device: Server(device),
                address,
                port,
                server_host_keys=[key],
                process_factory=handle,
                encoding="utf-8",
                line_editor=False,
                reuse_address=True,
            )
        )
    return acceptors


def addresses(spec: str) -> list[tuple[str, int]]:
    """'127.0.1.1-127.0.1.100:8022' → [(address, port), ...] (loopback only)."""
    span, _, port = spec.rpartition(":")
    first, _, last = span.partition("-")
    start, end = ipaddress.IPv4Address(first), ipaddress.IPv4Address(last or first)
    found = [(str(ipaddress.IPv4Address(i)), int(port)) for i in range(int(start), int(end) + 1)]
    if not all(ipaddress.IPv4Address(a).is_loopback for a, _ in found):
        raise SystemExit("replayed devices listen on loopback addresses only")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", required=True)
    parser.add_argument("--configs", type=Path, required=True, help="directory of stored configs, used in turn")
    parser.add_argument("--listen", required=True, help="first-last:port on loopback")
    args = parser.parse_args()
    configs = sorted(p for p in args.configs.iterdir() if p.suffix in (".cfg", ".conf"))
    session = load_session(args.platform)
    devices = {
        place: Device(f"replay-{i}", args.platform, configs[i % len(configs)].read_text(), session=session)
        for i, place in enumerate(addresses(args.listen))
    }
    loop = asyncio.new_event_loop()
    loop.run_until_complete(serve(devices))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print(f"ready {len(devices)} {os.getpid()}", flush=True)
    try:
        loop.run_forever()
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    main()
