"""Reading inventories/<env>/zones.yml: the schema's errors and the protection rules' refusals,
every one at once, each naming its flow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import ValidationError

from network.errors import ModelError, Problem
from network.zones.checks import unplaced_roles, validate
from network.zones.schema import FILE, PolicySpec, where


def load(env: Path, today: dt.date | None = None, network=None) -> PolicySpec:
    """Read and validate inventories/<env>/zones.yml; every problem at once, naming the flow.
    `network`: the environment's model, when the caller has it (else sites.yml is read here,
    without writing a cache): a flow end `zone/role` must name hosts some DC has."""
    from network.model.load import read_yaml

    path = Path(env) / FILE
    if not path.exists():
        raise ModelError(Problem(FILE, "", "", f"does not exist in {env}"))
    raw = read_yaml(path, FILE) or {}
    try:
        policy = PolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise ModelError([_schema_problem(err, raw) for err in exc.errors()]) from None
    if network is None:
        from network.model import load as load_model

        network = load_model(env, cache=False)
    problems = validate(policy, today) + unplaced_roles(policy, network) + _syslog_port(policy, network)
    if problems:
        raise ModelError(problems)
    return policy


SYSLOG_PORTS = {True: 6514, False: 514}  # RFC 5425 over TLS; plain TCP


def _syslog_port(policy: PolicySpec, network) -> list[Problem]:
    """zones.yml's `syslog` service must be the port the collector listens on: 6514 when logs
    travel over TLS (group_vars jinbao_syslog_tls), else 514. A mismatch drops every node's logs
    at the zone firewalls."""
    service = policy.services.get("syslog")
    tls = bool(network.policy.syslog_tls)
    if service is None or (service.proto, tuple(service.ports)) == ("tcp", (SYSLOG_PORTS[tls],)):
        return []
    said = f"{service.proto}/{','.join(str(p) for p in service.ports)}"
    why = "logs travel over TLS (jinbao_syslog_tls: true)" if tls else "logs travel in clear (jinbao_syslog_tls: false)"
    return [
        Problem(FILE, "services.syslog", "ports", f"is {said}; {why}: the collector listens on tcp/{SYSLOG_PORTS[tls]}")
    ]


def _schema_problem(err: dict, raw: dict) -> Problem:
    """One pydantic error as a Problem; under flows:, named by the flow's index and id."""
    loc = list(err["loc"])
    where_ = ""
    if loc and loc[0] == "flows" and len(loc) > 1 and isinstance(loc[1], int):
        flows = raw.get("flows") or []
        where_ = where(loc[1], flows[loc[1]] if loc[1] < len(flows) else {})
        loc = loc[2:]
    return Problem(FILE, where_, ".".join(str(x) for x in loc), err["msg"])


def load_if_any(env: Path, network=None) -> PolicySpec | None:
    """The environment's zone policy, or None when it has no zones.yml. `network`: the model,
    when the caller has it (it is not loaded again)."""
    return load(env, network=network) if (Path(env) / FILE).exists() else None
