"""Removing a township's line (docs/lab.md, "Removing a township"): its county router routes on.

The township goes from the lab's sites.yml and allocations.yml as a revert of its addition
would take it, in the order the issue met: `jinbao lab up` takes the line's network away under
the running county router, then the county router is converged. The issue saw frr-reload.py
fail there and FRR stop while the play said ok; FRR 8.4 here does not always fail on it, so
the county router's frr-reload.py is replaced for the module by one that does exactly that
(stops FRR, exits 1) on --reload. The converge must still leave FRR running the rendered
config and routing for the county's other townships, and a converge where FRR cannot start
again must fail and say so. Both files, the script and the township come back afterwards.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, Lab

from network.audit import drift
from network.platforms import scrub
from network.render import Renderer, load_secrets

JINBAO = str(Path(sys.executable).parent / "jinbao")
TOWNSHIP = "choucheng"  # the county keeps fotang, which also has a backup line to the city
NO_START = "/run/systemd/system/frr.service.d/test-no-start.conf"
RELOAD = "/usr/lib/frr/frr-reload.py"
# what the issue saw: the reload exits 1 and FRR is down afterwards
FAILING_RELOAD = f"""#!/bin/sh
case " $* " in
  *" --reload "*) /usr/lib/frr/frrinit.sh stop >/dev/null 2>&1
                  echo "line 12: Failure to communicate[13] to zebra, line: interface eth2" >&2; exit 1 ;;
esac
exec {RELOAD}.real "$@"
"""


def _without_site(sites: str, site_id: str) -> str:
    """sites.yml without one site's entry (the lines from its `- id:` to the next entry)."""
    kept, skipping = [], False
    for line in sites.splitlines(keepends=True):
        if line.startswith("  - id: "):
            skipping = line.strip() == f"- id: {site_id}"
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "".join(kept)


def _without_allocations(allocations: str, site_id: str) -> str:
    """allocations.yml without the site's LAN, devices and lines (keys "<id>", "<id>/…", "<id>:…")."""
    key = re.compile(rf'^\s+"{re.escape(site_id)}(["/:])')
    return "".join(line for line in allocations.splitlines(keepends=True) if not key.match(line))


def _jinbao(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([JINBAO, *args], cwd=ROOT, capture_output=True, text=True, check=False)


def _reaches(lab: Lab, townships, seconds: float) -> list[str]:
    """What the townships cannot reach (DCs of their province, the ministry) after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        failures = []
        for township in townships:
            source = lab.lan_address(township)
            for description, address in lab.targets(township):
                if lab.host(township.name).run(f"ping -c 1 -W 2 -I {source} {address}").rc != 0:
                    failures.append(f"{township.name} ({source}) → {description} {address}")
        if not failures or time.monotonic() > deadline:
            return failures
        time.sleep(3)


@pytest.fixture(scope="module")
def removed(lab):
    """The lab without TOWNSHIP (a fresh Lab of the edited model); everything back afterwards."""
    files = {name: lab.env / name for name in ("sites.yml", "allocations.yml")}
    saved = {name: path.read_bytes() for name, path in files.items()}
    county = lab.router_of(lab.network.sites[TOWNSHIP].parent)
    try:
        files["sites.yml"].write_text(_without_site(saved["sites.yml"].decode(), TOWNSHIP))
        files["allocations.yml"].write_text(_without_allocations(saved["allocations.yml"].decode(), TOWNSHIP))
        check = _jinbao("plan", str(lab.env), "--check")
        assert check.returncode == 0, f"the edited allocations.yml is not what plan keeps: {check.stdout}"
        after = Lab(lab.env)
        assert TOWNSHIP not in after.network.sites and county.name in after.topology.nodes
        up = _jinbao("lab", "up", str(lab.env), "--json")
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"container {TOWNSHIP}-r1" in up.stdout and f"network line:{TOWNSHIP}:" in up.stdout, up.stdout
        host = lab.host(county.name)
        host.run_test(f"test -e {RELOAD}.real || cp -p {RELOAD} {RELOAD}.real")
        encoded = base64.b64encode(FAILING_RELOAD.encode()).decode()
        host.run_test(f"echo {encoded} | base64 -d > {RELOAD}")
        yield after, after.topology.nodes[county.name]
    finally:
        for name, path in files.items():
            path.write_bytes(saved[name])
        lab.host(county.name).run(
            f"test -e {RELOAD}.real && mv {RELOAD}.real {RELOAD}; "
            f"rm -f {NO_START}; systemctl daemon-reload; systemctl reset-failed frr"
        )
        back = _jinbao("lab", "up", str(lab.env), "--json")
        assert back.returncode == 0, back.stdout + back.stderr
        lab._hosts.clear()  # the township's node is new (new host key)
        converged = lab.ansible("playbooks/site.yml", "--limit", f"{TOWNSHIP}-r1,{county.name}")
        assert converged.returncode == 0, converged.stdout[-3000:]
        # the township's router is new, and so is its host key: the bastions learn it
        learnt = lab.ansible("playbooks/access.yml", "--limit", "server_bastion")
        assert learnt.returncode == 0, learnt.stdout[-3000:]
        township = lab.router_of(TOWNSHIP)
        assert not _reaches(lab, [township], 120), f"{TOWNSHIP} did not come back"


def _townships_of(lab: Lab, county):
    """The townships with a line to the county (the lab's townships() wants three; one is gone)."""
    townships = [n for n in lab.routers() if lab.site(n).tier == "township"]
    return [t for t in townships if county.site in {u.parent for u in lab.site(t).uplinks}]


def test_the_county_router_runs_its_rendered_config_and_routes_for_its_other_townships(removed):
    lab, county = removed
    host = lab.host(county.name)
    converge = lab.ansible("playbooks/wan.yml", "--limit", county.name)
    assert converge.returncode == 0, converge.stdout[-3000:]
    assert host.service("frr").is_running
    assert "Failure to communicate" in converge.stdout, "the reload did not fail: nothing was proven"
    intended = Renderer(lab.network, lab.allocations, load_secrets(lab.env)).render_hosts([county.name])
    running = host.check_output("vtysh -c 'show running-config'")
    assert drift(scrub("frr", intended[county.name]), scrub("frr", running)) == {}
    others = _townships_of(lab, county)
    assert others, f"{county.site} has no other township to route for"
    failures = _reaches(lab, others, 90)
    assert not failures, "\n".join(failures)


def test_a_converge_that_leaves_frr_down_fails_and_says_so(removed):
    lab, county = removed
    host = lab.host(county.name)
    host.run_test(f"mkdir -p {Path(NO_START).parent} && printf '[Service]\\nExecStartPre=/bin/false\\n' > {NO_START}")
    host.run_test("systemctl daemon-reload")
    host.run_test("vtysh -c 'conf t' -c 'ip route 10.255.255.0/24 Null0'")  # something to reload
    converge = lab.ansible("playbooks/wan.yml", "--limit", county.name)
    assert converge.returncode != 0, f"the play passed while FRR could not run:\n{converge.stdout[-3000:]}"
    assert f"{county.name}: FRR does not run /etc/frr/frr.conf" in converge.stdout, converge.stdout[-3000:]
    assert not host.service("frr").is_running
