"""Benchmark: the national inventory through validate + allocate + render, and one township more.

Prints figures against the targets; asserts nothing (timing belongs here, not in tests).
Run with `make bench`. Takes about two minutes on the 2-core machine.

  cold          no cache, no allocations.yml, no build: everything from scratch
  warm          the same again: per-file model cache, allocations current, files unchanged
  +1 township   append one township to a province file, `jinbao plan --render`
  capacity      `jinbao capacity` over it: time and summary (lines below need, insured, need in all)
  ansible       the same FRR template through an ansible-playbook template task, a sample of hosts
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NATIONAL = REPO / "inventories" / "national"
BIN = Path(sys.executable).parent
SAMPLE = int(os.environ.get("JINBAO_BENCH_SAMPLE", "40"))

NEW_TOWNSHIP = """  - {id: zj-c03-x02-t999, slug: zj-c03-x02-t999, name: 新设乡镇, tier: township,
     parent: zj-c03-x02, posts: 6,
     devices: [{name: r1, role: access, platform: huawei_vrp}],
     uplinks: [{carrier: china-telecom, type: mstp, bandwidth: 10M},
     {carrier: china-mobile, type: 4g, bandwidth: 20M}]}
"""


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants (the render workers), from /proc."""
    total, stack, page_kib = 0, [pid], os.sysconf("SC_PAGE_SIZE") // 1024
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as fh:
                total += int(fh.read().split()[1]) * page_kib
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    stack.extend(int(child) for child in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def measure(argv: list[str]) -> tuple[float, int, str]:
    """Wall time, peak resident memory of the whole process tree (KiB), stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({process.returncode}):\n{stderr}")
    return elapsed, peak, stdout


FULL_RUN = """
import sys
from pathlib import Path
from network import ipam
from network.ipam import incremental
from network.ipam.store import dumps
from network.model import load
from network.render import Renderer, load_secrets
env = Path(sys.argv[1])
network = load(env)
plan = ipam.allocate(network, ipam.read(env))
ipam.write(env, plan.allocations)
incremental.remember(network, dumps(plan.allocations))  # as `jinbao plan` does
result = Renderer(network, plan.allocations, load_secrets(env)).render_all(Path("build/configs") / env.name)
print(len(result.written) + len(result.unchanged))
"""


def row(name: str, seconds: float, rss_kib: int | None, target: str, ok: bool | None, note: str = "") -> None:
    memory = f"{rss_kib / 1024:8.0f} MiB" if rss_kib is not None else " " * 12
    verdict = "" if ok is None else ("meets target" if ok else "MISSES target")
    print(f"  {name:<34} {seconds:8.2f} s {memory}   {target:<22} {verdict} {note}")


def bench_national() -> float:
    if not (NATIONAL / "sites").is_dir():
        elapsed, _, _ = measure([str(BIN / "jinbao"), "generate", str(NATIONAL)])
        row("generate national inventory", elapsed, None, "", None)
    shutil.rmtree(NATIONAL / ".cache", ignore_errors=True)
    (NATIONAL / "allocations.yml").unlink(missing_ok=True)
    shutil.rmtree(REPO / "build" / "configs" / "national", ignore_errors=True)
    full = [sys.executable, "-c", FULL_RUN, str(NATIONAL)]
    elapsed, rss, out = measure(full)
    devices = int(out.strip())
    row(
        f"cold validate+allocate+render ({devices} dev)",
        elapsed,
        rss,
        "<= 60 s, <= 2048 MiB",
        elapsed <= 60 and rss <= 2 * 1024 * 1024,
    )
    per_device = elapsed / devices
    elapsed, rss, _ = measure(full)
    row("warm (cache, nothing changed)", elapsed, rss, "", None)

    zhejiang = NATIONAL / "sites" / "zhejiang.yml"
    original = zhejiang.read_text()
    runs = []
    try:  # three different townships, each added to the plan the previous one left; the median counts
        added = original
        for n in range(3):
            added += NEW_TOWNSHIP.replace("t999", f"t99{n}")
            zhejiang.write_text(added)
            elapsed, rss, out = measure([str(BIN / "jinbao"), "plan", str(NATIONAL), "--render", "--json"])
            report = json.loads(out)
            runs.append((elapsed, rss, len(report["changes"]), len(report["render"]["written"])))
    finally:
        zhejiang.write_text(original)
    elapsed, rss, changes, written = sorted(runs)[1]
    note = f"(median of {', '.join(f'{r[0]:.2f}' for r in runs)} s; {changes} allocations, {written} configs each)"
    row("+1 township: plan --render", elapsed, rss, "<= 2 s", elapsed <= 2, note)
    elapsed, rss, out = measure([str(BIN / "jinbao"), "plan", str(NATIONAL), "--render", "--json"])
    row("-1 township: plan --render (full)", elapsed, rss, "", None, "(a removal re-renders all)")
    return per_device


def bench_ansible(per_device_jinbao: float) -> None:
    """The FRR template through ansible.builtin.template for a sample of FRR routers."""
    sys.path.insert(0, str(REPO))
    from network import ipam
    from network.model import load
    from network.render import RenderIndex, device_context

    network = load(NATIONAL)
    index = RenderIndex.build(network, ipam.read(NATIONAL))
    sample = [(s, d) for s, d in network.iter_devices() if d.platform == "frr"][:SAMPLE]
    with tempfile.TemporaryDirectory() as tmp:
        hosts = {network.hostname(s, d.name): device_context(index, s, d) for s, d in sample}
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {"all": {"hosts": hosts, "vars": local}}
        (Path(tmp) / "inventory.json").write_text(json.dumps(inventory))
        (Path(tmp) / "ansible.cfg").write_text("[defaults]\nforks = 5\n")
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(Path(tmp) / "ansible.cfg"),
            "ANSIBLE_INVENTORY_ENABLED": "yaml",
            "BENCH_OUT": str(Path(tmp) / "out"),
            "BENCH_TEMPLATE": str(REPO / "network/templates/frr/device.j2"),
        }
        argv = [
            str(BIN / "ansible-playbook"),
            "-i",
            str(Path(tmp) / "inventory.json"),
            str(REPO / "tests/bench/ansible_template.yml"),
        ]
        started = time.perf_counter()
        result = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"ansible-playbook failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
        rendered = len(list((Path(tmp) / "out").glob("*.conf")))
    per_host = elapsed / max(rendered, 1)
    row(f"ansible template task ({rendered} hosts)", elapsed, None, "", None, f"{per_host * 1000:.0f} ms/host")
    ratio = per_host / per_device_jinbao
    print(
        f"  jinbao renders {1 / per_device_jinbao:,.0f} devices/s; ansible {1 / per_host:,.1f} hosts/s: {ratio:,.0f}x "
        f"({'meets' if ratio >= 50 else 'MISSES'} the >= 50x aim)"
    )


def bench_capacity() -> None:
    """`jinbao capacity` over the national inventory: its time, and its summary (docs/capacity.md)."""
    started = time.perf_counter()
    argv = [str(BIN / "jinbao"), "capacity", str(NATIONAL), "--json"]
    process = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if process.returncode not in (0, 1):  # 1: a line below need, which the summary counts
        raise SystemExit(f"{' '.join(argv)} failed ({process.returncode}):\n{process.stderr}")
    summary = json.loads(process.stdout)["summary"]
    note = (
        f"({summary['lines']} lines, {summary['below']} below need, {summary['backups_below']} backups below the "
        f"township minimum; {summary['insured']:,} insured, {summary['need_kbps'] / 1e6:,.1f} Gbit/s in all)"
    )
    row("capacity (national)", elapsed, None, "", None, note)


def main() -> None:
    print(f"jinbao-net national benchmark ({os.cpu_count()} CPUs)")
    per_device = bench_national()
    bench_capacity()
    bench_ansible(per_device)


if __name__ == "__main__":
    main()
