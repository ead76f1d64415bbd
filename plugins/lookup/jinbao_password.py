"""Ansible lookup: new passwords under the environment's password policy (network.passwords).

playbooks/rotate-passwords.yml asks it for one password per account it rotates.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: jinbao_password
short_description: a new random password that the nodes' pam_pwquality policy accepts
description:
  - One password per term (the term names the account; it is not part of the password).
  - At least 24 characters of lower and upper case letters, digits and C(-_.+=^~), every class
    present, no character repeated more than max_repeat times in a row.
options:
  _terms:
    description: the accounts to make a password for
    required: true
  min_length:
    description: the policy's minimum length (jinbao_host_hardening.password.min_length)
    type: int
    default: 12
  min_classes:
    description: the policy's minimum number of character classes
    type: int
    default: 3
  max_repeat:
    description: the policy's longest run of one character
    type: int
    default: 3
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    from network.passwords import generate
except ImportError as exc:  # pragma: no cover - reported when the lookup runs
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if IMPORT_ERROR is not None:
            raise AnsibleLookupError(f"jinbao_password needs the jinbao-net package (pip install -e .): {IMPORT_ERROR}")
        self.set_options(var_options=variables, direct=kwargs)
        policy = {name: self.get_option(name) for name in ("min_length", "min_classes", "max_repeat")}
        return [generate(**policy) for _ in terms]
