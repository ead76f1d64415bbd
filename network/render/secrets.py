"""Secrets for rendered configs, read from the environment's Ansible vault.

``inventories/<env>/group_vars/all/vault.yml`` is the only place a password lives; the
same file serves the playbooks. The vault password comes, in this order, from
--vault-password-file, $ANSIBLE_VAULT_PASSWORD_FILE, or ``inventories/<env>/.vault-password``
(the lab ships one: lab secrets are throw-away; production never commits its own).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from network.errors import Problem, RenderError

VAULT = Path("group_vars") / "all" / "vault.yml"


@dataclass(frozen=True)
class Secrets:
    user_passwords: dict[str, str] = field(default_factory=dict)
    snmp_auth_key: str | None = None
    snmp_priv_key: str | None = None
    found: bool = True  # False: the environment has no vault.yml at all

    def _missing(self, field_name: str) -> RenderError:
        if not self.found:
            return RenderError(
                Problem(str(VAULT), "", "", "does not exist; create it from vault.yml.example and encrypt it")
            )
        return RenderError(Problem(str(VAULT), "", field_name, "is missing"))

    def password(self, user: str) -> str:
        value = self.user_passwords.get(user)
        if not value:
            raise self._missing(f"vault_jinbao_user_passwords.{user}")
        return value

    def snmp(self) -> tuple[str, str]:
        if not self.snmp_auth_key or not self.snmp_priv_key:
            raise self._missing("vault_jinbao_snmp_auth_key/priv_key")
        return self.snmp_auth_key, self.snmp_priv_key


def password_file(root: Path, explicit: str | Path | None = None) -> Path | None:
    for candidate in (explicit, os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE"), root / ".vault-password"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_secrets(root: str | Path, explicit_password_file: str | Path | None = None) -> Secrets:
    root = Path(root)
    path = root / VAULT
    if not path.exists():
        return Secrets(found=False)
    raw = path.read_bytes()
    if raw.startswith(b"$ANSIBLE_VAULT"):
        secret_file = password_file(root, explicit_password_file)
        if secret_file is None:
            raise RenderError(
                Problem(
                    str(VAULT),
                    "",
                    "",
                    "is encrypted and no vault password was given: use --vault-password-file "
                    "or set ANSIBLE_VAULT_PASSWORD_FILE",
                )
            )
        from ansible.constants import DEFAULT_VAULT_ID_MATCH
        from ansible.parsing.vault import VaultLib, VaultSecret

        secret = VaultSecret(secret_file.read_bytes().strip())
        try:
            raw = VaultLib([(DEFAULT_VAULT_ID_MATCH, secret)]).decrypt(raw)
        except Exception as exc:  # AnsibleError on a wrong password
            raise RenderError(Problem(str(VAULT), "", "", f"cannot be decrypted with {secret_file}: {exc}")) from exc
    data = yaml.safe_load(raw) or {}
    return Secrets(
        user_passwords=dict(data.get("vault_jinbao_user_passwords") or {}),
        snmp_auth_key=data.get("vault_jinbao_snmp_auth_key"),
        snmp_priv_key=data.get("vault_jinbao_snmp_priv_key"),
    )
