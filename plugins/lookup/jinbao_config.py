"""Ansible lookup: a device's config, rendered by the same code as `jinbao render`.

Roles that configure devices take their config from here, so the lab runs exactly what
production would be sent: one renderer, one model.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: jinbao_config
short_description: render one device's config from the jinbao-net model
description:
  - Renders the config of each named device (inventory hostname, e.g. fotang-r1) with the
    jinbao renderer, from the environment of the current inventory.
  - Refuses to render from an allocations.yml that lags behind sites.yml.
options:
  _terms:
    description: inventory hostnames of routers
    required: true
  inventory:
    description: the environment directory; default the inventory_dir of the host
    type: str
"""

from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    from network.errors import JinbaoError
    from network.planned import planned
    from network.render import Renderer, load_secrets
except ImportError as exc:  # pragma: no cover - reported when the lookup runs
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if IMPORT_ERROR is not None:
            raise AnsibleLookupError(f"jinbao_config needs the jinbao-net package (pip install -e .): {IMPORT_ERROR}")
        self.set_options(var_options=variables, direct=kwargs)
        env = self.get_option("inventory") or (variables or {}).get("inventory_dir")
        if not env:
            raise AnsibleLookupError("jinbao_config: no inventory directory (pass inventory=...)")
        try:
            network, allocations = planned(Path(env))
            rendered = Renderer(network, allocations, load_secrets(Path(env), None)).render_hosts(list(terms))
        except JinbaoError as exc:
            raise AnsibleLookupError(f"jinbao_config: {exc}") from None
        return [rendered[term] for term in terms]
