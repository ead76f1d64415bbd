"""TLS from the internal CA in the lab (docs/access.md, issue #17): the web tier and the database
serve certificates the CA issued, verified by the CA alone; the middleware verifies the database
by it (sslmode=verify-full); the web tier's administrative path takes an operator's client
certificate from the CA with an allowed role and refuses everything else.

The client is a township's clerk (its router, curl from its LAN address), as in test_business.
Client certificates come from playbooks/tls-certificate.yml, as an operator gets one.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import uuid

import pytest
from test_business import CLERK_SITE, DC, _address, _host_named, _zone_of

from network.dr.identity import client_certificate

ON_CLERK = "/tmp/jinbao-tls-test"
ADMIN = "/api/admin/accounts"
REFUSED = "needs a client certificate"
CA_FILE = "/etc/jinbao/tls/jinbao-ca.crt"
VERIFY = f"openssl verify -CAfile {CA_FILE} -purpose sslserver"


@pytest.fixture(scope="module")
def ca(lab) -> str:
    pem = lab.network.policy.access_tls_ca_certificate
    assert "BEGIN CERTIFICATE" in pem, "the lab has no TLS CA (group_vars access.yml jinbao_access_tls_ca_certificate)"
    return pem


@pytest.fixture(scope="module")
def clerk(lab, ca, tmp_path_factory):
    """The township router with the CA's certificate and the clients' keys and certificates."""
    directory = tmp_path_factory.mktemp("tls-clients")
    router = lab.router_of(CLERK_SITE)
    host = lab.host(router.name)
    host.run(f"mkdir -p {ON_CLERK}")
    (directory / "ca.crt").write_text(ca)

    def issue(holder: str, role: str) -> None:  # as an operator or a clerk gets one (network/dr/identity.py)
        key, crt = client_certificate(lab.env, holder, role)
        (directory / f"{holder}.key").write_bytes(key)
        (directory / f"{holder}.crt").write_bytes(crt)

    issue("zhang.wei", "sysops")
    issue("li.na", "clerk")
    subprocess.run(  # the operator's own key, in a request another CA will sign
        ["openssl", "req", "-new", "-key", str(directory / "zhang.wei.key"), "-subj", "/OU=sysops/CN=zhang.wei",
         "-addext", "extendedKeyUsage=clientAuth", "-out", str(directory / "zhang.wei.csr")],
        check=True, capture_output=True,
    )  # fmt: skip
    # the same operator's request signed by a CA the web tier does not know
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=another CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-keyout", str(directory / "other-ca.key"), "-out", str(directory / "other-ca.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(directory / "zhang.wei.csr"), "-copy_extensions", "copy", "-days", "1",
         "-CA", str(directory / "other-ca.crt"), "-CAkey", str(directory / "other-ca.key"),
         "-out", str(directory / "zhang.wei-other.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    for name in ("ca.crt", "zhang.wei.key", "zhang.wei.crt", "zhang.wei-other.crt", "li.na.key", "li.na.crt"):
        text = (directory / name).read_text()
        host.run(f"umask 077; printf %s {shlex.quote(text)} > {ON_CLERK}/{name}")
    web = _address(lab, _host_named(lab, "web"))
    return {"host": host, "source": lab.lan_address(router), "zone": _zone_of(lab), "web": web}


def request(clerk, path: str, *client: str) -> tuple[int, dict, str]:
    """HTTPS from the township to web.<zone>, the server verified by the CA alone."""
    options = ["--cert", f"{ON_CLERK}/{client[1] if len(client) > 1 else client[0]}.crt",
               "--key", f"{ON_CLERK}/{client[0]}.key"] if client else []  # fmt: skip
    request_id = f"tls-test-{uuid.uuid4().hex[:12]}"
    command = [
        "curl", "-sS", "-i", "--max-time", "20", "--interface", clerk["source"], "--cacert", f"{ON_CLERK}/ca.crt",
        "--resolve", f"web.{clerk['zone']}:443:{clerk['web']}", "-H", f"X-Request-Id: {request_id}", *options,
        f"https://web.{clerk['zone']}{path}",
    ]  # fmt: skip
    result = clerk["host"].run(shlex.join(command))
    assert result.rc == 0, f"curl failed: {result.stderr}"
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    headers["sent-request-id"] = request_id
    return int(lines[0].split()[1]), headers, body


def reached_the_middleware(headers: dict) -> bool:
    """The application echoes X-Request-Id; nginx's own answers do not."""
    return headers.get("x-request-id") == headers["sent-request-id"]


@pytest.mark.parametrize("site", [DC, "zj-dr"])
def test_the_web_tier_serves_a_certificate_of_the_ca(lab, ca, site):
    web = lab.host(_host_named(lab, "web", site))
    assert web.file("/etc/jinbao/tls/jinbao-ca.crt").content_string.strip() == ca.strip()
    verified = web.run(f"{VERIFY} /etc/jinbao/tls/web.crt")
    assert verified.rc == 0, verified.stdout + verified.stderr
    issuer = web.check_output("openssl x509 -noout -issuer -in /etc/jinbao/tls/web.crt")
    subject = web.check_output("openssl x509 -noout -subject -in /etc/jinbao/tls/web.crt")
    assert issuer != subject.replace("subject", "issuer"), "still self-signed"


def test_a_citizens_read_is_served_verified_by_the_ca_alone_and_without_a_certificate(clerk):
    status, headers, body = request(clerk, "/health")
    assert status == 200 and reached_the_middleware(headers), body


@pytest.mark.parametrize("site", [DC, "zj-dr"])
def test_the_database_serves_a_certificate_of_the_ca(lab, site):
    db = lab.host(_host_named(lab, "database", site))
    verified = db.run(f"{VERIFY} /etc/jinbao/tls/postgresql.crt")
    assert verified.rc == 0, verified.stdout + verified.stderr
    names = db.check_output("openssl x509 -noout -ext subjectAltName -in /etc/jinbao/tls/postgresql.crt")
    assert f"DNS:db.{_zone_of(lab)}" in names


def test_the_middleware_verifies_the_database_by_the_ca(lab, ca, clerk):
    app = lab.host(_host_named(lab, "middleware"))
    config = app.check_output("cat /etc/pension-app/pension-app.conf")
    assert "sslmode = verify-full" in config and "sslrootcert = /etc/jinbao/tls/postgresql-ca.crt" in config
    assert app.file("/etc/jinbao/tls/postgresql-ca.crt").content_string.strip() == ca.strip()
    # and it is connected that way: /health asks the database through it
    status, _, body = request(clerk, "/health")
    assert status == 200 and json.loads(body)["database"]["primary"] is True


@pytest.mark.parametrize("site", [DC, "zj-dr"])
def test_the_middleware_serves_tls_the_web_tier_verifies_by_the_ca_and_the_service_name(lab, site):
    """The web tier asks the middleware as app.<zone> over TLS (nginx proxy_ssl_verify): the
    certificate the CA issued for that name verifies there, not for another name, and the
    middleware speaks no plain HTTP."""
    web = lab.host(_host_named(lab, "web", site))
    app = _host_named(lab, "middleware", site)
    address, port, name = _address(lab, app), lab.network.policy.app_port, f"app.{_zone_of(lab)}"
    connect = f"openssl s_client -connect {address}:{port} -CAfile {CA_FILE} -verify_return_error -brief"
    shown = web.run(f"{connect} -verify_hostname {name} </dev/null")
    assert shown.rc == 0 and "Verification: OK" in shown.stderr, shown.stderr
    assert web.run(f"{connect} -verify_hostname web.{_zone_of(lab)} </dev/null").rc != 0
    plain = web.run(f"curl -sS -m 5 -o /dev/null -w '%{{http_code}}' http://{address}:{port}/health")
    assert plain.stdout.strip() != "200", f"{app} answered plain HTTP: {plain.stdout} {plain.stderr}"
    assert "proxy_ssl_verify on;" in web.file("/etc/nginx/nginx.conf").content_string


def test_the_admin_path_without_a_certificate_is_refused(clerk):
    status, headers, body = request(clerk, ADMIN)
    assert status == 403 and REFUSED in body and not reached_the_middleware(headers)


def test_the_admin_path_with_another_cas_certificate_is_refused(clerk):
    status, headers, _ = request(clerk, ADMIN, "zhang.wei", "zhang.wei-other")
    assert status == 400 and not reached_the_middleware(headers)


def test_the_admin_path_with_a_role_not_allowed_is_refused(clerk):
    status, headers, body = request(clerk, ADMIN, "li.na")
    assert status == 403 and REFUSED in body and not reached_the_middleware(headers)


def test_the_admin_path_with_an_operators_certificate_reaches_the_middleware(clerk):
    status, headers, body = request(clerk, ADMIN, "zhang.wei")
    # the application has no administrative API yet: its own 404, past nginx's check
    assert status == 404 and REFUSED not in body and reached_the_middleware(headers), (status, body)


def test_the_issued_certificates_are_recorded(lab):
    records = lab.env.parent.parent / "build" / "access" / lab.env.name / "issued.jsonl"
    found = [json.loads(line) for line in records.read_text().splitlines()]
    servers = {(r["host"], r["path"]) for r in found if r.get("type") == "tls-server"}
    for site in (DC, "zj-dr"):
        assert (_host_named(lab, "web", site), "/etc/jinbao/tls/web.crt") in servers
        assert (_host_named(lab, "database", site), "/etc/jinbao/tls/postgresql.crt") in servers
        assert (_host_named(lab, "middleware", site), "/etc/jinbao/tls/app.crt") in servers
    assert (_host_named(lab, "declaration-web"), "/etc/nginx/tls/declaration.crt") in servers
    clients = [r for r in found if r.get("type") == "tls-client"]
    assert {("zhang.wei", "sysops"), ("li.na", "clerk")} <= {(r["key_id"], r["role"]) for r in clients}
    assert all(r["not_after"].endswith("Z") for r in clients)
