"""name_server after side_effect_dr.yml (a failover's part for the names) and a converge: the
DR's name server (promote.yml) is the primary with the zone it held and takes signed updates;
the DC's (demote.yml) is its secondary again, holds the DR's records and lost its stale one;
the converge kept both."""

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
def former_primary():
    return _host("mol-name-server-ns")


@pytest.fixture(scope="module")
def promoted():
    return _host("mol-name-server-secondary")


@pytest.fixture(scope="module")
def former_primary_ip(former_primary):
    return _address(former_primary)


@pytest.fixture(scope="module")
def promoted_ip(promoted):
    return _address(promoted)


def answer(host, server: str, name: str) -> list[str]:
    return host.check_output(f"dig @{server} +short +time=2 +tries=1 {name} A").split()


def nsupdate(host, server: str, commands: str, key: str | None = None):
    sign = f"-y {key} " if key else ""
    script = f"server {server}\nzone {ZONE}\n{commands}\nsend\n"
    return host.run(f"nsupdate {sign}<<'EOF'\n{script}EOF")


def zone_type(host) -> str:
    return next(line for line in host.check_output(f"rndc zonestatus {ZONE}").splitlines() if line.startswith("type:"))


def test_the_converge_kept_the_swap(promoted, former_primary):
    assert zone_type(promoted) == "type: primary"
    assert zone_type(former_primary) == "type: secondary"


def test_the_promoted_name_server_accepts_a_signed_update(host, promoted_ip):
    added = nsupdate(host, promoted_ip, f"update add after-promotion.{ZONE}. 30 A 10.6.9.50", KEY)
    assert added.rc == 0, added.stderr
    assert answer(host, promoted_ip, f"after-promotion.{ZONE}") == ["10.6.9.50"]


def test_the_promoted_name_server_refuses_an_unsigned_update(host, promoted_ip):
    result = nsupdate(host, promoted_ip, f"update add rogue.{ZONE}. 30 A 10.9.9.9")
    assert result.rc != 0 and "REFUSED" in result.stderr


@pytest.mark.parametrize(
    ("name", "address"),
    [("db", "10.6.0.99"), ("app", "10.5.1.10"), ("extra", "10.5.9.99")],  # moved there; held from the DC
)
def test_both_answer_the_promoted_ones_records(host, promoted_ip, former_primary_ip, name, address):
    assert answer(host, promoted_ip, f"{name}.{ZONE}") == [address]
    assert answer(host, former_primary_ip, f"{name}.{ZONE}") == [address]


def test_the_former_primary_lost_the_change_the_dr_never_received(host, former_primary_ip):
    assert answer(host, former_primary_ip, f"stale.{ZONE}") == []


def test_an_update_on_the_promoted_one_reaches_the_former_primary_at_once(host, promoted_ip, former_primary_ip):
    assert nsupdate(host, promoted_ip, f"update add notified.{ZONE}. 30 A 10.6.9.60", KEY).rc == 0
    deadline = time.monotonic() + 5
    while answer(host, former_primary_ip, f"notified.{ZONE}") != ["10.6.9.60"] and time.monotonic() < deadline:
        time.sleep(0.25)
    assert answer(host, former_primary_ip, f"notified.{ZONE}") == ["10.6.9.60"]


def test_the_former_primary_refuses_updates(host, former_primary_ip):
    result = nsupdate(host, former_primary_ip, f"update add rogue.{ZONE}. 30 A 10.9.9.9", KEY)
    assert result.rc != 0
    assert answer(host, former_primary_ip, f"rogue.{ZONE}") == []


def test_the_markers_name_the_dr_playbooks(promoted, former_primary, promoted_ip):
    assert '"serving_as": "primary"' in promoted.file("/var/lib/bind/jinbao-dr-role.json").content_string
    marker = former_primary.file("/var/lib/bind/jinbao-dr-role.json").content_string
    assert '"serving_as": "secondary"' in marker and promoted_ip in marker
