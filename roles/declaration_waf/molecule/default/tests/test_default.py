"""declaration_waf: the site answers over TLS, a declaration lands in the spool, and common
attacks (SQL injection, path traversal, a script in a declaration) get 403 from ModSecurity
with the CRS rule that caught them in the audit log; oversize and non-XML bodies are refused."""

from __future__ import annotations

import json

import pytest

# Runs on the host: one HTTPS request to its own address, the status code printed.
REQUEST = r"""
import http.client, ssl, sys
method, path, kind, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
address = sys.argv[5]
conn = http.client.HTTPSConnection(address, 443, context=ssl._create_unverified_context(), timeout=10)
headers = {"Content-Type": kind} if kind != "-" else {}
conn.request(method, path, body=body if method == "POST" else None, headers=headers)
response = conn.getresponse()
print(response.status, response.read().decode(errors="replace")[:200])
"""


def _address(host) -> str:
    return host.ansible("setup")["ansible_facts"]["ansible_default_ipv4"]["address"]


def _request(host, method: str, path: str, kind: str = "-", body: str = "") -> int:
    out = host.check_output(f"python3 -c '{REQUEST}' {method} '{path}' '{kind}' '{body}' {_address(host)}")
    return int(out.split()[0])


XML = "<declaration><employer>330100123</employer><month>2026-11</month><staff>42</staff></declaration>"


def test_nginx_and_the_intake_run_and_only_tls_is_served(host):
    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    assert host.service("jinbao-declaration-intake").is_running
    address = _address(host)
    assert host.socket(f"tcp://{address}:443").is_listening
    assert not host.socket("tcp://0.0.0.0:80").is_listening
    assert host.socket("tcp://127.0.0.1:8080").is_listening
    assert not host.socket(f"tcp://{address}:8080").is_listening
    assert host.file("/etc/nginx/tls/declaration.key").mode == 0o600


def test_normal_requests_pass(host):
    assert _request(host, "GET", "/") == 200
    before = set(host.file("/var/spool/jinbao/declarations").listdir())
    assert _request(host, "POST", "/declarations", "application/xml", XML) == 201
    after = set(host.file("/var/spool/jinbao/declarations").listdir())
    (new,) = after - before
    assert host.file(f"/var/spool/jinbao/declarations/{new}").content_string == XML


@pytest.mark.parametrize(
    ("method", "path", "kind", "body", "rule"),
    [
        ("GET", "/?employer=1%27%20OR%20%271%27%3D%271", "-", "", "942100"),
        ("GET", "/?employer=1%20UNION%20SELECT%20password%20FROM%20users", "-", "", "942"),
        ("GET", "/?file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", "-", "", "930"),
        ("POST", "/declarations", "application/xml", "<d><x>&lt;script&gt;alert(1)&lt;/script&gt;</x></d>", "941"),
    ],
    ids=["sqli-tautology", "sqli-union", "path-traversal", "xss-in-declaration"],
)
def test_attacks_get_403_from_the_waf(host, method, path, kind, body, rule):
    before = len(host.file("/var/spool/jinbao/declarations").listdir())
    assert _request(host, method, path, kind, body) == 403
    assert len(host.file("/var/spool/jinbao/declarations").listdir()) == before
    last = host.check_output("tail -n 1 /var/log/nginx/modsec_audit.log")
    ids = [m["details"]["ruleId"] for m in json.loads(last)["transaction"]["messages"]]
    assert any(i.startswith(rule) for i in ids), ids


def test_what_is_not_a_declaration_is_refused(host):
    assert _request(host, "POST", "/declarations", "application/xml", "<unclosed>") == 400
    assert _request(host, "POST", "/declarations", "application/json", '{"a": 1}') in (403, 415)
    code = host.check_output(
        "python3 -c 'import http.client,ssl,sys; c=http.client.HTTPSConnection(sys.argv[1],443,"
        'context=ssl._create_unverified_context()); b=b"<d>"+b"a"*1048576+b"</d>";'
        ' c.request("POST","/declarations",body=b,headers={"Content-Type":"application/xml"});'
        " print(c.getresponse().status)' " + _address(host)
    )
    assert int(code) == 413
