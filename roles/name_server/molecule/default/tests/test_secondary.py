"""name_server as the DR's secondary: it transfers the zone from the primary with the key, is
NOTIFYed of each change, answers the service names, and refuses updates; the primary refuses a
transfer without the key (to its secondary too) and to anyone else."""

from __future__ import annotations

import os
import time

import pytest
import testinfra

ZONE = "zhejiang.lab.jinbao.internal"
KEY = "hmac-sha256:jinbao-update:bW9sZWN1bGUtb25seS10c2lnLXNlY3JldC0zMi1ieXRlcyE="


def _host(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _address(host) -> str:
    return host.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]["ansible_default_ipv4"]["address"]


@pytest.fixture(scope="module")
def ns():
    return _host("mol-name-server-ns")


@pytest.fixture(scope="module")
def secondary():
    return _host("mol-name-server-secondary")


@pytest.fixture(scope="module")
def ns_ip(ns):
    return _address(ns)


@pytest.fixture(scope="module")
def secondary_ip(secondary):
    return _address(secondary)


def answer(host, server: str, name: str) -> list[str]:
    return host.check_output(f"dig @{server} +short +time=2 +tries=1 {name} A").split()


def nsupdate(host, server: str, commands: str, key: str | None = None):
    sign = f"-y {key} " if key else ""
    script = f"server {server}\nzone {ZONE}\n{commands}\nsend\n"
    return host.run(f"nsupdate {sign}<<'EOF'\n{script}EOF")


def axfr(host, server: str, key: str | None = None):
    sign = f"-y {key} " if key else ""
    return host.run(f"dig @{server} +time=2 +tries=1 {sign}{ZONE} AXFR").stdout


@pytest.mark.parametrize(
    ("name", "address"),
    [("app", "10.5.1.10"), ("web", "10.5.1.11"), ("db", "10.6.0.10"), ("extra", "10.5.9.99")],
)
def test_the_secondary_answers_the_service_names(host, secondary_ip, name, address):
    # as the primary holds them after side_effect.yml: transferred, not configured
    assert answer(host, secondary_ip, f"{name}.{ZONE}") == [address]


def test_the_secondary_serves_the_zone_as_a_secondary_of_the_primary(secondary, ns_ip):
    status = secondary.check_output(f"rndc zonestatus {ZONE}")
    assert "type: secondary" in status.splitlines()
    assert ns_ip in secondary.file("/etc/bind/named.conf.local").content_string


def test_an_update_on_the_primary_reaches_the_secondary_at_once(host, ns_ip, secondary_ip):
    # refresh is an hour: only the primary's NOTIFY brings it within seconds
    added = nsupdate(host, ns_ip, f"update add notified.{ZONE}. 30 A 10.5.9.60", KEY)
    assert added.rc == 0, added.stderr
    deadline = time.monotonic() + 5
    while answer(host, secondary_ip, f"notified.{ZONE}") != ["10.5.9.60"] and time.monotonic() < deadline:
        time.sleep(0.25)
    assert answer(host, secondary_ip, f"notified.{ZONE}") == ["10.5.9.60"]
    assert nsupdate(host, ns_ip, f"update delete notified.{ZONE}. A", KEY).rc == 0


def test_the_primary_transfers_to_its_secondary_with_the_key_only(secondary, ns_ip):
    assert "Transfer failed" in axfr(secondary, ns_ip)
    assert f"app.{ZONE}." in axfr(secondary, ns_ip, KEY)


def test_the_primary_transfers_to_no_one_else_even_with_the_key(host, ns_ip):
    assert "Transfer failed" in axfr(host, ns_ip, KEY)


@pytest.mark.parametrize("key", [None, KEY], ids=["unsigned", "signed"])
def test_the_secondary_refuses_updates(host, ns_ip, secondary_ip, key):
    result = nsupdate(host, secondary_ip, f"update add rogue.{ZONE}. 30 A 10.9.9.9", key)
    assert result.rc != 0
    assert "REFUSED" in result.stderr or "NOTAUTH" in result.stderr or "NOTIMP" in result.stderr
    assert answer(host, secondary_ip, f"rogue.{ZONE}") == []
    assert answer(host, ns_ip, f"rogue.{ZONE}") == []


def test_the_primary_stamps_serials_with_the_time(host, ns_ip):
    serial = int(host.check_output(f"dig @{ns_ip} +short {ZONE} SOA").split()[2])
    assert abs(serial - time.time()) < 3600
