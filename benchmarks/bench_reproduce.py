"""``mass reproduce`` benchmark: the runs that dominate it, before and after the speed work, in one run,
and the total time of the whole command.

Before/after: the code of ``--before`` (a git revision, default the merge base with ``main``) is
exported to a temporary folder (``git archive``) and each selected run (config, seed 0, clean preset,
SSE50) plays in a fresh subprocess once on that code and once on this working tree, one BLAS thread
each (as the process-pool workers run). CPU seconds (``time.process_time``) are the fair comparison on
a shared machine; wall seconds are printed too, with the load average. The Rank ICs of both are
printed: the speed work must not move them.

``--total`` also times the whole command (``mass reproduce``: A-F, E-512, A-512 with equal and oracle
baselines, 5 seeds, both presets, ``--no-resume``) on a local process pool of ``--workers`` and
reports its wall time and the CPU seconds of all its processes.

    python benchmarks/bench_reproduce.py                       # ORACLE-512, ORACLE, A, D, E-512
    python benchmarks/bench_reproduce.py --configs ORACLE-512 --total
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SHARED_DATA

ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

#: One run in a child process: prints {"cpu": s, "wall": s, "ric": mean 10d Rank IC}.
CHILD = """
import json, sys, time
from experiments.sweep.markets import market_for
from experiments.sweep.spec import SweepSpec
from experiments.sweep.workers import run_one
import cma  # imported once per worker in a sweep: not part of a run's cost
name, data = sys.argv[1], sys.argv[2]
spec = SweepSpec.default("A,D,E-512", baselines=("equal", "oracle"), seeds=(0,), data=data)
panel = market_for(spec, 0)
cfg = next(c for c in spec.configs if c.name == name)
t, w = time.process_time(), time.perf_counter()
run = run_one(cfg, 0, panel, spec)
ev = run.history[run.history["eval"]]
print(json.dumps({"cpu": time.process_time() - t, "wall": time.perf_counter() - w,
                  "ric": float(ev["ric_signal_10d"].mean())}))
"""


def _export(rev: str, dest: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def _time_run(tree: Path, name: str, data: Path) -> dict[str, float]:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, name, str(data)], cwd=tree, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _total(data: Path, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "experiments.cli", "reproduce", "--data", str(data), "--out", tmp,
                        "--no-resume", "--workers", str(workers), "--quiet"], cwd=ROOT, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default=None, help="git revision of the 'before' code (default: merge base with main)")
    ap.add_argument("--configs", default="ORACLE-512,ORACLE,A,D,E-512", help="runs to compare (seed 0, clean, SSE50)")
    ap.add_argument("--data", default=str(SHARED_DATA), help="the shared data folder")
    ap.add_argument("--total", action="store_true", help="also time the whole `mass reproduce`")
    ap.add_argument("--workers", type=int, default=2, help="process-pool workers for --total")
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not (data / "derived").is_dir():
        print(f"no shared data at {data}: nothing to benchmark")
        return 0
    rev = args.before or subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], check=True,
                                        capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; one BLAS thread per run")
    print(f"before = {rev[:10]} (git archive), after = this working tree\n")
    print(f"{'run':<11} {'cpu before':>10} {'cpu after':>10} {'ratio':>6} {'wall before':>11} {'wall after':>10} "
          f"{'ric10 before':>12} {'ric10 after':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp)
        _export(rev, old)
        for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
            b, a = _time_run(old, name, data), _time_run(ROOT, name, data)
            print(f"{name:<11} {b['cpu']:>9.2f}s {a['cpu']:>9.2f}s {b['cpu'] / a['cpu']:>5.2f}x {b['wall']:>10.2f}s "
                  f"{a['wall']:>9.2f}s {b['ric']:>+12.4f} {a['ric']:>+12.4f}", flush=True)
    if args.total:
        t = _total(data, args.workers)
        print(f"\nmass reproduce (A-F, E-512, A-512 + equal, oracle; 5 seeds; clean and paper; {args.workers} "
              f"workers): wall {t['wall']:.0f}s, CPU of all processes {t['cpu']:.0f}s "
              f"(>= {t['cpu'] / args.workers:.0f}s of wall on {args.workers} idle cores)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
