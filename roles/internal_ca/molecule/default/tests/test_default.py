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
    ssh = [r for r in records if "principals" in r]
    assert (ssh[-1]["key_id"], ssh[-1]["serial"], ssh[-1]["principals"]) == ("zhang.wei", serial, ["dba"])


@pytest.mark.parametrize(("index", "why"), [(0, "principals=root"), (1, "hours=9"), (2, "holder=Zhang Wei")])
def test_a_request_outside_the_policy_is_refused_and_nothing_signed(host, index, why):
    said = (WORK / f"refusal-{index}.txt").read_text()
    assert said.startswith("ssh-certificate: refused.") and why in said, said
    assert not (WORK / f"refused-{index}-cert.pub").exists()


def test_the_cas_key_is_not_left_on_disk(host):
    assert not host.run("ls /tmp/*.jinbao-ssh-ca").stdout.strip()


# --- TLS ------------------------------------------------------------------------------------
TLS = WORK / "tls"
NAMES = {"DNS:svc.molecule.test", "DNS:controller", "IP Address:127.0.0.1"}


def x509(host, path: Path, *options: str) -> str:
    return host.check_output(f"openssl x509 -noout -in {path} " + " ".join(options))


def tls_records() -> list[dict]:
    lines = (WORK / "records" / "issued.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("type", "").startswith("tls")]


@pytest.mark.parametrize("name", ["fresh", "other-ca", "expiring", "renamed", "wrong-key"])
def test_each_service_certificate_is_the_cas_for_the_names_with_its_own_key_and_recorded(host, name):
    """Missing, another CA's, ending within 30 days, other names, not the key's: each renewed."""
    crt, key = TLS / f"{name}.crt", TLS / f"{name}.key"
    assert host.run(f"openssl verify -CAfile {WORK}/tls-ca.crt -purpose sslserver {crt}").rc == 0
    sans = x509(host, crt, "-ext", "subjectAltName").splitlines()[1]
    assert set(map(str.strip, sans.split(","))) == NAMES
    assert host.run(f"openssl x509 -noout -checkend {80 * 86400} -in {crt}").rc == 0  # 90 days, renewed
    assert x509(host, crt, "-pubkey") == host.check_output(f"openssl pkey -pubout -in {key}")
    assert host.file(str(key)).mode == 0o600
    assert not host.file(f"{key}.next").exists and not host.file(f"{crt}.csr").exists
    if name != "fresh":
        assert x509(host, crt, "-serial") != x509(host, TLS / f"{name}.start.crt", "-serial")
    serial = x509(host, crt, "-serial").split("=")[1]
    (record,) = [r for r in tls_records() if r["serial"] == serial]
    assert record["type"] == "tls-server" and record["path"] == str(crt) and record["host"] == "controller"
    assert record["not_after"].replace("-", "").replace(":", "").replace("T", "")[:12] == host.check_output(
        f'date -u -d "$(openssl x509 -noout -enddate -in {crt} | cut -d= -f2)" +%Y%m%d%H%M'
    )


def test_the_cas_certificate_is_installed_beside_them(host):
    assert host.file(str(TLS / "installed-ca.crt")).content_string == (WORK / "tls-ca.crt").read_text()


@pytest.mark.parametrize(
    ("index", "why"),
    [(0, "is not the certificate of vault_jinbao_tls_ca_key"), (1, "names=web molecule"), (2, "names= ")],
)
def test_a_server_certificate_the_ca_cannot_sign_is_refused_and_nothing_changed(host, index, why):
    said = (WORK / f"tls-server-refusal-{index}.txt").read_text()
    assert why in said, said
    assert not list(TLS.glob(f"refused-{index}.*"))  # no key, request or certificate left behind


@pytest.mark.parametrize(("holder", "role"), [("zhang.wei", "sysops"), ("li.na", "clerk")])
def test_a_client_certificate_carries_holder_and_role_for_hours_and_is_recorded(host, holder, role):
    crt = TLS / f"{holder}-{role}.crt"
    assert host.run(f"openssl verify -CAfile {WORK}/tls-ca.crt -purpose sslclient {crt}").rc == 0
    assert host.run(f"openssl verify -CAfile {WORK}/tls-ca.crt -purpose sslserver {crt}").rc != 0
    assert x509(host, crt, "-subject", "-nameopt", "RFC2253") == f"subject=CN={holder},OU={role}"
    start, end = (x509(host, crt, "-dates").splitlines()[i].split("=")[1] for i in (0, 1))
    seconds = int(host.check_output(f"date -d '{end}' +%s")) - int(host.check_output(f"date -d '{start}' +%s"))
    assert seconds == 4 * 3600
    assert "CA:TRUE" not in x509(host, crt, "-text")
    serial = x509(host, crt, "-serial").split("=")[1]
    (record,) = [r for r in tls_records() if r["serial"] == serial]
    assert (record["type"], record["key_id"], record["role"]) == ("tls-client", holder, role)


@pytest.mark.parametrize(
    ("index", "why"),
    [
        (0, "role=root"),
        (1, "hours=9"),
        (2, "subject exactly /OU=sysops/CN=wang.fang"),
        (3, "/OU=dba/CN=zhang.wei"),
        (4, "extendedKeyUsage=none"),
        (5, "basicConstraints=['CA:TRUE']"),
        (6, "subjectAltName=['DNS:web.molecule.test']"),
        (7, "subject exactly /OU=sysops/CN=zhang.wei"),
        (8, "subject exactly /OU=sysops/CN=zhang.wei"),
    ],
)
def test_a_client_request_outside_the_policy_is_refused_before_signing(host, index, why):
    said = (WORK / f"tls-client-refusal-{index}.txt").read_text()
    assert said.startswith("tls-certificate: refused.") and why in said and "Nothing was signed" in said, said
    assert not list(TLS.glob("no-client-auth.crt")) and not list(TLS.glob("wants-*.crt"))
    assert not list(TLS.glob("two-roles.crt")) and not list(TLS.glob("reversed.crt"))


def test_the_tls_cas_key_is_not_left_on_disk(host):
    assert not host.run("ls /tmp/*.jinbao-tls-ca").stdout.strip()
