"""Passwords that playbooks/rotate-passwords.yml sets, and the record of when it set them.

``generate`` makes a password the node's pam_pwquality would accept (group_vars'
``jinbao_host_hardening.password``: length, character classes, repeats), from an alphabet
every consumer takes unquoted: no ``:`` or ``\\`` (a .pgpass line), no ``%`` (an ini file),
no quote, space or ``#``.

``inventories/<env>/rotations.yml`` records, per account, when its password was last set,
by whom and how; never a secret. The playbook writes it; ``jinbao audit`` reads it
(network/audit/passwords.py).
"""

from __future__ import annotations

import itertools
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from network.errors import JinbaoError, Problem

PUNCTUATION = "-_.+=^~"
CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PUNCTUATION)
RECORD = "rotations.yml"
LENGTH = 24  # above any policy's minimum: 24 characters of 69 are about 146 bits


def violations(password: str, min_length: int = 12, min_classes: int = 3, max_repeat: int = 3) -> list[str]:
    """What pam_pwquality would refuse in `password` under the policy (nothing: accepted)."""
    found = []
    if len(password) < min_length:
        found.append(f"shorter than {min_length}")
    classes = sum(any(c in chars for c in password) for chars in CLASSES)
    if classes < min_classes:
        found.append(f"{classes} character classes, fewer than {min_classes}")
    run = 1
    for before, char in itertools.pairwise(password):
        run = run + 1 if char == before else 1
        if run > max_repeat:
            found.append(f"the same character more than {max_repeat} times in a row")
            break
    if any(c not in "".join(CLASSES) for c in password):
        found.append("a character outside the alphabet every consumer takes")
    return found


def generate(min_length: int = 12, min_classes: int = 3, max_repeat: int = 3) -> str:
    """A random password of every class, at least LENGTH long, that the policy accepts."""
    alphabet = "".join(CLASSES)
    length = max(LENGTH, min_length)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if not violations(password, min_length, max(min_classes, len(CLASSES)), max_repeat):
            return password


@dataclass(frozen=True)
class Rotation:
    """When an account's password was last set."""

    account: str
    group: str  # db, devices: the vault mapping it lives in
    when: datetime
    by: str
    how: str


def load_record(env: Path) -> dict[str, Rotation]:
    """The environment's rotations.yml by account ({} when there is none)."""
    path = Path(env) / RECORD
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise JinbaoError(Problem(RECORD, "", "", f"is not YAML: {exc}")) from exc
    accounts = data.get("accounts") or {}
    if not isinstance(accounts, dict):
        raise JinbaoError(Problem(RECORD, "", "accounts", "must map each account to its last rotation"))
    found = {}
    for account, entry in accounts.items():
        if not isinstance(entry, dict) or "when" not in entry:
            raise JinbaoError(Problem(RECORD, "", f"accounts.{account}", "needs `when` (ISO 8601, UTC)"))
        found[account] = Rotation(
            str(account), str(entry.get("group", "")), _when(entry["when"], account), str(entry.get("by", "")),
            str(entry.get("how", "")),
        )  # fmt: skip
    return found


def _when(value, account: str) -> datetime:
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise JinbaoError(Problem(RECORD, "", f"accounts.{account}.when", f"is not ISO 8601: {value}")) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PasswordAge:
    account: str
    group: str
    last_rotated: str  # ISO 8601, "" never recorded
    age_days: int | None
    max_age_days: int
    held: bool = True  # False: no device or host has this account (nothing to age)

    @property
    def stale(self) -> bool:
        return self.held and (self.age_days is None or self.age_days > self.max_age_days)

    def as_dict(self) -> dict:
        return {**self.__dict__, "stale": self.stale}


def ages(
    accounts: dict[str, str],
    record: dict[str, Rotation],
    max_age_days: int,
    now: datetime,
    unheld: frozenset[str] = frozenset(),
) -> list[PasswordAge]:
    """Each account (name → group) with its age in whole days at `now`; those `unheld` (no
    device has them) are listed but never stale."""
    found = []
    for account, group in sorted(accounts.items()):
        last = record.get(account)
        age = None if last is None else (now - last.when).days
        found.append(
            PasswordAge(account, group, last.when.isoformat() if last else "", age, max_age_days, account not in unheld)
        )
    return found
