"""Runs inside a lab node (python3 -c, stdlib only): give its links the model's names and
addresses, and let the lab's automation account in. Idempotent; prints what it changed.

Argument: one JSON object, either
  links     {mac: ifname}              interfaces by the MAC Docker gave them
  management "eth0"                    the management interface: Docker's address stays
  plumbing  "198.18.0.0/15"            Docker's throwaway addresses, removed from links
  addresses {ifname: "a.b.c.d/len"}    servers only: routers configure their own
  gateway   "a.b.c.d" | null           servers only: default route
  disable   ["unit", ...]              units the node must not run (stopped and disabled)
  user, key                            the automation account and its public key
or, before Docker takes the running node off networks (see release):
  drop      [mac, ...]                 the departing links
  keep      [mac, ...]                 links Docker gave their names and main() keeps (management)
"""

import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def ip(*args):
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def read(path):
    with open(path) as fh:
        return fh.read()


def links():
    """Docker's links (veth) by MAC; a firewall's bridges share their ports' MACs and are not links."""
    shown = json.loads(ip("-j", "-d", "link", "show"))
    return {i["address"]: i for i in shown if i.get("linkinfo", {}).get("info_kind") == "veth"}


def addresses(name):
    shown = json.loads(ip("-j", "-4", "addr", "show", "dev", name))  # [] when it has no IPv4 address
    return [f"{a['local']}/{a['prefixlen']}" for entry in shown for a in entry.get("addr_info", [])]


def boot_stalled():
    """Boot jobs queued and not one of them running."""
    jobs = subprocess.run(["systemctl", "list-jobs", "--no-legend"], capture_output=True, text=True).stdout
    states = [line.split()[3] for line in jobs.splitlines() if len(line.split()) >= 4]
    return bool(states) and "running" not in states


def frr_active():
    return subprocess.run(["systemctl", "is-active", "--quiet", "frr"]).returncode == 0


# units to restart once the links are sorted or an address came back: sockets bound to
# addresses that went away, sshd's in-band listener (it skips an address missing at boot),
# the zone firewalls' bridges, whose ports are whatever the names were at boot, and the
# business system's listeners on the in-band address (PostgreSQL keeps only localhost when
# its address came late; gunicorn and nginx fail without it; named skips it)
SOCKET_HOLDERS = (
    "rsyslog", "chrony", "ssh", "jinbao-bridges", "postgresql@15-main", "pension-app", "nginx", "named",
)  # fmt: skip


def release(spec):
    """Before Docker takes this running node off networks (`drop`: their links' MACs).

    Docker removes the link by the name it gave it, but main() renamed the links by MAC, so
    that name may now belong to another network's link, which Docker would take instead.
    Take the departing links away here and move every other link off Docker's names
    (jbgo<n>); the next main() puts the names back, by MAC.
    """
    changes = []
    present = links()
    for n, (mac, link) in enumerate(sorted(present.items())):
        if mac in spec["keep"]:
            continue
        if mac in spec["drop"]:
            ip("link", "del", "dev", link["ifname"])
            changes.append(f"{link['ifname']}: link of a network it leaves removed")
        else:
            ip("link", "set", "dev", link["ifname"], "down")
            ip("link", "set", "dev", link["ifname"], "name", f"jbgo{n}")
    # a link already gone (main() found it stale before) needs nothing
    return {"changes": changes, "absent": sorted(set(spec["drop"]) - set(present))}


def sort_links(spec, changes):
    """Give every link its model name (by MAC); strip Docker's addresses; True if FRR's links were reset."""
    plumbing = ipaddress.ip_network(spec["plumbing"])
    by_mac = links()
    missing = sorted(set(spec["links"]) - set(by_mac))
    if missing:
        raise SystemExit(f"no interface with MAC {', '.join(missing)}")
    wanted = spec["links"]
    # Docker cannot take back a link it no longer finds by the name it gave (we renamed it):
    # when a node leaves a network the link stays behind, holding its name
    stale = [i["ifname"] for mac, i in by_mac.items() if mac not in wanted]
    for name in stale:
        ip("link", "del", "dev", name)
        changes.append(f"{name}: link of a network it left removed")
    link_names = [name for name in wanted.values() if name != spec["management"]]
    wrong = {mac: name for mac, name in wanted.items() if by_mac[mac]["ifname"] != name}
    docker_addresses = [
        (by_mac[mac]["ifname"], a)
        for mac, name in wanted.items()
        if name != spec["management"]
        for a in addresses(by_mac[mac]["ifname"])
        if ipaddress.ip_interface(a).ip in plumbing
    ]
    # Docker attaches networks in no fixed order when it restarts a node: FRR may then have
    # put addresses on the wrong interfaces. Stop it, start the links afresh, start it again.
    # A link only added or only taken away (a line onboarded or offboarded) holds none of
    # FRR's addresses: FRR, and the router's other adjacencies, are left alone.
    reset = bool(wrong or docker_addresses or stale)
    frr = frr_active()
    restart_frr = frr and bool(holding_frr(wrong, by_mac, plumbing))
    if restart_frr:
        subprocess.run(["systemctl", "stop", "frr"], check=True)
    renew_links(wrong, by_mac, link_names, docker_addresses if reset else None, frr and not restart_frr, changes)
    clean_management(spec, changes)
    for name in wanted.values():
        state = json.loads(ip("-j", "link", "show", "dev", name))[0]
        if "UP" not in state["flags"]:
            ip("link", "set", "dev", name, "up")
            changes.extend([] if reset else [f"{name} up"])
    return reset, restart_frr


def renew_links(wrong, by_mac, link_names, docker_addresses, keep_frr, changes):
    """Rename the links by MAC; with `docker_addresses` (None: nothing to strip) strip them: only
    those while FRR keeps running (before the renames, by the names they have now), else every
    address of the links (routers: FRR puts its own back; servers: see set_addresses)."""
    if docker_addresses is not None and keep_frr:
        for dev, address in docker_addresses:
            ip("addr", "del", address, "dev", dev)
    rename(wrong, by_mac, changes)
    if docker_addresses is not None and not keep_frr:
        for name in link_names:
            for address in addresses(name):
                ip("addr", "del", address, "dev", name)
    changes.extend(f"{dev}: docker address {a} removed" for dev, a in docker_addresses or [])


def holding_frr(wrong, by_mac, plumbing):
    """The wrongly named links that hold an address of FRR's (any but Docker's plumbing)."""
    return [
        by_mac[mac]["ifname"]
        for mac in wrong
        if any(ipaddress.ip_interface(a).ip not in plumbing for a in addresses(by_mac[mac]["ifname"]))
    ]


def rename(wrong, by_mac, changes):
    """Rename in two steps, so that swapping two names never collides."""
    for n, mac in enumerate(wrong):
        ip("link", "set", "dev", by_mac[mac]["ifname"], "down")
        ip("link", "set", "dev", by_mac[mac]["ifname"], "name", f"jbtmp{n}")
    for n, (mac, name) in enumerate(wrong.items()):
        ip("link", "set", "dev", f"jbtmp{n}", "name", name)
        changes.append(f"{by_mac[mac]['ifname']} -> {name}")


def clean_management(spec, changes):
    """The management interface carries Docker's management address only: after a restart FRR
    may have put a link's address on it while it still had that link's name."""
    for address in addresses(spec["management"]):
        if ipaddress.ip_interface(address).ip != ipaddress.ip_address(spec["management_address"]):
            ip("addr", "del", address, "dev", spec["management"])
            changes.append(f"{spec['management']}: stray {address} removed")


def set_addresses(spec, changes):
    """Servers: the model's address on each link and the default route; True if one was added."""
    added = False
    for name, address in spec.get("addresses", {}).items():
        have = addresses(name)
        for extra in set(have) - {address}:
            ip("addr", "del", extra, "dev", name)
            changes.append(f"{name}: {extra} removed")
        if address not in have:
            ip("addr", "add", address, "dev", name)
            changes.append(f"{name}: {address}")
            added = True
    if spec.get("gateway"):
        routes = json.loads(ip("-j", "-4", "route", "show", "default"))
        if [r.get("gateway") for r in routes] != [spec["gateway"]]:
            ip("route", "replace", "default", "via", spec["gateway"])
            changes.append(f"default via {spec['gateway']}")
    return added


def restore_resolvers(changes):
    """Docker writes its own /etc/resolv.conf when a container starts again; the baseline role
    keeps the node's (its DC's name servers) as /etc/resolv.conf.jinbao: put it back, in place
    (the file is a bind mount)."""
    kept = Path("/etc/resolv.conf.jinbao")
    if kept.exists() and Path("/etc/resolv.conf").read_text() != kept.read_text():
        Path("/etc/resolv.conf").write_text(kept.read_text())
        changes.append("resolv.conf restored")


def restart_socket_holders(changes):
    """Connections opened on the unsorted links (rsyslog's to the collector) may be bound to an
    address that is gone now and would retransmit into the void for a quarter hour."""
    for unit in SOCKET_HOLDERS:
        state = ["systemctl", "show", "-p", "ActiveState", "--value", unit]
        shown = subprocess.run(state, capture_output=True, text=True)
        # running, or failed (or retrying) for want of its address at boot; a stopped unit stays stopped
        if shown.stdout.strip() in ("active", "activating", "failed"):
            restarted = subprocess.run(["systemctl", "restart", unit], capture_output=True, text=True)
            changes.append(f"{unit} restarted" if restarted.returncode == 0 else f"{unit} failed to restart")


def disable_units(units, changes):
    """Units a node must not run (the internet probe runs none of the DC's management plane;
    snmpd's stock configuration would fail on IPv6 anyway)."""
    for unit in units:
        enabled = subprocess.run(["systemctl", "is-enabled", "--quiet", unit]).returncode == 0
        active = subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode == 0
        if enabled or active:
            subprocess.run(["systemctl", "disable", "--now", "--quiet", unit], check=True)
            changes.append(f"{unit} disabled")
        subprocess.run(["systemctl", "reset-failed", unit], capture_output=True)


def write_if_changed(path, text, mode):
    """Write `text` to `path` with `mode` unless it holds exactly that; True if written."""
    if os.path.exists(path) and read(path) == text:
        return False
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return True


def automation_account(user, key, changes):
    """The lab's automation account: exists, logs in with the lab's key, may sudo."""
    if subprocess.run(["id", user], capture_output=True).returncode:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
        changes.append(f"user {user}")
    keys = os.path.join(os.path.expanduser(f"~{user}"), ".ssh", "authorized_keys")
    os.makedirs(os.path.dirname(keys), mode=0o700, exist_ok=True)
    if write_if_changed(keys, key + "\n", 0o600):
        subprocess.run(["chown", "-R", f"{user}:{user}", os.path.dirname(keys)], check=True)
        changes.append("authorized key")
    if write_if_changed(f"/etc/sudoers.d/{user}", f"{user} ALL=(ALL) NOPASSWD: ALL\n", 0o440):
        changes.append("sudo")


def host_key(changes):
    """sshd's ed25519 host key, made by jinbao-sshkeys.service at first boot."""
    path = "/etc/ssh/ssh_host_ed25519_key.pub"
    for n in range(1200):  # two dozen nodes boot at once
        if os.path.exists(path) and os.path.getsize(path):
            return " ".join(read(path).split()[:2])
        if n and n % 100 == 0 and boot_stalled():
            # seen when many containers boot at once: systemd misses a mount event and its
            # boot jobs wait for each other with none running; a reload re-reads the mounts
            subprocess.run(["systemctl", "daemon-reload"], check=True)
            changes.append("stalled boot jobs released (daemon-reload)")
        time.sleep(0.1)
    raise SystemExit("sshd has no host key after 120 s")


def main(spec):
    if "drop" in spec:
        return release(spec)
    changes = []
    reset, restart_frr = sort_links(spec, changes)
    added = set_addresses(spec, changes)
    restore_resolvers(changes)
    if restart_frr:
        # pushes reload FRR too: a start refused for systemd's start limit is not a failed wiring
        subprocess.run(["systemctl", "reset-failed", "frr"], check=False)
        subprocess.run(["systemctl", "start", "frr"], check=True)
        changes.append("frr restarted on the wired links")
    if reset or added:
        restart_socket_holders(changes)
    disable_units(spec.get("disable", []), changes)
    automation_account(spec["user"], spec["key"], changes)
    return {"changes": changes, "hostkey": host_key(changes)}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
