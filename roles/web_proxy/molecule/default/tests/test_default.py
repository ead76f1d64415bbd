"""web_proxy: nginx serves HTTPS only (TLS 1.2+, HSTS) with a certificate from the scenario's CA,
proxies /api/ and /health to the middleware by its name and passes X-Request-Id through, logs to
syslog, and follows a DNS change of the middleware's name without a reload. The administrative
paths and the writes require a client certificate from the CA with an allowed role; reads do not."""

from __future__ import annotations

import json
import time
import uuid

import docker
import pytest

ZONE = "zhejiang.lab.jinbao.internal"
APP_NAME = f"app.{ZONE}"
NETWORK = "mol-web-proxy-net"


def _address(host) -> str:
    return host.ansible("setup")["ansible_facts"]["ansible_default_ipv4"]["address"]


def https(host, path: str, *options: str) -> tuple[int, dict, str]:
    """curl over HTTPS to the host's own address, the certificate verified by the CA for web.<zone>."""
    address = _address(host)
    out = host.check_output(
        "curl -sS --max-time 20 -D - --cacert /etc/jinbao/tls/jinbao-ca.crt --resolve %s "
        + " ".join(["%s"] * len(options))
        + " %s",
        f"web.{ZONE}:443:{address}",
        *options,
        f"https://web.{ZONE}{path}",
    )
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def as_client(holder: str, certificate: str = "") -> tuple[str, ...]:
    """curl's options to present a client's certificate (prepare.yml put them in /root/clients)."""
    return ("--cert", f"/root/clients/{certificate or holder}.crt", "--key", f"/root/clients/{holder}.key")


def test_nginx_runs_and_its_configuration_is_valid(host):
    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    assert host.run("nginx -t -q").rc == 0
    assert host.socket(f"tcp://{_address(host)}:443").is_listening
    key = host.file("/etc/jinbao/tls/web.key")
    assert (key.user, key.mode) == ("root", 0o600)


def test_the_certificate_is_the_cas_and_its_key_stays_on_the_host(host):
    verify = "openssl verify -CAfile /etc/jinbao/tls/jinbao-ca.crt -purpose sslserver /etc/jinbao/tls/web.crt"
    assert host.run(verify).rc == 0
    certificate = host.check_output("openssl x509 -noout -pubkey -in /etc/jinbao/tls/web.crt")
    assert certificate == host.check_output("openssl pkey -pubout -in /etc/jinbao/tls/web.key")
    assert not host.file("/etc/jinbao/tls/web.crt.csr").exists and not host.file("/etc/jinbao/tls/web.key.next").exists


def test_the_certificate_names_the_service_the_host_and_its_address(host):
    sans = host.check_output("openssl x509 -noout -ext subjectAltName -in /etc/jinbao/tls/web.crt")
    assert f"DNS:web.{ZONE}" in sans and "DNS:mol-web-proxy-web1" in sans
    assert f"IP Address:{_address(host)}" in sans


def test_https_serves_the_middlewares_answer(host):
    status, headers, body = https(host, "/health")
    assert status == 200
    answer = json.loads(body)
    assert answer["served_by"] == "mol-web-proxy-app" and answer["path"] == "/health"
    assert answer["x_forwarded_proto"] == "https"
    assert headers["strict-transport-security"] == "max-age=31536000"
    status, _, body = https(
        host,
        "/api/v1/enrollments",
        *as_client("li.na"),
        *("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", '{"a": 1}'),
    )
    assert status == 200
    answer = json.loads(body)
    assert (answer["method"], answer["path"], answer["body"]) == ("POST", "/api/v1/enrollments", '{"a": 1}')


def test_what_is_not_the_api_is_not_proxied(host):
    status, _, body = https(host, "/etc/passwd")
    assert status == 404 and "served_by" not in body


def test_the_request_id_passes_through_or_is_made(host):
    _, _, body = https(host, "/api/v1/persons/x", "-H", "X-Request-Id: clerk-foshan-0001")
    assert json.loads(body)["x_request_id"] == "clerk-foshan-0001"
    _, _, body = https(host, "/api/v1/persons/x")
    made = json.loads(body)["x_request_id"]
    assert len(made) == 32 and int(made, 16) >= 0


def test_plain_http_is_refused(host):
    result = host.run("curl -sS --max-time 5 http://%s/health", _address(host))
    assert result.rc == 7, result  # connection refused: nothing listens on 80
    assert not host.socket("tcp://0.0.0.0:80").is_listening


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused(host, version):
    # The client offers the old protocol at security level 0, so only the server can refuse it.
    result = host.run("echo | openssl s_client %s -cipher DEFAULT@SECLEVEL=0 -connect %s:443", version, _address(host))
    assert result.rc != 0 and "Cipher is (NONE)" in result.stdout


def test_tls_1_2_is_served(host):
    result = host.run("echo | openssl s_client -tls1_2 -connect %s:443", _address(host))
    assert result.rc == 0 and "TLSv1.2" in result.stdout


def test_access_lines_reach_syslog(host):
    x_request_id = f"molecule-log-{uuid.uuid4().hex[:8]}"
    https(host, "/health", "-H", f"X-Request-Id: {x_request_id}")
    time.sleep(1)
    lines = host.check_output("journalctl --no-pager -o cat -t nginx_web")
    (line,) = [line for line in lines.splitlines() if f"request_id={x_request_id}" in line]
    assert '"GET /health HTTP/1.1" 200' in line and ":7001 " in line and "tls=TLSv1.3" in line


def test_a_dns_change_of_the_middleware_is_followed_without_reload(host):
    """DR: the name moves to another middleware; nginx follows once its answer expires (2 s here)."""
    main_pid = host.check_output("systemctl show -p MainPID --value nginx")
    workers = host.check_output("pgrep -d, -P %s", main_pid)
    client = docker.from_env()
    network = client.networks.get(NETWORK)
    network.disconnect("mol-web-proxy-app")
    network.disconnect("mol-web-proxy-app2")
    network.connect("mol-web-proxy-app2", aliases=[APP_NAME])
    try:
        time.sleep(4)
        _, _, body = https(host, "/health")
        assert json.loads(body)["served_by"] == "mol-web-proxy-app2"
    finally:
        network.disconnect("mol-web-proxy-app2")
        network.connect("mol-web-proxy-app2")
        network.connect("mol-web-proxy-app", aliases=[APP_NAME])
    assert host.check_output("pgrep -d, -P %s", main_pid) == workers  # no reload: the same workers


# --- operators and clerks by client certificate ------------------------------------------------
def test_a_citizens_read_needs_no_certificate(host):
    status, _, body = https(host, "/api/v1/persons/x")
    assert status == 200 and json.loads(body)["x_client_role"] is None


def test_the_admin_path_without_a_certificate_is_refused(host):
    status, _, body = https(host, "/api/admin/accounts")
    assert status == 403 and "served_by" not in body and "client certificate" in body


def test_the_admin_path_with_another_cas_certificate_is_refused(host):
    status, _, body = https(host, "/api/admin/accounts", *as_client("zhang.wei", "zhang.wei-other"))
    assert status == 400 and "served_by" not in body  # nginx's own: the certificate did not verify


def test_the_admin_path_with_a_role_not_allowed_is_refused(host):
    for holder in ("li.na", "wang.fang"):  # a clerk, a dba: valid certificates, roles not listed
        status, _, body = https(host, "/api/admin/accounts", *as_client(holder))
        assert status == 403 and "served_by" not in body, holder


def test_the_admin_path_with_the_operators_certificate_reaches_the_middleware_with_who(host):
    status, _, body = https(host, "/api/admin/accounts", *as_client("zhang.wei"))
    assert status == 200
    answer = json.loads(body)
    assert answer["path"] == "/api/admin/accounts"
    assert (answer["x_client_subject"], answer["x_client_role"]) == ("CN=zhang.wei,OU=sysops", "sysops")


def test_a_write_needs_a_clerks_or_operators_certificate(host):
    write = ("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "{}")
    status, _, body = https(host, "/api/v1/contributions", *write)
    assert status == 403 and "served_by" not in body
    status, _, body = https(host, "/api/v1/contributions", *write, *as_client("wang.fang"))
    assert status == 403 and "served_by" not in body
    status, _, body = https(host, "/api/v1/contributions", *write, *as_client("li.na"))
    assert status == 200 and json.loads(body)["x_client_role"] == "clerk"


def test_the_client_cannot_forge_who_it_is(host):
    forged = ("-H", "X-Client-Role: sysops", "-H", "X-Client-Subject: CN=zhang.wei,OU=sysops")
    _, _, body = https(host, "/api/v1/persons/x", *forged)
    answer = json.loads(body)
    assert answer["x_client_role"] is None and answer["x_client_subject"] is None
    _, _, body = https(host, "/api/v1/persons/x", *forged, *as_client("li.na"))
    assert json.loads(body)["x_client_role"] == "clerk"
    status, _, _ = https(host, "/api/admin/accounts", *forged)
    assert status == 403
