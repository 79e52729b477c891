"""Scorer benchmark: vectorised Rank IC over (P candidates, T days, N stocks) against a per-day
``scipy.stats.spearmanr`` loop (the naive baseline) and a bare ``np.argsort`` of the same array (the
bound: one sort per row is the floor for exact ranks). Ratios are measured in the same run.

    python benchmarks/bench_scorer.py            # default grid
    python benchmarks/bench_scorer.py --quick    # one cell
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (this checkout on sys.path)
import numpy as np
import scipy.stats as st

from mass_env.game.metrics import RankICScorer


def _best(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def scipy_loop(S: np.ndarray, R: np.ndarray) -> np.ndarray:
    out = np.empty(S.shape[:2])
    for p in range(S.shape[0]):
        for t in range(S.shape[1]):
            out[p, t] = st.spearmanr(S[p, t], R[t]).statistic
    return out


def cell(P: int, T: int, N: int, rng: np.random.Generator) -> dict[str, float]:
    S = np.round(rng.normal(size=(P, T, N)), 2)  # some ties, like aggregated signals
    R = rng.normal(size=(T, N))
    scorer = RankICScorer(R)
    fast = _best(lambda: scorer(S))
    bound = _best(lambda: np.argsort(S, axis=-1))
    reps = 1 if P * T > 2000 else 2
    naive = _best(lambda: scipy_loop(S, R), reps)
    np.testing.assert_allclose(scorer(S), scipy_loop(S, R), atol=1e-10)
    return {"fast_s": fast, "naive_s": naive, "bound_s": bound,
            "evals_per_s": P / fast, "vs_scipy": naive / fast, "vs_argsort": fast / bound}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    grid = [(64, 60, 100)] if args.quick else [
        (P, T, N) for P in (16, 64, 256) for T in (20, 60, 120) for N in (50, 300)] + [(64, 60, 100)]
    print(f"{'P':>4} {'T':>4} {'N':>4} {'fitness evals/s':>16} {'x scipy loop':>13} {'/ argsort bound':>16}")
    for P, T, N in grid:
        r = cell(P, T, N, rng)
        print(f"{P:>4} {T:>4} {N:>4} {r['evals_per_s']:>16.0f} {r['vs_scipy']:>12.0f}x {r['vs_argsort']:>15.2f}x",
              flush=True)


if __name__ == "__main__":
    main()
