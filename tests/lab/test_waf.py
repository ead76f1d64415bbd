"""The online-declaration site in the DMZ behind nginx + ModSecurity + OWASP CRS: normal
requests pass and a declaration lands in the DMZ spool; SQL injection and path traversal get
403 from the WAF. Sent over HTTPS to the site's DMZ address, from the host itself (the lab has
no internet-side host yet)."""

from __future__ import annotations

import pytest

DC = "zj-dc"
SPOOL = "/var/spool/jinbao/declarations"
# one HTTPS request; prints the status code
REQUEST = (
    "import http.client, ssl, sys\n"
    "c = http.client.HTTPSConnection(sys.argv[1], 443, context=ssl._create_unverified_context(), timeout=10)\n"
    "body = sys.argv[4].encode() if sys.argv[2] == 'POST' else None\n"
    "c.request(sys.argv[2], sys.argv[3], body=body, headers={'Content-Type': 'application/xml'} if body else {})\n"
    "print(c.getresponse().status)\n"
)
DECLARATION = "<declaration><employer>330100123</employer><month>2026-11</month><staff>42</staff></declaration>"


@pytest.fixture(scope="module")
def site(lab):
    hosts = [h for h in lab.network.sites[DC].hosts if h.role == "declaration-web"]
    assert hosts, f"{DC} has no declaration-web host"
    name = lab.network.hostname(lab.network.sites[DC], hosts[0].name)
    return lab.host(name), lab.allocations.hosts[f"{DC}/{hosts[0].name}"]["address"]


def _status(site, method: str, path: str, body: str = "") -> int:
    host, address = site
    return int(host.check_output(f"python3 -c \"{REQUEST}\" {address} {method} '{path}' '{body}'"))


def test_the_site_answers_and_takes_a_declaration_into_the_spool(site):
    host, _ = site
    assert _status(site, "GET", "/") == 200
    before = set(host.file(SPOOL).listdir())
    assert _status(site, "POST", "/declarations", DECLARATION) == 201
    (new,) = set(host.file(SPOOL).listdir()) - before
    assert host.file(f"{SPOOL}/{new}").content_string == DECLARATION


@pytest.mark.parametrize(
    "path",
    [
        "/?employer=1%27%20OR%20%271%27%3D%271",
        "/?q=1%20UNION%20SELECT%20password%20FROM%20users",
        "/?file=..%2F..%2F..%2Fetc%2Fpasswd",
    ],
    ids=["sql-injection", "sql-union", "path-traversal"],
)
def test_attacks_get_403_from_the_waf(site, path):
    assert _status(site, "GET", path) == 403
