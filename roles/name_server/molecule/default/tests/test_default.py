"""name_server: the DC's service names answer from the client, nothing recurses, only the TSIG
key changes the zone (A records only), and what the DR playbook and an operator changed
between the converges (side_effect.yml) survived the second converge."""

from __future__ import annotations

import os

import pytest
import testinfra

ZONE = "zhejiang.lab.jinbao.internal"
KEY = "hmac-sha256:jinbao-update:bW9sZWN1bGUtb25seS10c2lnLXNlY3JldC0zMi1ieXRlcyE="
WRONG_KEY = "hmac-sha256:jinbao-update:bm90LXRoZS1rZXktYXQtYWxsLWp1c3QtYS1ndWVzcyEhIQ=="


@pytest.fixture(scope="module")
def ns():
    return testinfra.get_host("ansible://mol-name-server-ns", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def ns_ip(ns):
    return ns.ansible("setup", "filter=ansible_default_ipv4")["ansible_facts"]["ansible_default_ipv4"]["address"]


def dig(host, server: str, *query: str) -> str:
    return host.check_output(f"dig @{server} +norec +time=2 +tries=1 {' '.join(query)}")


def answer(host, server: str, name: str) -> list[str]:
    return host.check_output(f"dig @{server} +short +time=2 +tries=1 {name} A").split()


def nsupdate(host, server: str, commands: str, key: str | None = None):
    sign = f"-y {key} " if key else ""
    script = f"server {server}\nzone {ZONE}\n{commands}\nsend\n"
    return host.run(f"nsupdate {sign}<<'EOF'\n{script}EOF")


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("app", "10.5.1.10"),  # set by the role
        ("web", "10.5.1.11"),  # changed by hand, set back by the records task (enforcing)
        ("db", "10.6.0.10"),  # moved by the DR playbook; the second converge (not enforcing) left it
        ("extra", "10.5.9.99"),  # added by an operator; the second converge kept it
    ],
)
def test_service_names_answer_from_the_client(host, ns_ip, name, address):
    assert answer(host, ns_ip, f"{name}.{ZONE}") == [address]


def test_the_name_server_names_itself(host, ns_ip):
    assert answer(host, ns_ip, f"ns.{ZONE}") == [ns_ip]
    assert dig(host, ns_ip, "+short", ZONE, "NS").split() == [f"ns.{ZONE}."]


def test_the_zone_file_was_not_rewritten_and_holds_the_updates(ns):
    zone = ns.file(f"/var/lib/bind/db.{ZONE}")
    inode, mtime = ns.file("/root/zone-file-after-side-effect").content_string.split()
    # the second converge left it alone: same file, not written since side_effect.yml looked
    assert (zone.inode, int(zone.mtime.timestamp())) == (int(inode), int(float(mtime)))
    ns.check_output("rndc sync")
    assert zone.user == "bind"
    assert zone.contains("10.5.9.99") and zone.contains("10.6.0.10")
    assert not zone.contains("ansible") and not zone.contains("Written once")  # named's dump, not the template


def test_other_names_are_refused_not_recursed(host, ns_ip):
    out = dig(host, ns_ip, "+rec", "www.example.com", "A")
    assert "status: REFUSED" in out
    assert " ra" not in out.split("flags:")[1].split(";")[0]


def test_a_host_outside_the_clients_is_refused(ns, ns_ip):
    # the name server asking its own address comes from that address, not the client's
    assert "status: REFUSED" in dig(ns, ns_ip, f"app.{ZONE}", "A")


def test_the_zone_is_not_transferred(host, ns_ip):
    assert "Transfer failed" in host.run(f"dig @{ns_ip} +time=2 +tries=1 {ZONE} AXFR").stdout


@pytest.mark.parametrize("key", [None, WRONG_KEY], ids=["unsigned", "wrong-key"])
def test_an_update_without_the_key_is_refused(host, ns_ip, key):
    result = nsupdate(host, ns_ip, f"update add rogue.{ZONE}. 30 A 10.9.9.9", key)
    assert result.rc != 0
    assert "REFUSED" in result.stderr or "NOTAUTH" in result.stderr or "BADSIG" in result.stderr
    assert answer(host, ns_ip, f"rogue.{ZONE}") == []


def test_the_key_may_change_a_records_only(host, ns_ip):
    result = nsupdate(host, ns_ip, f'update add note.{ZONE}. 30 TXT "not an address"', KEY)
    assert result.rc != 0 and "REFUSED" in result.stderr


def test_an_update_with_the_key_works_and_is_logged(host, ns, ns_ip):
    added = nsupdate(host, ns_ip, f"update add probe.{ZONE}. 30 A 10.5.9.50", KEY)
    assert added.rc == 0, added.stderr
    assert answer(host, ns_ip, f"probe.{ZONE}") == ["10.5.9.50"]
    removed = nsupdate(host, ns_ip, f"update delete probe.{ZONE}. A", KEY)
    assert removed.rc == 0, removed.stderr
    assert answer(host, ns_ip, f"probe.{ZONE}") == []
    log = ns.check_output("journalctl -t named --no-pager -q")
    assert "'jinbao-update'" in log or "jinbao-update" in log
    assert f"adding an RR at 'probe.{ZONE}' A 10.5.9.50" in log


def test_named_runs_enabled(ns):
    assert ns.service("named").is_enabled and ns.service("named").is_running
