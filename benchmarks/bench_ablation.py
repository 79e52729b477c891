"""Ablation benchmark: end-to-end wall time and peak memory of scripted sweeps (configs A-F x N seeds at
64 agents = 8 types x 8, and E-512, A-512 x N seeds at 512 = 32 x 16) with the vectorised fitness scorer,
against the same sweep with a *naive* scorer (``RankICScorer`` monkeypatched by a per-(candidate, day)
``scipy.stats.spearmanr`` loop), and optionally on a local process pool. Markets: the embedded
synthetic one (160 days) and the paper's SSE50 window when ``../shared/data`` (or ``--data``) exists.

Each variant runs in a fresh subprocess, so its peak RSS (``resource.getrusage().ru_maxrss``; for the
pool, the largest worker too) is its own; ``--trace`` adds a second, traced run per variant for the
peak of Python/NumPy allocations (``tracemalloc``; slower, so not timed). The variants' tables are
compared: the naive scorer agrees with the fast one to rounding, so the numbers match closely (an
optimiser may take a different branch on a near-tie, hence "max |diff|" rather than equality).

    python benchmarks/bench_ablation.py                  # A-F and E/A-512 x 3 seeds, synthetic (+ SSE50 if found)
    python benchmarks/bench_ablation.py --quick          # A, D x 1 seed, 80 synthetic days
    python benchmarks/bench_ablation.py --seeds 5 --workers 2 --baselines equal,oracle --trace
    python benchmarks/bench_ablation.py --ray --no-naive  # + a local-Ray row (results must be identical)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, SHARED_DATA


class NaiveRankICScorer:
    """Drop-in for ``mass_env.game.metrics.RankICScorer``: one ``scipy.stats.spearmanr`` per (candidate, day)."""

    def __init__(self, returns, *, min_stocks: int = 5) -> None:
        self.returns = np.asarray(returns, dtype=np.float64)
        self.min_stocks = int(min_stocks)

    def __call__(self, signals):
        import scipy.stats as st

        s = np.asarray(signals, dtype=np.float64)
        lead = s.shape[:-2]
        s = s.reshape((-1,) + self.returns.shape)
        out = np.full(s.shape[:2], np.nan)
        for p in range(s.shape[0]):
            for t in range(s.shape[1]):
                x, r = s[p, t], self.returns[t]
                ok = np.isfinite(x) & np.isfinite(r)
                if ok.sum() < self.min_stocks or np.ptp(x[ok]) == 0 or np.ptp(r[ok]) == 0:
                    continue
                out[p, t] = st.spearmanr(x[ok], r[ok]).statistic
        return out.reshape(lead + (self.returns.shape[0],))

    score = __call__


def _variant(args: argparse.Namespace) -> None:
    """One sweep in this process; prints a JSON line."""
    import tracemalloc

    import mass_env.game.scoring
    from experiments.parallel.executors import make_executor
    from experiments.sweep.engine import run_ablation
    from experiments.sweep.spec import SweepSpec
    from mass_env.game.components import ric_column

    if args.scorer == "naive":
        mass_env.game.scoring.RankICScorer = NaiveRankICScorer  # what ScoringWindow.daily instantiates
    baselines = tuple(b for b in args.baselines.split(",") if b)
    spec = SweepSpec.default(args.configs, baselines=baselines, seeds=tuple(range(args.seeds)),
                             n_days=args.days, data=args.data or None, n_boot=200)
    executor = None if args.executor == "serial" else make_executor(args.executor, args.workers)  # as `mass ablation`
    if args.trace:
        tracemalloc.start()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        res = run_ablation(spec, out, executor=executor, resume=False, plot=False)
        wall = time.perf_counter() - t0
    peak_traced = tracemalloc.get_traced_memory()[1] if args.trace else 0
    head = ric_column("signal", 10)
    print(json.dumps({
        "wall_s": wall, "runs": len(res.computed),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "traced_peak_mib": peak_traced / 2**20,
        "table": {c: v for c, v in zip(res.table["config"], res.table[f"{head}_mean"])},
        "eval_days": float(res.table["eval_days"].mean()),
    }))


def _spawn(args: argparse.Namespace, configs: str, scorer: str, executor: str, workers: int, data: str,
           trace: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--_variant", "--scorer", scorer, "--executor", executor,
           "--workers", str(workers), "--configs", configs, "--seeds", str(args.seeds),
           "--days", str(args.days), "--data", data, "--baselines", args.baselines] + (["--trace"] if trace else [])
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode:
        sys.exit(f"variant failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="configs A,D, 1 seed, 80 days, synthetic only")
    ap.add_argument("--configs", default="A,B,C,D,E,F;E-512,A-512",
                    help="sweeps separated by ';', each a comma-separated list of configs")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--days", type=int, default=160, help="synthetic market length")
    ap.add_argument("--data", default=None, help=f"shared-data root (default: {SHARED_DATA} if it exists)")
    ap.add_argument("--baselines", default="", help="e.g. equal,oracle (the oracle is scorer-heavy)")
    ap.add_argument("--workers", type=int, default=2, help="process-pool row (0: skip)")
    ap.add_argument("--ray", action="store_true", help="add a row on a local Ray instance (--workers CPUs)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive-scorer row")
    ap.add_argument("--trace", action="store_true", help="also report tracemalloc peaks (extra runs)")
    ap.add_argument("--_variant", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scorer", default="fast", help=argparse.SUPPRESS)
    ap.add_argument("--executor", default="serial", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._variant:
        _variant(args)
        return
    markets = [("synthetic", "")]
    data = Path(args.data) if args.data else SHARED_DATA
    if args.quick:
        args.configs, args.seeds, args.days = "A,D", 1, 80
    elif data.exists():
        markets.append(("SSE50 window", str(data.resolve())))
    for configs in [c.strip() for c in args.configs.split(";") if c.strip()]:
        _sweep(args, configs, markets)


def _sweep(args: argparse.Namespace, configs: str, markets: list[tuple[str, str]]) -> None:
    from experiments.sweep.configs import resolve

    agents = sorted({c.n_agents for c in resolve(configs.split(","), ())})
    print(f"\nconfigs {configs} x {args.seeds} seeds, {'/'.join(map(str, agents))} agents, "
          f"baselines: {args.baselines or 'none'}")
    print(f"{'market':<13} {'variant':<16} {'runs':>4} {'wall s':>8} {'s/run':>7} {'wall/fast':>9} "
          f"{'maxRSS MiB':>11}{' traced MiB' if args.trace else ''}  max|diff| ric_signal_10d")
    for label, d in markets:
        rows = [("fast serial", "fast", "serial", 1)]
        if args.workers > 0:
            rows.append((f"fast process x{args.workers}", "fast", "process", args.workers))
        if args.ray:
            rows.append((f"fast ray x{max(args.workers, 1)}", "fast", "ray", max(args.workers, 1)))
        if not args.no_naive:
            rows.append(("naive serial", "naive", "serial", 1))
        base = None
        for name, scorer, ex, w in rows:
            r = _spawn(args, configs, scorer, ex, w, d)
            if args.trace:
                r["traced_peak_mib"] = _spawn(args, configs, scorer, ex, w, d, trace=True)["traced_peak_mib"]
            base = base or r
            diff = max(abs(r["table"][k] - base["table"][k]) for k in base["table"])
            rss = max(r["maxrss_mib"], r["children_maxrss_mib"])
            print(f"{label:<13} {name:<16} {r['runs']:>4} {r['wall_s']:>8.1f} {r['wall_s'] / r['runs']:>7.2f} "
                  f"{r['wall_s'] / base['wall_s']:>8.2f}x {rss:>11.0f}"
                  + (f" {r['traced_peak_mib']:>10.1f}" if args.trace else "") + f"  {diff:.1e}", flush=True)


if __name__ == "__main__":
    main()
