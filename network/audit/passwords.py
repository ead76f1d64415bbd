"""The age of each password of the vault, as the audit reports it (rotations.yml, network.passwords).

Every account of vault_jinbao_db_passwords (`db`) and vault_jinbao_user_passwords (`devices`)
must have been set within group_vars' jinbao_host_hardening.password.max_age_days; one never
recorded is as old as can be. Reading the vault needs its password (network.render.secrets).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from network.passwords import PasswordAge, ages, load_record
from network.render.secrets import VAULT, password_file

GROUPS = {"db": "vault_jinbao_db_passwords", "devices": "vault_jinbao_user_passwords"}


def vault_accounts(env: Path, explicit_password_file: Path | None = None) -> dict[str, str]:
    """The accounts of the environment's vault, name → group ({} without a vault)."""
    path = Path(env) / VAULT
    if not path.exists():
        return {}
    raw = path.read_bytes()
    if raw.startswith(b"$ANSIBLE_VAULT"):
        from ansible.constants import DEFAULT_VAULT_ID_MATCH
        from ansible.parsing.vault import VaultLib, VaultSecret

        secret_file = password_file(Path(env), explicit_password_file)
        if secret_file is None:
            return {}
        raw = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(secret_file.read_bytes().strip()))]).decrypt(raw)
    data = yaml.safe_load(raw) or {}
    return {account: group for group, key in GROUPS.items() for account in (data.get(key) or {})}


def audit(
    env: Path,
    max_age_days: int,
    vault_password_file: Path | None = None,
    now: datetime | None = None,
    devices_hold_accounts: bool = True,
):
    """The password ages of the environment, stale ones included. `devices_hold_accounts`
    False: no device is logged in to by password (the lab's routers, by key), so the routers'
    local accounts (`devices`) are on none of them: listed as held by no device, never stale."""
    accounts = vault_accounts(env, vault_password_file)
    unheld = frozenset() if devices_hold_accounts else frozenset(a for a, g in accounts.items() if g == "devices")
    return ages(accounts, load_record(env), max_age_days, now or datetime.now(UTC), unheld)


def add_to_reports(paths: dict[str, str], found: list[PasswordAge]) -> None:
    """Add the password ages to the reports write_reports wrote: the JSON's `passwords` (and
    the summary's `passwords_stale`), a JUnit case per account, a table on the HTML page."""
    import html
    import json
    import xml.etree.ElementTree as ET

    stale = [a for a in found if a.stale]
    document = json.loads(Path(paths["json"]).read_text())
    document["summary"]["passwords_stale"] = len(stale)
    document["passwords"] = [a.as_dict() for a in found]
    Path(paths["json"]).write_text(json.dumps(document, indent=1))

    suite = ET.fromstring(Path(paths["junit"]).read_text())
    environment = document["summary"]["environment"]
    for age in found:
        case = ET.SubElement(suite, "testcase", classname=f"{environment}.passwords", name=age.account)
        if age.stale:
            ET.SubElement(case, "failure", message=summary(age)).text = summary(age)
        elif not age.held:  # nothing to check: skipped, never counted as passed
            ET.SubElement(case, "skipped", message=summary(age))
    suite.set("tests", str(int(suite.get("tests", "0")) + len(found)))
    suite.set("failures", str(int(suite.get("failures", "0")) + len(stale)))
    Path(paths["junit"]).write_text(ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")

    rows = "".join(
        f'<tr class="{"bad" if a.stale else "ok"}"><td>{html.escape(a.account)}</td><td>{a.group}</td>'
        f"<td>{a.last_rotated or 'never recorded'}</td><td>{'' if a.age_days is None else a.age_days}</td>"
        f"<td>{_verdict(a)}</td></tr>"
        for a in found
    )
    section = (
        '<section id="passwords"><h2>Password ages (rotations.yml)</h2><table><tr><th>account</th><th>group</th>'
        f"<th>last rotated</th><th>days</th><th>policy</th></tr>{rows}</table></section>\n"
    )
    page = Path(paths["html"]).read_text()
    Path(paths["html"]).write_text(
        page.replace("</body>", section + "</body>", 1) if "</body>" in page else page + section
    )


def _verdict(age: PasswordAge) -> str:
    if not age.held:
        return "held by no device"
    return f"older than {age.max_age_days} days" if age.stale else "ok"


def summary(age: PasswordAge) -> str:
    """One line for the console and the reports."""
    if not age.held:
        return f"{age.account} ({age.group}): held by no device (every device is logged in to by key), not aged"
    if age.last_rotated == "":
        return f"{age.account} ({age.group}): never rotated on record (rotations.yml)"
    state = f"older than {age.max_age_days} days" if age.stale else "within the policy"
    return f"{age.account} ({age.group}): last rotated {age.last_rotated}, {age.age_days} days ago, {state}"
