"""The drill's clerk (network/dr/loadgen.py): its DNS answer parsing, its resident IDs; and what a
drill acts on in the lab inventory (network/dr/plan.py)."""

from __future__ import annotations

import socket
import struct

from conftest import LAB

from network.dr import loadgen
from network.dr.plan import drill_plan
from network.planned import planned


def reply(ident: int, *addresses: str, rcode: int = 0) -> bytes:
    name = b"\x03web\x08zhejiang\x00"
    head = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(addresses), 0, 0) + name + struct.pack("!HH", 1, 1)
    answers = b"".join(
        b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + socket.inet_aton(a) for a in addresses
    )  # a compressed name pointing at the question
    return head + answers


def test_an_a_answer_is_read_with_its_compressed_name() -> None:
    assert loadgen.answers(reply(7, "10.5.6.11"), 7) == ["10.5.6.11"]


def test_another_querys_reply_or_an_error_gives_no_address() -> None:
    assert loadgen.answers(reply(8, "10.5.6.11"), 7) == []
    assert loadgen.answers(reply(7, rcode=3), 7) == []  # NXDOMAIN


def test_resident_ids_are_well_formed_and_distinct() -> None:
    ids = {loadgen.resident_id(n) for n in range(12_345, 12_445)}
    assert len(ids) == 100 and all(len(i) == 18 and i[:2] == "33" for i in ids)
    assert loadgen.resident_id(0) == "330000199001010006"


def test_the_lab_drill_acts_on_the_business_site_its_dr_site_and_the_choucheng_clerk() -> None:
    network, allocations = planned(LAB)
    plan = drill_plan(network, allocations)
    assert (plan.business_site, plan.dr_sites) == ("zj-dc", ("zj-dr",))
    assert plan.clerk == "choucheng-r1" and plan.web_name == "web.zhejiang.lab.jinbao.internal"
    assert plan.db_hosts[0] == "zj-dc-db1" and "zj-dr-db1" in plan.db_hosts
    assert plan.lost_in_failover == ("zj-dc-db1", "zj-dc-app1")
    assert plan.name_servers[0] == allocations.hosts["zj-dc/ops1"]["address"]
