"""DR drill benchmark on a converged lab: figures printed, not asserted.

Three drills of each kind (`jinbao dr drill <env> --kind switchover|failover --json`), each with
its reports under build/dr/<env>/ and a line in drills.jsonl; prints RTO min/median/max and the
acknowledged writes lost per kind. Targets (issue #16): switchover RTO <= 30 s, failover RTO
<= 60 s, 0 acknowledged writes lost in synchronous mode.

Usage: python tests/bench/bench_dr.py [inventories/lab] [--drills 3] [--async] [--writes N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGET_S = {"switchover": 30, "failover": 60}


def drill(env: str, kind: str, args: argparse.Namespace) -> dict:
    command = [str(BIN / "jinbao"), "dr", "drill", env, "--kind", kind, "--json"]
    command += ["--writes", str(args.writes), "--seconds", str(args.seconds)] + (
        ["--async"] if args.asynchronous else []
    )
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": (done.stderr or done.stdout).strip()[-300:] or f"exit {done.returncode}"}


def figures(kind: str, results: list[dict]) -> str:
    rtos = [r["rto_s"] for r in results if r.get("rto_s") is not None]
    lost = [r.get("lost", "?") for r in results]
    spread = f"{min(rtos):6.1f} {statistics.median(rtos):6.1f} {max(rtos):6.1f} s" if rtos else "     -      -      - s"
    failed = sum(not r.get("recovered") for r in results)
    return (
        f"  {kind:<11} RTO min/median/max {spread} (target <= {TARGET_S[kind]} s); "
        f"lost writes per drill {lost}; {failed} of {len(results)} not recovered"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env", nargs="?", default="inventories/lab")
    parser.add_argument("--drills", type=int, default=3)
    parser.add_argument("--async", dest="asynchronous", action="store_true")
    parser.add_argument("--writes", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=240)
    args = parser.parse_args()
    print(f"DR drills, {args.env} ({'async' if args.asynchronous else 'sync'}), {args.drills} of each kind")
    for kind in TARGET_S:
        results = []
        for n in range(args.drills):
            result = drill(args.env, kind, args)
            results.append(result)
            detail = result.get("error") or "; ".join(result.get("problems", []))
            note = f" - {detail}" if detail else ""
            print(f"    {kind} {n + 1}: RTO {result.get('rto_s')} s, lost {result.get('lost')}{note}")
        print(figures(kind, results))


if __name__ == "__main__":
    main()
