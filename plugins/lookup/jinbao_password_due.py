"""Ansible lookup: the accounts whose password is due for rotation (network.audit.passwords).

playbooks/rotate-passwords.yml asks it which db accounts to rotate when none are named, by
the same rule `jinbao audit` flags them with.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: jinbao_password_due
short_description: accounts whose last rotation is older than the policy, or never recorded
description:
  - Of the accounts given as terms, those whose entry in the environment's rotations.yml is older
    than max_age_days, or missing.
options:
  _terms:
    description: the accounts to consider
    required: true
  inventory:
    description: the environment directory (holds rotations.yml)
    type: str
    required: true
  max_age_days:
    description: the policy (jinbao_host_hardening.password.max_age_days)
    type: int
    required: true
"""

from datetime import UTC, datetime
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    from network.errors import JinbaoError
    from network.passwords import ages, load_record
except ImportError as exc:  # pragma: no cover - reported when the lookup runs
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if IMPORT_ERROR is not None:
            raise AnsibleLookupError(f"jinbao_password_due needs the jinbao-net package: {IMPORT_ERROR}")
        self.set_options(var_options=variables, direct=kwargs)
        try:
            record = load_record(Path(self.get_option("inventory")))
        except JinbaoError as exc:
            raise AnsibleLookupError(f"jinbao_password_due: {exc}") from None
        found = ages({t: "" for t in terms}, record, self.get_option("max_age_days"), datetime.now(UTC))
        return [a.account for a in found if a.stale]
