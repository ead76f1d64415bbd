"""NAPALM driver for FRRouting on Linux, over SSH with netmiko.

Config lives in vtysh (running) and /etc/frr/frr.conf (startup, what FRR loads at boot).
A candidate is uploaded next to it; FRR's own ``frr-reload.py`` computes the difference
(``--test``) and applies only that (``--reload``), so sessions stay up.

Commit-confirm is kept on the device, so that a change that cuts the management path
still undoes itself: ``commit_config(revert_in=N)`` saves the current frr.conf, installs
the candidate, starts a systemd timer that restores and reloads the saved file after N
seconds, and applies the candidate. ``confirm_commit`` stops the timer; ``rollback``
restores the saved file at once. Rolled back, frr.conf is byte-identical to before.
"""

from __future__ import annotations

import base64
import json
import shlex
import time
import uuid

from napalm.base import NetworkDriver
from napalm.base.exceptions import (
    CommitConfirmException,
    CommitError,
    ConnectionException,
    MergeConfigException,
    ReplaceConfigException,
)

from network.drivers.configure import NothingCommitted
from network.drivers.session import connect

FRR_CONF = "/etc/frr/frr.conf"
STATE = "/var/lib/jinbao"
CANDIDATE = f"{STATE}/candidate.conf"
SAVED = f"{STATE}/frr.conf.before-commit"  # the config to go back to
REVERT_UNIT = "jinbao-revert"
RELOAD = "/usr/lib/frr/frr-reload.py"


class FrrDriver(NetworkDriver):
    platform = "frr"

    def __init__(self, hostname: str, username: str, password: str = "", timeout: int = 30, optional_args=None):
        args = dict(optional_args or {})
        self.hostname = hostname
        self.username = username
        self.password = password
        self.timeout = timeout
        self.key_file = args.get("key_file")
        self.known_hosts = args.get("known_hosts")
        self.port = int(args.get("port", 22))
        self.sudo = "sudo -n " if args.get("sudo", True) else ""
        self.device = None
        self._candidate: str | None = None
        self.config_before_commit: str | None = None  # frr.conf as the last commit found it
        self.revert_deadline: float | None = None  # time.monotonic() when the revert timer restores it
        self.warnings: list[str] = []  # what the device said on stderr (see _run)

    # --- session ---------------------------------------------------------------------
    def open(self) -> None:
        self.device = connect(
            "linux", self.hostname, self.port, self.username, self.password, self.timeout,
            key_file=self.key_file, known_hosts=self.known_hosts,
        )  # fmt: skip

    def close(self) -> None:
        if self.device is not None:
            self.device.disconnect()
            self.device = None

    def is_alive(self) -> dict:
        return {"is_alive": bool(self.device and self.device.is_alive())}

    def _run(self, command: str, check: bool = True, timeout: float | None = None) -> str:
        """A shell command on the device: its standard output only.

        The session is a terminal, which mixes stderr into what it prints, so stderr goes to a
        file of its own and comes back base64-encoded after the exit status marker. What a
        command says there (``sudo: unable to resolve host ...``) is the device's warning,
        kept in ``self.warnings``, never part of the output (a config read stays config).
        A command that fails raises with its stderr unless ``check`` is off."""
        if self.device is None:
            raise ConnectionException(f"{self.hostname}: not connected")
        output = self.device.send_command(
            f'e=$(mktemp); {{ {command}; }} 2>"$e"; echo __rc=$?; echo __err=$(base64 -w0 "$e"); rm -f "$e"',
            read_timeout=timeout or self.timeout,
            strip_command=True,
        )
        body, marker, trailer = output.rpartition("__rc=")
        if not marker:
            raise CommitError(f"{self.hostname}: `{command}` gave no exit status: {output.strip()[-500:]}")
        rc, _, err = trailer.partition("__err=")
        stderr = base64.b64decode(err.strip() or b"").decode(errors="replace").strip()
        if check and rc.strip() != "0":
            raise CommitError(f"{self.hostname}: `{command}` failed ({rc.strip()}): {(stderr or body.strip())[-500:]}")
        if stderr:
            self.warnings.extend(f"`{command}`: {line}" for line in stderr.splitlines() if line.strip())
        return body.rstrip("\n")

    def _ok(self, command: str) -> bool:
        output = self.device.send_command(f"{command} >/dev/null 2>&1; echo __rc=$?", read_timeout=self.timeout)
        return output.rpartition("__rc=")[2].strip() == "0"

    def _vtysh(self, *commands: str) -> str:
        args = " ".join(f"-c {shlex.quote(c)}" for c in commands)
        return self._run(f"{self.sudo}vtysh {args}")

    def _put(self, path: str, text: str) -> None:
        """Write a file on the device exactly (bytes preserved): SFTP to a private temp file, then install."""
        staging = f"/tmp/jinbao-{uuid.uuid4().hex}"
        sftp = self.device.remote_conn_pre.open_sftp()
        try:
            with sftp.file(staging, "w") as fh:
                fh.write(text.encode())
            sftp.chmod(staging, 0o600)
        finally:
            sftp.close()
        self._run(f"{self.sudo}install -d -m 700 {STATE}")
        self._run(f"{self.sudo}install -m 600 {staging} {shlex.quote(path)}; rm -f {staging}")

    def _read(self, path: str) -> str:
        encoded = self._run(f"{self.sudo}base64 -w0 {shlex.quote(path)}")
        return base64.b64decode(encoded.strip().splitlines()[-1] if encoded.strip() else "").decode()

    # --- getters ---------------------------------------------------------------------
    def cli(self, commands: list[str], encoding: str = "text") -> dict[str, str]:
        """NAPALM's cli(): shell commands on the router (its Linux side), output by command.
        A failing command's output (its error message) is returned, not raised."""
        return {command: self._run(f"{{ {command}; }} 2>&1", check=False) for command in commands}

    def get_config(self, retrieve: str = "all", full: bool = False, sanitized: bool = False, format: str = "text"):
        result = {"running": "", "startup": "", "candidate": ""}
        if retrieve in ("all", "running"):
            result["running"] = self._vtysh("show running-config")
        if retrieve in ("all", "startup"):
            result["startup"] = self._read(FRR_CONF)
        if retrieve in ("all", "candidate"):
            result["candidate"] = self._candidate or ""
        return result

    def get_facts(self) -> dict:
        version = self._vtysh("show version")
        hostname = self._run("hostname").strip()
        uptime = float(self._run("cut -d' ' -f1 /proc/uptime").strip() or 0)
        interfaces = [i["ifname"] for i in json.loads(self._run("ip -j link show"))]
        first = next((line for line in version.splitlines() if line.startswith("FRRouting")), "FRRouting")
        return {
            "hostname": hostname,
            "fqdn": hostname,
            "vendor": "FRRouting",
            "model": "FRR on Linux",
            "os_version": first.split()[1] if len(first.split()) > 1 else "",
            "serial_number": self._run("cat /etc/machine-id", check=False).strip(),
            "uptime": uptime,
            "interface_list": interfaces,
        }

    def get_interfaces(self) -> dict:
        result = {}
        for link in json.loads(self._run("ip -j -d link show")):
            flags = link.get("flags", [])
            result[link["ifname"]] = {
                "is_up": link.get("operstate") in ("UP", "UNKNOWN") and "UP" in flags,
                "is_enabled": "UP" in flags,
                "description": link.get("ifalias", ""),
                "last_flapped": -1.0,
                "speed": -1.0,
                "mtu": int(link.get("mtu", 0)),
                "mac_address": link.get("address", ""),
            }
        return result

    def get_interfaces_ip(self) -> dict:
        result: dict[str, dict] = {}
        for entry in json.loads(self._run("ip -j addr show")):
            for addr in entry.get("addr_info", []):
                family = "ipv4" if addr["family"] == "inet" else "ipv6"
                result.setdefault(entry["ifname"], {}).setdefault(family, {})[addr["local"]] = {
                    "prefix_length": int(addr["prefixlen"])
                }
        return result

    def get_bgp_neighbors(self) -> dict:
        summary = json.loads(self._vtysh("show bgp ipv4 unicast summary json") or "{}")
        peers = {}
        for address, peer in summary.get("peers", {}).items():
            up = peer.get("state") == "Established"
            peers[address] = {
                "local_as": int(summary.get("as", 0)),
                "remote_as": int(peer.get("remoteAs", 0)),
                "remote_id": peer.get("remoteRouterId", ""),
                "is_up": up,
                "is_enabled": peer.get("state") != "Idle (Admin)",
                "description": peer.get("desc", ""),
                "uptime": int(peer.get("peerUptimeMsec", 0) // 1000),
                "address_family": {
                    "ipv4": {
                        "received_prefixes": int(peer.get("pfxRcd", 0)),
                        "accepted_prefixes": int(peer.get("pfxRcd", 0)),
                        "sent_prefixes": int(peer.get("pfxSnt", 0)),
                    }
                },
            }
        return {"global": {"router_id": summary.get("routerId", ""), "peers": peers}} if summary else {}

    # --- candidate, diff, commit -------------------------------------------------------
    def _load(self, filename: str | None, config: str | None, merge: bool) -> None:
        if filename:
            with open(filename) as fh:
                config = fh.read()
        if config is None:
            raise (MergeConfigException if merge else ReplaceConfigException)("no config given")
        if merge:  # the running config with the given lines added: a merge is a replace with more
            config = self._vtysh("show running-config") + "\n" + config
        self._put(CANDIDATE, config)
        check = self._run(f"{self.sudo}vtysh --dryrun --inputfile {CANDIDATE} 2>&1", check=False)
        if "error" in check.lower() or "unknown command" in check.lower():
            self._run(f"{self.sudo}rm -f {CANDIDATE}")
            error = MergeConfigException if merge else ReplaceConfigException
            raise error(f"{self.hostname}: {check.strip()[-800:]}")
        self._candidate = config

    def load_replace_candidate(self, filename=None, config=None) -> None:
        self._load(filename, config, merge=False)

    def load_merge_candidate(self, filename=None, config=None) -> None:
        self._load(filename, config, merge=True)

    def compare_config(self) -> str:
        """FRR's own diff of running vs candidate, as '- line' / '+ line' under their context."""
        if self._candidate is None:
            return ""
        said = len(self.warnings)
        # frr-reload.py --test prints nothing when FRR runs the candidate, its sections when
        # not, and exits 0 either way; FRR stopped (vtysh fails) ends it with 1 and a traceback:
        # an error naming the device, never "unchanged"
        try:
            raw = self._run(f"{self.sudo}{RELOAD} --test {CANDIDATE}")
        except CommitError as exc:
            said = " ".join(w.partition("`: ")[2] for w in self.warnings[said:]).strip()
            raise CommitError(f"{self.hostname}: frr-reload.py --test could not compare: {exc} {said}".strip()) from exc
        return _diff_from_reload(raw)

    def discard_config(self) -> None:
        self._candidate = None
        self._run(f"{self.sudo}rm -f {CANDIDATE}")

    def commit_config(self, message: str = "", revert_in: int | None = None) -> None:
        if self._candidate is None:
            raise CommitError(f"{self.hostname}: no candidate loaded")
        if self.has_pending_commit():
            raise NothingCommitted(f"{self.hostname}: a commit is pending confirmation; confirm or roll back first")
        s = self.sudo
        self.config_before_commit = self._read(FRR_CONF)  # what rollback and the revert timer restore
        self._run(f"{s}cp -p {FRR_CONF} {SAVED}")
        self._run(f"{s}install -o frr -g frr -m 640 {CANDIDATE} {FRR_CONF}")
        self.revert_deadline = time.monotonic() + int(revert_in) if revert_in else None
        if revert_in:
            restore = f"install -o frr -g frr -m 640 {SAVED} {FRR_CONF} && {RELOAD} --reload {FRR_CONF}"
            self._run(
                f"{s}systemd-run --quiet --unit={REVERT_UNIT} --on-active={int(revert_in)}s "
                f"--description='jinbao: revert an unconfirmed commit' /bin/sh -c {shlex.quote(restore)}"
            )
        applied = self._run(f"{s}{RELOAD} --reload {FRR_CONF} 2>&1", check=False, timeout=min(self.timeout, 15))
        self._candidate = None
        self._run(f"{s}rm -f {CANDIDATE}")
        if "error" in applied.lower() and not revert_in:
            self.rollback()
            raise CommitError(f"{self.hostname}: reload failed, rolled back: {applied.strip()[-500:]}")

    def safety_net(self, revert_in: int) -> str:
        """What undoes this device's change when jinbao cannot confirm it, in words."""
        return f"device commit-confirm (revert timer {revert_in} s)"

    def pending_is_visible(self) -> bool:
        """Any session sees the revert timer (systemctl), and any session can stop it."""
        return True

    def has_pending_commit(self) -> bool:
        return self._ok(f"systemctl is-active --quiet {REVERT_UNIT}.timer")

    def confirm_commit(self) -> None:
        if not self.has_pending_commit():
            raise CommitConfirmException(f"{self.hostname}: no commit is pending confirmation")
        self._run(f"{self.sudo}systemctl stop {REVERT_UNIT}.timer")

    def rollback(self) -> None:
        """Back to the config saved by the last commit, at once (pending timer stopped)."""
        s = self.sudo
        if self.has_pending_commit():
            self._run(f"{s}systemctl stop {REVERT_UNIT}.timer")
        if not self._ok(f"{s}test -f {SAVED}"):
            raise CommitError(f"{self.hostname}: nothing to roll back to")
        self._run(f"{s}install -o frr -g frr -m 640 {SAVED} {FRR_CONF}")
        self._run(f"{s}{RELOAD} --reload {FRR_CONF}", check=False)


def _diff_from_reload(raw: str) -> str:
    """frr-reload.py --test prints 'Lines To Delete' and 'Lines To Add' sections."""
    out, section = [], None
    for line in raw.splitlines():
        stripped = line.strip()
        if stripped.startswith("Lines To Delete"):
            section = "-"
            continue
        if stripped.startswith("Lines To Add"):
            section = "+"
            continue
        if section and stripped and not set(stripped) <= {"="}:
            out.append(f"{section} {line.rstrip()}")
    return "\n".join(out)


def wait_reachable(driver_factory, seconds: float) -> bool:
    """Whether a fresh session opens within seconds (after a change that touched management)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        device = driver_factory()
        try:
            device.open()
            device.close()
            return True
        except ConnectionException:
            time.sleep(2)
    return False
