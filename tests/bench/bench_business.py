"""Business-system benchmark on a converged lab: figures printed, not asserted.

    writes through the web tier   enrollments from a township clerk (the township router, from
                                  its LAN address) through web1 -> app1 -> db1, bounded in
                                  count and time, a few at a time
    backup, full                  pgBackRest's full backup on the backup host, with its record
    restore test                  playbooks/restore-test.yml: restore, compare, write the result

Lab addresses only. Usage: python tests/bench/bench_business.py [inventories/lab]
[--writes N] [--seconds S] [--clients C]
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT / "tests" / "lab"), str(ROOT / "tests" / "bench")]

from bench_lab import timed  # noqa: E402
from conftest import Lab  # noqa: E402  (the lab tests' own view of the lab)
from test_business import CA_ON_CLERK, CERT_ON_CLERK, KEY_ON_CLERK, Clerk, resident_id  # noqa: E402

# Runs on the clerk's router: `clients` threads enroll new persons until `writes` are
# acknowledged or `seconds` have passed; prints acknowledged, failed and elapsed as JSON.
LOAD = r"""
import http.client, json, ssl, sys, threading, time, uuid
address, source, zone, cafile, certfile, keyfile, writes, seconds, clients, first = sys.argv[1:11]
writes, seconds, clients, first = int(writes), float(seconds), int(clients), int(first)
ids = [l.strip() for l in sys.stdin if l.strip()]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False  # the address is asked, not the name: the chain is still verified
ctx.load_cert_chain(certfile, keyfile)  # the clerk's: a write needs it
lock, done, failed, nxt, why = threading.Lock(), [0], [0], [0], {}
start = time.monotonic()
def worker():
    conn = http.client.HTTPSConnection(address, 443, context=ctx, timeout=10, source_address=(source, 0))
    while time.monotonic() - start < seconds:
        with lock:
            if nxt[0] >= min(writes, len(ids)):
                return
            i = nxt[0]; nxt[0] += 1
        body = json.dumps({"request_id": str(uuid.uuid4()), "id_number": ids[i], "name": "bench", "township": "bench"})
        try:
            headers = {"Content-Type": "application/json", "Host": "web." + zone}
            conn.request("POST", "/api/v1/enrollments", body, headers)
            r = conn.getresponse(); r.read()
            ok, status = r.status == 201, str(r.status)
        except Exception as exc:
            conn.close(); ok, status = False, type(exc).__name__
        with lock:
            (done if ok else failed)[0] += 1
            if not ok:
                why[status] = why.get(status, 0) + 1
threads = [threading.Thread(target=worker) for _ in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps({"acknowledged": done[0], "failed": failed[0], "why": why, "seconds": time.monotonic() - start}))
"""


def load(lab: Lab, writes: int, seconds: float, clients: int) -> dict:
    clerk = Clerk(lab)
    first = random.randrange(10**8)  # a fresh block of resident IDs: none enrolled yet
    ids = "\n".join(resident_id(first + i) for i in range(writes))
    argv = [clerk.web, clerk.source, clerk.zone, CA_ON_CLERK, CERT_ON_CLERK, KEY_ON_CLERK]
    argv += [str(writes), str(seconds), str(clients), str(first)]
    command = f"printf %s {shlex.quote(ids)} | python3 -c {shlex.quote(LOAD)} {shlex.join(argv)}"
    out = clerk.host.check_output(command)
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env", nargs="?", default="inventories/lab")
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    lab = Lab(ROOT / args.env)
    print(f"business-system benchmark, {args.env}")
    figures = load(lab, args.writes, args.seconds, args.clients)
    rate = figures["acknowledged"] / figures["seconds"] if figures["seconds"] else 0.0
    print(
        f"  {'writes through the web tier':<34} {rate:7.1f} /s  ({figures['acknowledged']} acknowledged, "
        f"{figures['failed']} failed {figures['why'] or ''}, {figures['seconds']:.1f} s, "
        f"{args.clients} clients from a township)"
    )
    backup = next(
        lab.network.hostname(s, h.name) for s in lab.network.sites.values() for h in s.hosts if h.role == "backup"
    )
    ansible = [str(BIN / "ansible"), "-i", args.env, backup, "-b", "--become-user", "pgbackrest", "-m", "command"]
    timed("backup, full (pgBackRest)", [*ansible, "-a", "/usr/local/sbin/jinbao-backup full"])
    timed(
        "restore test (restore, compare)", [str(BIN / "ansible-playbook"), "-i", args.env, "playbooks/restore-test.yml"]
    )


if __name__ == "__main__":
    main()
