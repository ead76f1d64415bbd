"""A township clerk's web client certificate, got the way a clerk gets one (docs/access.md):
the key and the request made where the clerk is, the request signed by the environment's
TLS CA through playbooks/tls-certificate.yml (CN=<holder>, OU=clerk; short-lived).

The web tier refuses a write without it (web_proxy_protected_paths: /api/ writes need the
clerk role), so the drill's load, the lab tests and the business benchmark carry one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from network import servers

ROLE = "clerk"
HOURS = 1  # a drill or a test run; the policy allows up to jinbao_access_certificate_hours
PLAYBOOK = servers.REPO / "playbooks" / "tls-certificate.yml"


class IdentityError(LookupError):
    """The CA did not issue the certificate: the playbook's own words."""


def clerk_certificate(env: Path, holder: str, hours: int = HOURS) -> tuple[bytes, bytes]:
    """(key, certificate) in PEM for `holder` with the clerk role, from `env`'s TLS CA."""
    return client_certificate(env, holder, ROLE, hours)


def client_certificate(env: Path, holder: str, role: str, hours: int = HOURS) -> tuple[bytes, bytes]:
    """(key, certificate) in PEM for `holder` with `role` (an operator's or a clerk's), from
    `env`'s TLS CA: the key and request made here, the request signed by the playbook."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(  # in this order: nginx reads CN=<holder>,OU=<role>
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role), x509.NameAttribute(NameOID.COMMON_NAME, holder)]
    )
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.TemporaryDirectory(prefix="jinbao-client-") as directory:
        csr = Path(directory) / f"{holder}.csr"
        csr.write_bytes(request.public_bytes(serialization.Encoding.PEM))
        arguments = ["-e", f"holder={holder}", "-e", f"role={role}", "-e", f"csr={csr}", "-e", f"hours={hours}"]
        try:
            report = servers.run_json(Path(env).resolve(), PLAYBOOK, arguments, timeout=120)
        except servers.AnsibleRunFailed as exc:
            raise IdentityError(f"{PLAYBOOK.name} did not run for {holder}: {exc}") from None
        certificate = csr.with_suffix(".crt")
        failed = [h.error for h in servers.parse(report).values() if h.error]
        if failed or not certificate.exists():
            raise IdentityError(
                f"{PLAYBOOK.name} did not issue {holder}'s {role} certificate: {'; '.join(failed) or 'no certificate'}"
            )
        return key_pem, certificate.read_bytes()
