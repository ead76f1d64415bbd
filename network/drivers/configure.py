"""Pushing to VRP and Comware: NAPALM's configuration methods over a netmiko CLI session.

The change is hier_config's remediation (what `jinbao audit` shows), typed in system-view
as an operator would: each view entered, its lines, `quit`. How it is committed is the
platform's data (network/platforms/<platform>.yml, `push`), chosen by the software's major
version from `display version`:

- a device with its own commit-confirm gets it: VRP V8's `commit trial <s>` (confirmed by
  `commit` in the same session, `abort trial` to undo; a dropped session reverts it) or
  Comware 7's `configuration commit delay <min>` (armed before the change, confirmed by
  `configuration commit`, typed by jinbao in the committing session); the device reverts by
  itself unless jinbao confirms;
- a device without one (VRP V5, the AR routers many townships run) is guarded by the
  controller: the running config is read as a checkpoint before the change, and rollback
  applies the inverse remediation (hier_config from the new running back to the checkpoint)
  and checks the device runs the checkpoint again. A change that cuts management on such a
  device is not undone by anyone: `safety_net` says so before the push.

Secrets: both sides are compared scrubbed (VRP prints ciphers salted anew on every read), so a
changed password is not pushed; a line with a secret that must be sent is sent as the intent
(or the checkpoint) has it, never as `<secret>`, and shown scrubbed (compare_config).
"""

from __future__ import annotations

import math
import re
import time

from napalm.base.exceptions import CommitConfirmException, CommitError, MergeConfigException

from network.platforms import platform, scrub

PROMPT = r"[<\[][^\r\n]*[>\]]\s*$"  # <host>, [host], [~host-view], [*host]
UNCOMMITTED = r"\[Y\(yes\)/N\(no\)/C\(cancel\)\]:\s*$"  # VRP V8 leaving with uncommitted lines


def remediation(platform_name: str, running: str, intended: str, secrets_from: str | None = None) -> list[str]:
    """The commands, as typed, that take a device from `running` to `intended`."""
    from hier_config import WorkflowRemediation

    from network.render.hier import parse

    device_lines = [re.compile(p) for p in (platform(platform_name).get("push") or {}).get("device_lines", [])]

    def configuration(text: str):  # what the device prints around its config is not configuration
        kept = "\n".join(line for line in text.splitlines() if not any(p.match(line) for p in device_lines))
        return parse(platform_name, scrub(platform_name, kept))

    workflow = WorkflowRemediation(configuration(running), configuration(intended))
    source = secrets_from if secrets_from is not None else intended
    real = {scrub(platform_name, line.strip()).strip(): line.strip() for line in source.splitlines()}
    typed = []
    for line in _typed(workflow.remediation_config):
        if "<secret>" in line:
            if line.strip() not in real:
                raise MergeConfigException(f"cannot type `{line.strip()}`: its secret is not in the config to reach")
            line = line[: len(line) - len(line.lstrip())] + real[line.strip()]
        typed.append(line)
    return typed


def _typed(node, depth: int = 0) -> list[str]:
    lines = []
    for child in node.children:
        lines.append(" " * depth + child.text)
        if child.children:
            lines += _typed(child, depth + 1)
            lines.append(" " * depth + " quit")
    return lines


class RollbackFailed(Exception):
    """The device refused a line and what it had taken could not be undone (not a CommitError:
    the device is not back where it was)."""


class NothingCommitted(CommitError):
    """The device took nothing of the change: refused before it was committed, or another
    change was pending confirmation there."""


class ConfigSession:
    """NAPALM's configuration methods for a CLI driver with ``self.device`` (netmiko),
    ``self.hostname``, ``self.timeout`` and ``platform_name``; it reads with ``get_config``."""

    platform_name = ""
    _candidate: list[str] | None = None
    _checkpoint: str | None = None
    config_before_commit: str | None = None  # the running config the last commit started from
    _pending: dict | None = None  # the device confirm armed by the last commit
    _version: str | None = None
    revert_deadline: float | None = None  # time.monotonic() when the device reverts by itself

    # --- what the platform offers ---------------------------------------------------
    def _push(self) -> dict:
        return platform(self.platform_name).get("push") or {}

    def _device_confirm(self) -> dict | None:
        """The device's own commit-confirm for its software version, or None."""
        if self._version is None:
            found = re.search(self._push()["version"], self.device.send_command("display version"))
            self._version = found.group(1) if found else ""
        return (self._push().get("confirm") or {}).get(self._version)

    def _timer(self, confirm: dict, revert_in: int) -> dict[str, int]:
        low, high = confirm["range"]
        value = math.ceil(revert_in / 60) if confirm["unit"] == "minutes" else revert_in
        value = min(max(value, low), high)
        seconds = value * 60 if confirm["unit"] == "minutes" else value
        return {confirm["unit"]: value, "seconds": seconds}

    def safety_net(self, revert_in: int) -> str:
        """What undoes this device's change when jinbao cannot confirm it, in words."""
        confirm = self._device_confirm()
        if confirm is None:
            return "controller checkpoint + inverse remediation (no device timer: a cut management path stays cut)"
        return f"device commit-confirm ({confirm['label'].format(**self._timer(confirm, revert_in))})"

    # --- candidate ------------------------------------------------------------------
    def _running(self) -> str:
        return self.get_config(retrieve="running")["running"]

    def load_replace_candidate(self, filename=None, config=None) -> None:
        """The candidate is the remediation from the running config to `config`."""
        intended = _text(filename, config)
        self._candidate = remediation(self.platform_name, self._running(), intended)

    def load_merge_candidate(self, filename=None, config=None) -> None:
        """The candidate is `config`'s lines, typed as they are."""
        self._candidate = [line for line in _text(filename, config).splitlines() if line.strip()]

    def compare_config(self) -> str:
        """The change as shown (push --check, --json, the apply's check): secrets scrubbed, as
        audit shows them; the candidate keeps the real lines to type."""

        shown = "\n".join(line for line in self._candidate or [] if line.strip() != "quit")
        return scrub(self.platform_name, shown).rstrip("\n") if shown else ""

    def discard_config(self) -> None:
        self._candidate = None

    # --- commit, confirm, rollback --------------------------------------------------
    def commit_config(self, message: str = "", revert_in: int | None = None) -> None:
        if not self._candidate:
            raise CommitError(f"{self.hostname}: no candidate loaded")
        if self._pending is not None or self.has_pending_commit():  # VRP V8 shows another session's trial
            raise NothingCommitted(
                f"{self.hostname}: a change is already pending confirmation on the device (another session's?); "
                "confirm or abort it first"
            )
        confirm = self._device_confirm() if revert_in else None
        self._checkpoint = self.config_before_commit = self._running()
        lines, self._candidate = self._candidate, None
        timer = self._timer(confirm, revert_in) if confirm else {}
        arm = confirm["arm"].format(**timer) if confirm and confirm.get("arm") else None
        commit = confirm["commit"].format(**timer) if confirm and confirm.get("commit") else None
        commands = ([arm] if arm else []) + lines + ([commit] if commit else self._plain_commit())

        def typing(command: str) -> None:  # from the arm or trial commit on, the device's timer may run
            if confirm and command in (arm, commit):  # (a session lost before its reply: it may have)
                self._pending = confirm
                self.revert_deadline = time.monotonic() + timer["seconds"]

        try:
            self._configure(commands, typing)
        except CommitError as refused:
            if confirm and (self._pending is None or getattr(refused, "command", None) in (arm, commit)):
                # refused before the device's confirm took anything: VRP V8's candidate is
                # discarded, Comware's lines were not typed; another session's trial is not ours to abort
                self._pending, self.revert_deadline, self._checkpoint = None, None, None
                raise NothingCommitted(f"{refused}; nothing was committed") from refused
            try:  # undo what the device took before it refused a line
                self.rollback()
            except Exception as exc:
                raise RollbackFailed(f"{refused}; and undoing what it took failed: {exc}") from exc
            raise

    def _plain_commit(self) -> list[str]:
        """What makes typed lines take effect without a confirm: `commit` on a two-stage device."""
        two_stage = self._device_confirm() or {}
        return [two_stage["confirm"]] if two_stage.get("commit") else []

    def pending_is_visible(self) -> bool:
        """Whether any session can tell that a change is pending (VRP V8), or only the one
        that armed it (Comware 7 prints no commit-delay timer)."""
        confirm = self._device_confirm()
        return bool(confirm and confirm.get("status"))

    def has_pending_commit(self) -> bool:
        """Whether a change waits for confirmation: asked of the device where it can tell (VRP
        V8's trial status), else as this session armed it (Comware prints no timer)."""
        confirm = self._device_confirm()
        if confirm and confirm.get("status"):
            output = self.device.send_command(confirm["status"], read_timeout=self.timeout)
            return re.search(confirm["pending"], output) is not None
        return self._pending is not None and time.monotonic() < (self.revert_deadline or 0)

    def confirm_commit(self) -> None:
        """Keep the last commit: the device's confirm, or (controller guard) forget the checkpoint.
        A device confirm is typed only while the change is still pending (a late one finds the
        device reverted: VRP answers "No configuration changes to commit", Comware "No
        configuration commit delay is in progress", neither an error), and its reply must say
        the change was confirmed (`confirmed` in the platform's push data)."""
        if self._pending is None and self._checkpoint is None:
            raise CommitConfirmException(f"{self.hostname}: no commit of this session is pending confirmation")
        if self._pending is not None:
            if not self.has_pending_commit():
                raise CommitConfirmException(
                    f"{self.hostname}: the change is no longer pending confirmation (its timer ran out?); not confirmed"
                )
            (reply,) = self._configure([self._pending["confirm"]])
            if not re.search(self._pending["confirmed"], reply):
                raise CommitConfirmException(
                    f"{self.hostname}: `{self._pending['confirm']}` did not confirm the change: {reply.strip()[-300:]}"
                )
        self._pending, self.revert_deadline, self._checkpoint = None, None, None

    def rollback(self, secret_lines: list[str] | None = None) -> None:
        """Back to the config before the last commit: the device's abort where it has one,
        else the inverse remediation; then the running config must equal the checkpoint.
        The comparison is scrubbed, so a changed secret is undone only by `secret_lines`
        (the lines that set the old one, typed after the inverse) and checked by its caller."""
        if self._checkpoint is None:
            raise CommitError(f"{self.hostname}: nothing to roll back to")
        pending, self._pending, self.revert_deadline = self._pending, None, None
        if pending and pending.get("abort"):
            self._configure([pending["abort"]])
        else:
            inverse = remediation(self.platform_name, self._running(), self._checkpoint, self._checkpoint)
            typed = inverse + list(secret_lines or [])
            self._configure(typed + ([pending["confirm"]] if pending else self._plain_commit()))
        left = remediation(self.platform_name, self._running(), self._checkpoint, self._checkpoint)
        if left:
            raise CommitError(f"{self.hostname}: rolled back, but still differs from before:\n" + "\n".join(left))
        self._checkpoint = None

    def _configure(self, commands: list[str], typing=None) -> list[str]:
        """Type commands in system-view; the first one the device refuses stops the session
        (a CommitError whose ``command`` is that one). Returns what the device printed for each
        command; ``typing(command)`` is told of each before it is sent."""
        error = re.compile(self._push()["error"], re.M)
        device = self.device
        device.send_command("system-view", expect_string=PROMPT, read_timeout=self.timeout)
        replies = []
        try:
            for command in commands:
                if typing:
                    typing(command)
                output = device.send_command(
                    command.strip(), expect_string=PROMPT, read_timeout=self.timeout, strip_prompt=True
                )
                if error.search(output):
                    refused = CommitError(f"{self.hostname}: `{command.strip()}` refused: {output.strip()[-300:]}")
                    refused.command = command
                    raise refused
                replies.append(output)
        finally:  # back to the user view; lines a refusal left uncommitted (VRP V8) are discarded
            left = device.send_command("return", expect_string=f"{PROMPT}|{UNCOMMITTED}", read_timeout=self.timeout)
            if re.search(UNCOMMITTED, left):
                device.send_command("N", expect_string=PROMPT, read_timeout=self.timeout)
        return replies


def _text(filename, config) -> str:
    if filename:
        with open(filename) as fh:
            return fh.read()
    if config is None:
        raise MergeConfigException("no config given")
    return config
