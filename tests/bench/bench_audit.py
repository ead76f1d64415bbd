"""Audit throughput against many SSH endpoints: figures printed, not asserted (issue #4:
target ≥ 50 devices/s).

Replayed Huawei VRP and H3C Comware devices (tests/replay/server.py, real SSH, each serving
a stored config of the golden multivendor case) listen on loopback addresses 127.0.1.x and
127.0.2.x; `network.audit.audit` then audits all of them as `jinbao audit` does: fetch over
napalm-huawei-vrp / netmiko hp_comware, drift against the intended config, the level-3
rules. The servers run in processes of their own, so the figure is the client's.

Usage: python tests/bench/bench_audit.py [devices-per-platform] [workers]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "unit")]

from network import audit, compliance  # noqa: E402
from network.drivers import Target  # noqa: E402

CONFIGS = ROOT / "tests" / "golden" / "render" / "multivendor" / "expected" / "configs"
PLATFORMS = {"huawei_vrp": "127.0.1", "h3c_comware": "127.0.2"}
PORT = 8022


def contexts() -> dict[str, dict]:
    import tempfile

    from conftest import copy_inventory

    from network import ipam
    from network.model import load
    from network.render import Renderer, load_secrets

    env = copy_inventory(CONFIGS.parents[1] / "inventory", Path(tempfile.mkdtemp()) / "inv")
    network = load(env, cache=False)
    plan = ipam.allocate(network, ipam.Allocations())
    renderer = Renderer(network, plan.allocations, load_secrets(env))
    return renderer.contexts([network.hostname(s, d.name) for s, d in network.iter_devices()])


def admin_password() -> str:
    """The vault's: a replayed device logs in its accounts by the passwords its config sets."""
    from network.render import load_secrets

    return load_secrets(CONFIGS.parents[1] / "inventory").password("netadmin")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    ctx = contexts()
    targets, intended, device_contexts, servers = [], {}, {}, []
    password = admin_password()
    for platform, prefix in PLATFORMS.items():
        # devices whose site has collectors: they comply without waivers
        own = sorted(h for h, c in ctx.items() if c["platform"] == platform and c["syslog"] and c["ntp"])
        configs = Path(f"/tmp/jinbao-bench-{platform}")
        configs.mkdir(exist_ok=True)
        for name in own:
            (configs / f"{name}.cfg").write_text((CONFIGS / f"{name}.cfg").read_text())
        listen = f"{prefix}.1-{prefix}.{count}:{PORT}"
        command = [sys.executable, str(ROOT / "tests" / "replay" / "server.py"), "--platform", platform]
        server = subprocess.Popen(
            [*command, "--configs", str(configs), "--listen", listen],
            stdout=subprocess.PIPE,
            text=True,
        )
        servers.append(server)
        assert server.stdout.readline().startswith("ready"), f"the {platform} replay servers did not start"
        for i in range(count):
            source = own[i % len(own)]  # server.py serves sorted configs in turn
            name = f"{source}#{i}"
            targets.append(Target(name, platform, f"{prefix}.{i + 1}", "netadmin", password, {"port": PORT}))
            intended[name] = (CONFIGS / f"{source}.cfg").read_text()
            device_contexts[name] = ctx[source]
    policy = audit.Policy(compliance.load_rules(), [], device_contexts)
    try:
        started = time.perf_counter()
        results = audit.audit(targets, intended, policy, workers=workers, timeout=30)
        seconds = time.perf_counter() - started
    finally:
        for server in servers:
            server.terminate()
    failed = [r for r in results if r.error]
    print(f"  audited {len(results)} replayed devices ({', '.join(PLATFORMS)}) with {workers} workers")
    print(f"  {seconds:7.1f} s   {len(results) / seconds:6.1f} devices/s   (target ≥ 50 devices/s)")
    print(f"  clean {sum(r.clean for r in results)}, failed {len(failed)}", flush=True)
    for r in [r for r in results if not r.clean][:5]:
        print(f"    {r.hostname}: {r.error[:200]} {r.drift} {r.noncompliant}")
    if failed or not all(r.clean for r in results):
        sys.exit("some replayed devices did not audit clean: the figure above is not valid")


if __name__ == "__main__":
    main()
