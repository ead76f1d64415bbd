"""A township clerk's web client certificate, got the way a clerk gets one (docs/access.md):
the key and the request made where the clerk is, the request signed by the environment's
TLS CA through playbooks/tls-certificate.yml (CN=<holder>, OU=clerk; short-lived).

The web tier refuses a write without it (web_proxy_protected_paths: /api/ writes need the
clerk role), so the drill's load, the lab tests and the business benchmark carry one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from network import envstate

ROLE = "clerk"
HOURS = 1  # a drill or a test run; the policy allows up to jinbao_access_certificate_hours


class IdentityError(LookupError):
    """The CA did not issue the certificate: the playbook's own words."""


def clerk_certificate(env: Path, holder: str, hours: int = HOURS) -> tuple[bytes, bytes]:
    """(key, certificate) in PEM for `holder` with the clerk role, from `env`'s TLS CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(  # in this order: nginx reads CN=<holder>,OU=<role>
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ROLE), x509.NameAttribute(NameOID.COMMON_NAME, holder)]
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
    with tempfile.TemporaryDirectory(prefix="jinbao-clerk-") as directory:
        csr = Path(directory) / f"{holder}.csr"
        csr.write_bytes(request.public_bytes(serialization.Encoding.PEM))
        bin_dir = Path(sys.executable).parent
        command = [
            str(bin_dir / "ansible-playbook"), "-i", str(Path(env).resolve()), "playbooks/tls-certificate.yml",
            "-e", f"holder={holder}", "-e", f"role={ROLE}", "-e", f"csr={csr}", "-e", f"hours={hours}",
        ]  # fmt: skip
        environment = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
        done = subprocess.run(
            command, cwd=envstate.REPO, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True
        )
        certificate = csr.with_suffix(".crt")
        if done.returncode != 0 or not certificate.exists():
            said = [line for line in done.stdout.splitlines() if "refused" in line or "fatal" in line.lower()]
            raise IdentityError(
                f"playbooks/tls-certificate.yml did not issue {holder}'s clerk certificate (exit {done.returncode}): "
                + ("; ".join(said) or done.stdout.strip()[-500:] or done.stderr.strip()[-500:])
            )
        return key_pem, certificate.read_bytes()
