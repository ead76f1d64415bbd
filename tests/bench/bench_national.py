"""Benchmark: the national inventory through validate + allocate + render, and edits to it.

Prints figures against the targets of #19; asserts nothing (timing belongs here, not in tests).
Run with `make bench`. Takes about two minutes on the 2-core machine. Memory is the peak of the
resident memory summed over the whole process tree (the render workers too).

  cold             no cache of any kind: no model cache, no allocations.yml, no build, no record;
                   through `jinbao plan --render` and the bench's own path (build.apply_plan)
  nothing changed  the same again, and every verb that reads the model: digests decide
  +1 township      append one township to a province file, `jinbao plan --render` (three times)
  move             move the three added townships to another county and back (three times)
  -1 township      remove the townships again, `jinbao plan --render --prune` (three times)
  capacity         `jinbao capacity` over it: time and summary (lines below need, insured, need in all)
  ansible          the same FRR template through an ansible-playbook template task, a sample of hosts
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
from network import build
run = build.apply_plan(Path(sys.argv[1]), render=True)
assert run.refused is None, run.refused
print(len(run.rendered.written) + len(run.rendered.unchanged))
"""
GIB_KIB = 1024 * 1024


def row(name: str, seconds: float, rss_kib: int | None, target: str, ok: bool | None, note: str = "") -> None:
    memory = f"{rss_kib / 1024:8.0f} MiB" if rss_kib is not None else " " * 12
    verdict = "" if ok is None else ("meets target" if ok else "MISSES target")
    print(f"  {name:<38} {seconds:8.2f} s {memory}   {target:<22} {verdict} {note}")


TRASH = REPO / "build" / "bench-trash"


def cold() -> None:
    """No cache of any kind: no model cache, no allocations.yml, no build, no render record.

    The last build is moved aside, not deleted: deleting 41,804 files makes this disk slow for
    seconds afterwards (ext4's online discard), which the timed run would pay. It goes at the end."""
    shutil.rmtree(NATIONAL / ".cache", ignore_errors=True)
    (NATIONAL / "allocations.yml").unlink(missing_ok=True)
    build = REPO / "build" / "configs" / "national"
    if build.exists():
        TRASH.mkdir(parents=True, exist_ok=True)
        build.rename(TRASH / f"national-{time.time_ns()}")


def jinbao(*args: str) -> list[str]:
    return [str(BIN / "jinbao"), *args]


def median_of_three(argv: list[str], before) -> tuple[float, int, str, list[float]]:
    runs = []
    for n in range(3):
        before(n)
        runs.append(measure(argv))
    times = [r[0] for r in runs]
    elapsed, rss, out = sorted(runs, key=lambda r: r[0])[1]
    return elapsed, rss, out, times


def bench_national() -> float:
    if not (NATIONAL / "sites").is_dir():
        elapsed, _, _ = measure(jinbao("generate", str(NATIONAL)))
        row("generate national inventory", elapsed, None, "", None)
    full = [sys.executable, "-c", FULL_RUN, str(NATIONAL)]
    cold()
    elapsed, rss, out = measure(jinbao("plan", str(NATIONAL), "--render", "--json"))
    devices = len(json.loads(out)["render"]["written"])
    within = elapsed <= 15 and rss <= GIB_KIB
    row(f"cold: jinbao plan --render ({devices} dev)", elapsed, rss, "<= 15 s, <= 1024 MiB", within)
    cold()
    elapsed, rss, out = measure(full)
    row(
        "cold: the bench's path (build.apply_plan)",
        elapsed,
        rss,
        "<= 15 s, <= 1024 MiB",
        elapsed <= 15 and rss <= GIB_KIB,
    )
    per_device = elapsed / int(out.strip())

    print("  nothing changed (digests decide, nothing is rendered):")
    elapsed, rss, _ = measure(full)
    row("  the bench's path", elapsed, rss, "<= 3 s", elapsed <= 3)
    for verb in (["validate"], ["plan"], ["plan", "--check"], ["plan", "--render"], ["render"]):
        elapsed, rss, out = measure(jinbao(verb[0], str(NATIONAL), *verb[1:], "--json"))
        report = json.loads(out.splitlines()[-1])
        rendered = report.get("render") or (report if verb[0] == "render" else None)
        note = f"({len(rendered['written'])} configs written)" if rendered else ""
        row(f"  jinbao {' '.join(verb)}", elapsed, rss, "<= 3 s", elapsed <= 3, note)

    zhejiang = NATIONAL / "sites" / "zhejiang.yml"
    original = zhejiang.read_text()
    plan = jinbao("plan", str(NATIONAL), "--render", "--prune", "--json")
    try:  # three townships, each added to the plan the previous one left; the median counts
        added = [original]

        def add(n: int) -> None:
            added.append(added[-1] + NEW_TOWNSHIP.replace("t999", f"t99{n}"))
            zhejiang.write_text(added[-1])

        elapsed, rss, out, times = median_of_three(plan, add)
        note = f"(median of {', '.join(f'{t:.2f}' for t in times)} s; {_rendered(out)})"
        row("+1 township: plan --render", elapsed, rss, "<= 1 s", elapsed <= 1, note)

        def move(n: int) -> None:  # the three added townships to the next county, and back, and again
            text = zhejiang.read_text()
            county, other = ("zj-c03-x02", "zj-c03-x01") if n % 2 == 0 else ("zj-c03-x01", "zj-c03-x02")
            for added_id in ("zj-c03-x02-t990", "zj-c03-x02-t991", "zj-c03-x02-t992"):
                start = text.index(f"  - {{id: {added_id},")
                end = text.find("\n  - {", start + 1)
                end = len(text) if end == -1 else end
                chunk = text[start:end].replace(f"parent: {county},", f"parent: {other},")
                text = text[:start] + chunk + text[end:]
            zhejiang.write_text(text)

        elapsed, rss, out, times = median_of_three(plan, move)
        note = f"(median of {', '.join(f'{t:.2f}' for t in times)} s; {_rendered(out)})"
        row("move 3 townships: plan --render", elapsed, rss, "<= 5 s", elapsed <= 5, note)

        def remove(n: int) -> None:  # the newest township first
            text, slug = zhejiang.read_text(), f"zj-c03-x02-t99{2 - n}"
            start = text.index(f"  - {{id: {slug},")
            end = text.find("\n  - {", start + 1)
            zhejiang.write_text(text[:start] + (text[end + 1 :] if end != -1 else ""))

        elapsed, rss, out, times = median_of_three(plan, remove)
        note = f"(median of {', '.join(f'{t:.2f}' for t in times)} s; {_rendered(out)})"
        row("-1 township: plan --render --prune", elapsed, rss, "<= 5 s", elapsed <= 5, note)
    finally:
        zhejiang.write_text(original)
    return per_device


def _rendered(out: str) -> str:
    report = json.loads(out)
    render = report["render"]
    return (
        f"{len(report['changes'])} allocations, {len(render['written'])} configs written, "
        f"{len(render['removed'])} removed"
    )


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
        f"({'meets' if ratio >= 1000 else 'MISSES'} the >= 1000x target)"
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
    try:
        per_device = bench_national()
        bench_capacity()
        bench_ansible(per_device)
    finally:
        shutil.rmtree(TRASH, ignore_errors=True)


if __name__ == "__main__":
    main()
