"""Runs on a township's router (python3 -c, stdlib only): a clerk's write load for a DR drill.

Argument: one JSON object
  name       "web.<zone>"           the web tier, asked by name for every write
  servers    ["a.b.c.d", ...]       the name servers to ask, in order (the DC's, then the DR's)
  source     "a.b.c.d"              the township's LAN address: every packet leaves from it
  cafile     path                   the web tier's certificates: the chain and the name are checked
  certfile, keyfile                 the clerk's client certificate and key (writes need the clerk role)
  prefix     "drill-...-"           request ids are <prefix><n>; resident IDs from `first` on
  first, township                   the enrolled persons' resident ID serials and township
  writes, seconds, timeout          at most `writes` request ids, `seconds` in all, per attempt
  log, stop                         the attempts log it appends to; a file whose presence stops it

One write is one enrollment (POST /api/v1/enrollments) with its own request id; a write not
acknowledged is sent again with the same request id (the application answers a replay with 200
and writes nothing), so an acknowledgement is always one write. Writes are spread evenly over
`seconds`. `web.<zone>` is asked of the name servers before every attempt, a tiny A query over
UDP with no cache: a name moved by the DR playbooks is followed at once (real clients keep the
record's 30 s TTL). One JSON line per attempt: id, start, end, status (HTTP status or why none
came), address (asked, when the name resolved).
"""

import http.client
import json
import os
import random
import socket
import ssl
import struct
import sys
import time

ACKNOWLEDGED = ("200", "201")


def _skip_name(data, offset):
    while data[offset]:
        if data[offset] & 0xC0 == 0xC0:
            return offset + 2
        offset += 1 + data[offset]
    return offset + 1


def answers(reply, ident):
    """The A records of a DNS reply to query `ident` ([] for an error or another query's reply)."""
    rid, flags, questions, count, _, _ = struct.unpack("!HHHHHH", reply[:12])
    if rid != ident or not flags & 0x8000 or flags & 0x000F:
        return []
    offset = 12
    for _ in range(questions):
        offset = _skip_name(reply, offset) + 4
    found = []
    for _ in range(count):
        offset = _skip_name(reply, offset)
        rtype, _, _, length = struct.unpack("!HHIH", reply[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            found.append(socket.inet_ntoa(reply[offset : offset + 4]))
        offset += length
    return found


def query(name, server, source, timeout=1.0):
    ident = random.randrange(65536)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    packet = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.sendto(packet, (server, 53))
        return answers(sock.recv(4096), ident)


def resolve(name, servers, source):
    """The first answer of the first name server that gives one; None when none does."""
    for server in servers:
        try:
            found = query(name, server, source)
        except OSError:
            continue
        if found:
            return found[0]
    return None


def resident_id(serial):
    """A well-formed 18-digit resident ID (GB 11643: region, birth date, serial, check digit)."""
    region, rest = divmod(serial, 28_000)
    body = f"33{region % 10_000:04d}199001{rest // 1_000 + 1:02d}{rest % 1_000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def post(cfg, context, address, body):
    """POST the write to `address`, the certificate checked against the name; the HTTP status."""
    sock = socket.create_connection((address, 443), cfg["timeout"], (cfg["source"], 0))
    conn = http.client.HTTPSConnection(cfg["name"], 443, timeout=cfg["timeout"])
    conn.sock = context.wrap_socket(sock, server_hostname=cfg["name"])
    try:
        headers = {"Content-Type": "application/json", "X-Request-Id": body["request_id"]}
        conn.request("POST", "/api/v1/enrollments", json.dumps(body), headers)
        response = conn.getresponse()
        response.read()
        return str(response.status)
    finally:
        conn.close()


def attempt(cfg, context, body):
    address = resolve(cfg["name"], cfg["servers"], cfg["source"])
    if address is None:
        return "dns", ""
    try:
        return post(cfg, context, address, body), address
    except TimeoutError:
        return "timeout", address
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, address


def finished(cfg, started, sent, pending):
    if time.time() - started >= cfg["seconds"] or os.path.exists(cfg["stop"]):
        return True
    return pending is None and sent >= cfg["writes"]


def main():
    cfg = json.loads(sys.argv[1])
    context = ssl.create_default_context(cafile=cfg["cafile"])
    context.load_cert_chain(cfg["certfile"], cfg["keyfile"])
    interval = cfg["seconds"] / max(cfg["writes"], 1)
    started, sent, pending = time.time(), 0, None
    with open(cfg["log"], "a", buffering=1) as log:
        while not finished(cfg, started, sent, pending):
            if pending is None:
                sent += 1
                pending = {
                    "request_id": f"{cfg['prefix']}{sent:05d}",
                    "id_number": resident_id(cfg["first"] + sent),
                    "name": "drill",
                    "township": cfg["township"],
                }
            begin = time.time()
            status, address = attempt(cfg, context, pending)
            end = time.time()
            line = {"id": pending["request_id"], "start": begin, "end": end, "status": status, "address": address}
            log.write(json.dumps(line) + "\n")
            if status in ACKNOWLEDGED:
                pending = None
            time.sleep(max(0.0, interval - (end - begin)))


if __name__ == "__main__":
    main()
