"""The online-declaration site in the DMZ behind nginx + ModSecurity + OWASP CRS: normal
requests pass and a declaration is taken in (test_gatekeeper follows it inward); SQL injection
and path traversal get 403 from the WAF. Sent over HTTPS to the site's DMZ address from the
internet side: the probe outside the DMZ's edge firewall."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def site(declaration_site):
    return declaration_site


DECLARATION = "<declaration><employer>330100123</employer><month>2026-11</month><staff>42</staff></declaration>"


def _status(site, method: str, path: str, body: str = "") -> int:
    return site.request(method, path, body)[0]


def test_the_site_answers_and_takes_a_declaration_in(site):
    assert _status(site, "GET", "/") == 200
    status, body = site.request("POST", "/declarations", DECLARATION)
    assert status == 201 and json.loads(body)["id"].endswith(".xml"), body


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
