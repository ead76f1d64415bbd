"""Runs inside a lab node (python3 -c, stdlib only): give its links the model's names and
addresses, and let the lab's automation account in. Idempotent; prints what it changed.

Argument: one JSON object
  links     {mac: ifname}              interfaces by the MAC Docker gave them
  management "eth0"                    the management interface: Docker's address stays
  plumbing  "198.18.0.0/15"            Docker's throwaway addresses, removed from links
  addresses {ifname: "a.b.c.d/len"}    servers only: routers configure their own
  gateway   "a.b.c.d" | null           servers only: default route
  disable   ["unit", ...]              units the node must not run (stopped and disabled)
  user, key                            the automation account and its public key
"""

import ipaddress
import json
import os
import subprocess
import sys
import time


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
# and the zone firewalls' bridges, whose ports are whatever the names were at boot
SOCKET_HOLDERS = ("rsyslog", "chrony", "ssh", "jinbao-bridges")


def main(spec):
    changes = []
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
    reset = bool(wrong or docker_addresses or stale)
    restart_frr = reset and frr_active()
    if restart_frr:
        subprocess.run(["systemctl", "stop", "frr"], check=True)
    # rename in two steps, so that swapping two names never collides
    for n, mac in enumerate(wrong):
        ip("link", "set", "dev", by_mac[mac]["ifname"], "down")
        ip("link", "set", "dev", by_mac[mac]["ifname"], "name", f"jbtmp{n}")
    for n, (mac, name) in enumerate(wrong.items()):
        ip("link", "set", "dev", f"jbtmp{n}", "name", name)
        changes.append(f"{by_mac[mac]['ifname']} -> {name}")
    if reset:
        for name in link_names:  # routers: FRR puts its own back; servers: see below
            for address in addresses(name):
                ip("addr", "del", address, "dev", name)
        changes.extend(f"{dev}: docker address {a} removed" for dev, a in docker_addresses)
    # the management interface carries Docker's management address only: after a restart FRR
    # may have put a link's address on it while it still had that link's name
    for address in addresses(spec["management"]):
        if ipaddress.ip_interface(address).ip != ipaddress.ip_address(spec["management_address"]):
            ip("addr", "del", address, "dev", spec["management"])
            changes.append(f"{spec['management']}: stray {address} removed")
    for name in wanted.values():
        state = json.loads(ip("-j", "link", "show", "dev", name))[0]
        if "UP" not in state["flags"]:
            ip("link", "set", "dev", name, "up")
            if not reset:
                changes.append(f"{name} up")

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
    if restart_frr:
        subprocess.run(["systemctl", "start", "frr"], check=True)
        changes.append("frr restarted on the wired links")
    if reset or added:
        # connections opened on the unsorted links (rsyslog's to the collector) may be bound to
        # an address that is gone now and would retransmit into the void for a quarter hour
        for unit in SOCKET_HOLDERS:
            if subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode == 0:
                subprocess.run(["systemctl", "restart", unit], check=True)
                changes.append(f"{unit} restarted")

    # units a node must not run (the internet probe runs none of the DC's management plane;
    # snmpd's stock configuration would fail on IPv6 anyway)
    for unit in spec.get("disable", []):
        enabled = subprocess.run(["systemctl", "is-enabled", "--quiet", unit]).returncode == 0
        active = subprocess.run(["systemctl", "is-active", "--quiet", unit]).returncode == 0
        if enabled or active:
            subprocess.run(["systemctl", "disable", "--now", "--quiet", unit], check=True)
            changes.append(f"{unit} disabled")
        subprocess.run(["systemctl", "reset-failed", unit], capture_output=True)

    user, key = spec["user"], spec["key"]
    if subprocess.run(["id", user], capture_output=True).returncode:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
        changes.append(f"user {user}")
    home = os.path.expanduser(f"~{user}")
    keys = os.path.join(home, ".ssh", "authorized_keys")
    if not os.path.exists(keys) or read(keys) != key + "\n":
        os.makedirs(os.path.dirname(keys), mode=0o700, exist_ok=True)
        with open(keys, "w") as fh:
            fh.write(key + "\n")
        subprocess.run(["chown", "-R", f"{user}:{user}", os.path.dirname(keys)], check=True)
        os.chmod(keys, 0o600)
        changes.append("authorized key")
    sudoers = f"/etc/sudoers.d/{user}"
    rule = f"{user} ALL=(ALL) NOPASSWD: ALL\n"
    if not os.path.exists(sudoers) or read(sudoers) != rule:
        with open(sudoers, "w") as fh:
            fh.write(rule)
        os.chmod(sudoers, 0o440)
        changes.append("sudo")

    hostkey = "/etc/ssh/ssh_host_ed25519_key.pub"
    for n in range(1200):  # made by jinbao-sshkeys.service at first boot (two dozen boot at once)
        if os.path.exists(hostkey) and os.path.getsize(hostkey):
            break
        if n and n % 100 == 0 and boot_stalled():
            # seen when many containers boot at once: systemd misses a mount event and its
            # boot jobs wait for each other with none running; a reload re-reads the mounts
            subprocess.run(["systemctl", "daemon-reload"], check=True)
            changes.append("stalled boot jobs released (daemon-reload)")
        time.sleep(0.1)
    else:
        raise SystemExit("sshd has no host key after 120 s")
    print(json.dumps({"changes": changes, "hostkey": " ".join(read(hostkey).split()[:2])}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
