"""Replayed vendor devices: SSH servers that answer like a Huawei VRP or H3C Comware CLI.

No VRP or Comware device runs here, so their code paths (napalm-huawei-vrp, netmiko's
``huawei`` and ``hp_comware``, jinbao's push) are exercised against recorded sessions, as
Oxidized and NAPALM test with mocked data, but over real SSH: the drivers connect,
authenticate, find the prompt, disable paging, read `display current-configuration` and
configure exactly as they would a device.

A session (tests/replay/sessions/<name>.yml) records the device's prompt, login banner,
and what it prints for each command; `display current-configuration` prints the device's
stored config wrapped in the header the platform adds (VRP's ciphers get a fresh salt on
every fetch, as a real VRP does). Unknown commands get the platform's error.

The device has state. `system-view` opens a configuration session whose lines change the
stored config as the device would (tests/replay/device_config.py), in the session's mode:
``immediate`` (VRP V5, each line takes effect), ``two-stage`` (VRP V8: lines go to a
candidate; `commit`, or `commit trial <60-65535>` that the device reverts by itself after
its timer unless a `commit` in the same session confirms it, or `abort trial`; a session
that drops during its trial reverts it) or ``commit-delay`` (Comware 7: `configuration
commit delay <minutes>` sets a rollback point the device returns to when the timer
expires unless `configuration commit` came first; it does not care about sessions).
A command of another mode is unknown to the device. The timers are real: ``time_scale``
(real seconds per device second; 1 on a bench, e.g. 0.05 in tests) shortens them without
changing what the device accepts, so a 60 s trial lasts 3 s in a test.
``reachable(config)`` models the management path: while it is false, the device drops
its sessions and refuses new ones (a change that cut management).

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
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from device_config import Config, Grammar, type_line

SESSIONS = Path(__file__).parent / "sessions"
# the commands that commit, per configuration mode; a device of another mode does not know them
CONTROL = {
    "two-stage": re.compile(r"commit( trial( \S+)?)?|abort trial"),
    "commit-delay": re.compile(r"configuration commit( delay \S+)?"),
}


@dataclass
class Pending:
    """A change the device reverts by itself unless it is confirmed."""

    before: Config
    deadline: float  # loop time
    timer: asyncio.TimerHandle
    owner: object = None  # the shell whose session holds it (VRP trial), None: the device (Comware delay)


@dataclass
class Device:
    hostname: str
    platform: str
    config: str
    username: str = "netadmin"
    password: str = "replay"
    mute: bool = False  # accepts the login, then never answers (a hung device)
    session: dict = field(default_factory=dict)
    session_name: str | None = None  # sessions/<name>.yml; default: the platform's
    time_scale: float = 1.0  # real seconds per device second (tests shorten the device's timers)
    reachable: Callable[[str], bool] | None = None  # the management path, given the running config
    refuses: str | None = None  # configuration lines (a regex) this device's software rejects

    def __post_init__(self):
        if not self.session:
            self.session = load_session(self.session_name or self.platform)
        self.grammar = Grammar.from_session(self.session)
        self.mode = self.session.get("configuration", {}).get("mode", "immediate")
        self.pending: Pending | None = None
        self.shells: set[DeviceShell] = set()
        self._running: Config | None = None

    @property
    def running(self) -> Config:
        if self._running is None or self._running.text() != self.config:
            self._running = Config(self.config)
        return self._running

    def install(self, config: Config) -> None:
        """The running config is now this one (a commit, a line in immediate mode, a revert)."""
        self._running = config
        self.config = config.text()
        if not self.is_reachable():
            for shell in list(self.shells):
                shell.drop()

    def is_reachable(self) -> bool:
        return self.reachable is None or self.reachable(self.config)

    def start_pending(self, before: Config, device_seconds: float, owner=None) -> None:
        loop = asyncio.get_running_loop()
        seconds = device_seconds * self.time_scale
        timer = loop.call_later(seconds, self.revert)
        self.pending = Pending(before, loop.time() + seconds, timer, owner)

    def password_of(self, username: str) -> str | None:
        """The account's password as the running config sets it (the session file's
        `accounts`: the view that holds it and the line), or None when it sets none."""
        accounts = self.session.get("accounts")
        if not accounts:
            return None
        for view in self.running.root.children:
            opened = re.fullmatch(accounts["view"], view.line)
            if not opened:
                continue
            for line in view.children:
                found = re.fullmatch(accounts["password"], line.line)
                user = found and (found.groupdict().get("user") or opened.groupdict().get("user"))
                if found and user == username:
                    return found.group("password")
        return None

    def accepts(self, username: str, password: str) -> bool:
        """A login: an account the running config holds by its password there, as the device
        checks it; else the replay's own account."""
        held = self.password_of(username)
        if held is not None:
            return password == held
        return username == self.username and password == self.password

    def confirm(self) -> None:
        if self.pending is not None:
            self.pending.timer.cancel()
            self.pending = None

    def revert(self) -> None:
        """Back to the config before the pending change (its timer fired, its session dropped, or aborted)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.timer.cancel()
            self.install(pending.before)

    def remaining(self) -> int:
        """Device seconds until a pending change reverts."""
        if self.pending is None:
            return 0
        left = self.pending.deadline - asyncio.get_running_loop().time()
        return max(0, round(left / self.time_scale))


def load_session(name: str) -> dict:
    return yaml.safe_load((SESSIONS / f"{name}.yml").read_text())


def _salted(text: str) -> str:
    """VRP prints each cipher with a fresh salt: never the same bytes twice."""
    return re.sub(r"(cipher) (\S+)", lambda m: f"{m.group(1)} %^%#{secrets.token_hex(12)}%^%#", text)


class DeviceShell:
    def __init__(self, device: Device, process: asyncssh.SSHServerProcess):
        self.device, self.process = device, process
        self.view: tuple[str, ...] | None = None  # None: user view; () system view; else the lines that opened it
        self.candidate: Config | None = None  # two-stage: this session's uncommitted changes
        self.asking: str | None = None  # a question the device waits for an answer to

    @property
    def prompt(self) -> str:
        session, hostname = self.device.session, self.device.hostname
        if self.asking:
            return ""
        if self.view is None:
            return session["prompt"].format(hostname=hostname)
        mark = ""
        if self.device.mode == "two-stage":
            pending = self.device.pending is not None and self.device.pending.owner is self
            mark = "*" if self.candidate is not None or pending else "~"
        where = "-" + self.view[-1].removeprefix("interface ").replace(" ", "-") if self.view else ""
        return f"[{mark}{hostname}{where}]"

    def message(self, key: str, **values) -> str:
        return self.device.session["messages"][key].format(**values).rstrip("\n")

    def output(self, command: str) -> str:
        session = self.device.session
        if command == "display current-configuration":
            header = session.get("config_header", "").format(hostname=self.device.hostname)
            body = _salted(self.device.config) if session.get("salted_ciphers") else self.device.config
            return header + body
        if command == "display configuration trial status" and self.device.mode == "two-stage":
            if self.device.pending is None:
                return self.message("no_trial")
            return self.message("trial_status", remaining=self.device.remaining())
        for pattern, text in session["commands"].items():
            if re.fullmatch(pattern, command):
                return text.format(hostname=self.device.hostname)
        return self.unknown(command)

    def unknown(self, command: str) -> str:
        return self.device.session["unknown"].format(command=command)

    # --- configuration ---------------------------------------------------------------
    def configure(self, command: str) -> str:
        """One line typed in a configuration view."""
        device = self.device
        if command.startswith(("#", "!")):
            return ""
        if command == "return":
            return self.leave()
        if command.startswith("display "):
            return self.output(command)
        control = next((mode for mode, grammar in CONTROL.items() if grammar.fullmatch(command)), None)
        if control is not None:
            return self.commit(command) if control == device.mode else self.unknown(command)
        if command == "quit" and self.view == ():
            return self.leave()
        if device.refuses and re.fullmatch(device.refuses, command):
            return self.message("wrong_parameter")
        if device.mode == "two-stage":
            self.candidate = self.candidate or device.running.copy()
            self.view = type_line(self.candidate, device.grammar, self.view, command)
            return ""
        running = device.running.copy()
        self.view = type_line(running, device.grammar, self.view, command)
        if running.text() != device.config:
            device.install(running)
        return ""

    def commit(self, command: str) -> str:
        if self.device.mode == "commit-delay":
            return self.commit_delay(command)
        if command == "abort trial":
            return self.abort_trial()
        return self.commit_two_stage(command.split())

    def commit_delay(self, command: str) -> str:
        """Comware 7: `configuration commit delay <minutes>` starts (or renews) the countdown,
        `configuration commit` stops it; the rollback point is the first delay's."""
        device = self.device
        if command == "configuration commit":
            if device.pending is None:
                return self.message("no_delay")
            device.confirm()
            return self.message("delay_committed")
        minutes = command.split()[-1]
        if not minutes.isdigit() or not 1 <= int(minutes) <= 65535:
            return self.message("wrong_parameter")
        if device.pending is None:
            device.start_pending(device.running.copy(), int(minutes) * 60)
        else:  # a new interval; the rollback point stays
            before = device.pending.before
            device.pending.timer.cancel()
            device.start_pending(before, int(minutes) * 60)
        return self.message("delay_started", minutes=minutes)

    def abort_trial(self) -> str:
        if self.device.pending is None:
            return self.message("no_trial")
        self.device.revert()
        self.candidate = None
        return self.message("trial_aborted")

    def commit_two_stage(self, words: list[str]) -> str:
        """VRP V8: `commit trial [seconds]` installs the candidate until confirmed by `commit`."""
        device = self.device
        trial = words[1:2] == ["trial"]
        seconds = int(words[2]) if trial and len(words) > 2 and words[2].isdigit() else 600
        if trial and ((len(words) > 2 and not words[2].isdigit()) or not 60 <= seconds <= 65535):
            return self.message("wrong_parameter")
        if device.pending is not None and (trial or device.pending.owner is not self):
            return self.message("trial_elsewhere")
        changed = self.candidate is not None and self.candidate.text() != device.config
        if trial:
            before = device.running.copy()
            if changed:
                device.install(self.candidate)
            self.candidate = None
            device.start_pending(before, seconds, owner=self)
            return self.message("trial_started", seconds=seconds)
        confirmed = device.pending is not None
        device.confirm()
        if changed:
            device.install(self.candidate)
        self.candidate = None
        if confirmed:
            return self.message("trial_confirmed")
        return self.message("committed" if changed else "nothing_to_commit")

    def leave(self) -> str:
        """Back to the user view; a two-stage session with uncommitted lines is asked first."""
        if self.candidate is not None and self.candidate.text() != self.device.config:
            self.asking = "uncommitted"
            return self.message("uncommitted")
        self.view, self.candidate = None, None
        return ""

    def answer(self, text: str) -> str:
        self.asking = None
        choice = text.strip().lower()[:1]
        if choice == "y":
            self.commit("commit")
        if choice in ("y", "n"):
            self.view, self.candidate = None, None
        return ""

    def drop(self) -> None:
        """The management path is gone: the session ends under the operator."""
        self.process.channel.get_connection().abort()

    def closed(self) -> None:
        self.device.shells.discard(self)
        if self.device.pending is not None and self.device.pending.owner is self:
            self.device.revert()  # a trial whose session dropped reverts

    async def run(self) -> None:
        self.device.shells.add(self)
        try:
            await self._run()
        finally:
            self.closed()

    async def _run(self) -> None:
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
            except (asyncssh.Error, OSError):
                return
            if not data:
                break
            buffer += data
            while "\n" in buffer or "\r" in buffer:
                line, _, buffer = buffer.replace("\r\n", "\n").replace("\r", "\n").partition("\n")
                reply = self.handle(line.strip())
                if reply is None:  # the operator logged out
                    self.process.exit(0)
                    return
                text = (line + "\n" + reply.rstrip("\n") + "\n" if reply else line + "\n").replace("\n", "\r\n")
                write(text + self.prompt)
        self.process.exit(0)

    def handle(self, command: str) -> str | None:
        """One typed line: the reply to echo, or None when the session ends."""
        if self.asking:
            return self.answer(command)
        if self.view is not None and command:
            return self.configure(command)
        if command in ("quit", "exit", "logout"):
            return None
        if command == "system-view":
            self.view = ()
            return self.device.session.get("system_view", "")
        return self.output(command) if command else ""


class Server(asyncssh.SSHServer):
    def __init__(self, device: Device):
        self.device = device

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        if not self.device.is_reachable():  # the management path is cut: nothing answers
            conn.abort()

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return self.device.accepts(username, password)


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


class Replay:
    """Replayed devices on 127.0.0.1, each on a port of its own, served from a thread (for tests)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def add(self, device: Device) -> int:
        acceptors = asyncio.run_coroutine_threadsafe(serve({("127.0.0.1", 0): device}), self.loop).result(10)
        return acceptors[0].get_port()


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
    parser.add_argument("--session", help="sessions/<name>.yml, e.g. huawei_vrp_v5; default: the platform's")
    parser.add_argument("--time-scale", type=float, default=1.0, help="real seconds per device second")
    args = parser.parse_args()
    configs = sorted(p for p in args.configs.iterdir() if p.suffix in (".cfg", ".conf"))
    session = load_session(args.session or args.platform)
    devices = {
        place: Device(
            f"replay-{i}", args.platform, configs[i % len(configs)].read_text(), session=session,
            time_scale=args.time_scale,
        )
        for i, place in enumerate(addresses(args.listen))
    }  # fmt: skip
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
