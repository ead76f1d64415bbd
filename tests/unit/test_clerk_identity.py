"""A clerk's web client certificate (network/dr/identity.py): the key and request made here,
signed by the lab's TLS CA through playbooks/tls-certificate.yml (a real run, on the
controller only), or refused with the playbook's reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from network.dr.identity import IdentityError, clerk_certificate

LAB = Path(__file__).resolve().parents[2] / "inventories" / "lab"


def test_a_clerk_gets_a_short_lived_client_certificate_for_the_clerk_role_from_the_ca():
    key_pem, cert_pem = clerk_certificate(LAB, "clerk.choucheng")
    certificate = x509.load_pem_x509_certificate(cert_pem)
    subject = [(a.oid, a.value) for a in certificate.subject]
    assert subject == [(NameOID.ORGANIZATIONAL_UNIT_NAME, "clerk"), (NameOID.COMMON_NAME, "clerk.choucheng")]
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.total_seconds() <= 65 * 60  # an hour, from five minutes back
    access = yaml.safe_load((LAB / "group_vars" / "all" / "access.yml").read_text())
    ca = x509.load_pem_x509_certificate(access["jinbao_access_tls_ca_certificate"].encode())
    certificate.verify_directly_issued_by(ca)
    key = serialization.load_pem_private_key(key_pem, None)
    assert key.public_key().public_numbers() == certificate.public_key().public_numbers()


def test_a_holder_outside_the_policy_is_refused_with_the_playbooks_reason():
    with pytest.raises(IdentityError, match=r"refused\. holder=Bad"):
        clerk_certificate(LAB, "Bad")
