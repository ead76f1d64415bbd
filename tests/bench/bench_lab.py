"""Lab benchmark: figures printed, not asserted (targets from issue #3).

    lab up, cold image cache   debootstrap + every Dockerfile + containers
    lab up, warm image cache   containers only
    lab up again               the no-op on a running lab
    converge from zero         playbooks/site.yml on fresh containers   (target ≤ 10 min)
    converge again             the idempotent re-run                    (target ≤ 2 min)
    audit                      jinbao audit of every lab router, drift + level-3 rules (target ≤ 15 s)
    audit with servers         ... and the servers through the playbooks in check mode

It tears the lab down and removes the jinbao/* images (unless --warm-only), and leaves the
lab up and converged. Usage: python tests/bench/bench_lab.py [inventories/lab] [--warm-only]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def timed(label: str, argv: list[str]) -> float:
    started = time.perf_counter()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}  # absolute: Ansible's command tasks run jinbao
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{label} failed ({' '.join(argv)}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    print(f"  {label:<28} {seconds:7.1f} s", flush=True)
    return seconds


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    env = args[0] if args else "inventories/lab"
    warm_only = "--warm-only" in sys.argv
    jinbao = [str(BIN / "jinbao"), "lab"]
    converge = [str(BIN / "ansible-playbook"), "-i", env, "playbooks/site.yml"]
    figures = {}
    print(f"lab benchmark, {env}")
    subprocess.run([*jinbao, "down", env], cwd=ROOT, capture_output=True, check=True)
    if not warm_only:
        listing = ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "jinbao/*"]
        tags = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()
        if tags:
            subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True, check=True)
        figures["cold"] = timed("lab up, cold image cache", [*jinbao, "up", env])
        figures["converge"] = timed("converge from zero", converge)
        figures["rerun"] = timed("converge again", converge)
        subprocess.run([*jinbao, "down", env], cwd=ROOT, capture_output=True, check=True)
    figures["warm"] = timed("lab up, warm image cache", [*jinbao, "up", env])
    figures["noop"] = timed("lab up again (no-op)", [*jinbao, "up", env])
    figures["converge_warm"] = timed("converge from zero", converge)
    figures["rerun_warm"] = timed("converge again", converge)
    figures["audit"] = timed("audit of every router", [str(BIN / "jinbao"), "audit", env, "--no-servers"])
    timed("audit, routers and servers", [str(BIN / "jinbao"), "audit", env])
    worst_converge = max(v for k, v in figures.items() if k.startswith("converge"))
    worst_rerun = max(v for k, v in figures.items() if k.startswith("rerun"))
    print(
        f"targets: converge ≤ 600 s: {'ok' if worst_converge <= 600 else 'MISSED'} ({worst_converge:.0f} s); "
        f"re-run ≤ 120 s: {'ok' if worst_rerun <= 120 else 'MISSED'} ({worst_rerun:.0f} s); "
        f"audit ≤ 15 s: {'ok' if figures['audit'] <= 15 else 'MISSED'} ({figures['audit']:.1f} s)"
    )


if __name__ == "__main__":
    main()
