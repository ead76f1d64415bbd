"""internal_ca alone: the certificates it made for the scenario's CA, and what it refused."""

import json
import os
import re
from pathlib import Path

import pytest

WORK = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ca"


def certificate(host, name: str) -> str:
    return host.check_output(f"ssh-keygen -L -f {WORK}/{name}-cert.pub")


def fingerprint(host, key: str) -> str:
    return host.check_output(f"ssh-keygen -l -f {WORK}/{key}.pub").split()[1]


def test_the_automation_key_is_certified_for_the_automation_principal_for_days(host):
    listed = certificate(host, "automation")
    assert re.search(r"Signing CA: ED25519 (\S+)", listed).group(1) == fingerprint(host, "ca")
    assert re.search(r"Principals:\s*\n\s*automation\s*\n\s*Critical", listed)
    assert 'Key ID: "automation@molecule"' in listed
    assert "permit-agent-forwarding" not in listed and "permit-port-forwarding" not in listed


def test_the_operator_is_certified_for_their_role_for_hours_and_recorded(host):
    listed = certificate(host, "operator")
    assert 'Key ID: "zhang.wei"' in listed and re.search(r"Principals:\s*\n\s*dba\s*\n", listed)
    valid = re.search(r"Valid: from (\S+) to (\S+)", listed).groups()
    hours = (int(valid[1][11:13]) - int(valid[0][11:13])) % 24
    assert hours == 4
    assert "permit-pty" in listed and "permit-port-forwarding" not in listed
    serial = re.search(r"Serial: (\d+)", listed).group(1)
    records = [json.loads(line) for line in (WORK / "records" / "issued.jsonl").read_text().splitlines()]
    assert {"key_id": "zhang.wei", "serial": serial, "principals": ["dba"]}.items() <= records[-1].items()


@pytest.mark.parametrize(("index", "why"), [(0, "principals=root"), (1, "hours=9"), (2, "holder=Zhang Wei")])
def test_a_request_outside_the_policy_is_refused_and_nothing_signed(host, index, why):
    said = (WORK / f"refusal-{index}.txt").read_text()
    assert said.startswith("ssh-certificate: refused.") and why in said, said
    assert not (WORK / f"refused-{index}-cert.pub").exists()


def test_the_cas_key_is_not_left_on_disk(host):
    assert not host.run("ls /tmp/*.jinbao-ssh-ca").stdout.strip()
