"""Benchmark: the national inventory with its ~490,000 villages through validate + allocate + render.

Prints figures; asserts nothing. Run with `make bench-villages`: a row of its own, not part of
`make bench`, because the villages make every national run about twice as long. The inventory is
generated into build/national-villages (the national plan and group_vars copied), never into
inventories/national.

  generate      `jinbao generate --villages`
  cold          no cache, no allocations.yml, no build: everything from scratch
  warm          the same again: per-file model cache, allocations current, files unchanged
  +1 village    append one village to a province's villages file, `jinbao plan --render`
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from bench_national import BIN, FULL_RUN, NATIONAL, REPO, measure, row

ENV = REPO / "build" / "national-villages"
NEW_VILLAGE = "  - {id: zj-c03-x02-t001-v999, slug: zj-c03-x02-t001-v999, name: 新村, tier: village,\n"
NEW_VILLAGE += "     parent: zj-c03-x02-t001, posts: 1}\n"


def main() -> None:
    print(f"jinbao-net national benchmark with villages ({os.cpu_count()} CPUs)")
    shutil.rmtree(ENV, ignore_errors=True)
    shutil.rmtree(REPO / "build" / "configs" / ENV.name, ignore_errors=True)
    ENV.mkdir(parents=True)
    shutil.copy(NATIONAL / "addressing.yml", ENV / "addressing.yml")
    shutil.copytree(NATIONAL / "group_vars", ENV / "group_vars")
    elapsed, rss, out = measure([str(BIN / "jinbao"), "generate", str(ENV), "--villages"])
    counts = " ".join(out.split(": ", 1)[-1].split()).rsplit(" in ", 1)[0]
    row("generate --villages", elapsed, rss, "", None, f"({counts})")
    full = [sys.executable, "-c", FULL_RUN, str(ENV)]
    elapsed, rss, out = measure(full)
    villages = sum(1 for key in _allocated_regions() if "/villages-" in key)
    row(f"cold validate+allocate+render ({int(out)} dev)", elapsed, rss, "", None, f"({villages} village blocks)")
    elapsed, rss, _ = measure(full)
    row("warm (cache, nothing changed)", elapsed, rss, "", None)
    zhejiang = ENV / "sites" / "zhejiang-villages.yml"
    original = zhejiang.read_text()
    try:
        zhejiang.write_text(original + NEW_VILLAGE)
        elapsed, rss, out = measure([str(BIN / "jinbao"), "plan", str(ENV), "--render", "--json"])
        report = json.loads(out)
        note = f"({len(report['changes'])} allocations, {len(report['render']['written'])} configs)"
        row("+1 village: plan --render", elapsed, rss, "", None, note)
    finally:
        zhejiang.write_text(original)


def _allocated_regions() -> list[str]:
    sys.path.insert(0, str(REPO))
    from network import ipam

    return list(ipam.read(ENV).regions)


if __name__ == "__main__":
    main()
