"""Coverage and power of the project's inference before and after, on simulated data with a known answer.

Same simulated seeds x days differences for both (``experiments.stats.known_answer``: seed effect + day
noise shared by all seeds + seed-by-day noise, both MA(9) like overlapping 10-day returns), three noise
mixes x (3, 5) seeds x (100, 500) days, true difference zero:

* **before**: ``experiments.stats.statistics.paired_bootstrap(d, n_boot=2000, block=h)`` (the table's CI, called
  as ``experiments.stats.report`` calls it) and ``resolution(d, block=h, n_boot=1000).mdd()`` (its MDD, as
  ``experiments.paper.reproduction`` calls it);
* **after**: ``experiments.stats.inference.difference_ci(d, h)`` and its ``mdd()``.

Columns: ``cover`` the 95% CI covers the truth; ``lo>0`` a false "holds" on one side (nominal .025);
``pow own`` the power at the run's own reported MDD (a true difference of that MDD shifts the estimate
and every percentile by it; the test rejects when ``lo + MDD > 0``; nominal .80); ``pow new`` the power
of a new run of the same size at a difference fixed at one run's reported MDD (averaged over all pairs of
runs); ``MDD/ideal`` the mean reported MDD over ``(z_.975 + z_.80) sd(mean)`` with the true sd. Monte
Carlo error of a rate p: ``sqrt(p (1 - p) / reps)`` (.011 for .95, .020 for .80 at 400 reps).

Then combined claims ("A beats D, E and F", every true difference zero, 3 seeds x 100 days, shared-day
dominated): the false "holds" and false "does not hold" rates of today's rule (one bootstrap draw for
every contrast, each part at 95%, ``claims.combine``) and of Holm-corrected ``inference.judge``.

    python benchmarks/bench_inference_coverage.py [--reps 400] [--n-boot 2000]
"""

from __future__ import annotations

import argparse
import itertools
import time

import common  # noqa: F401  (this checkout on sys.path)
import numpy as np
from scipy import stats as sps

from experiments.stats.inference import difference_ci
from experiments.stats.known_answer import MIXES, moving_average, simulate
from experiments.stats.statistics import FAILS, HOLDS, DayBlockBootstrap, paired_bootstrap, resolution
from experiments.stats.verdicts import Part, combine, judge

H = 10


def rates(lo: np.ndarray, hi: np.ndarray, mdd: np.ndarray, sd: float) -> dict[str, float]:
    own = float(np.mean(lo + mdd > 0))
    new = float(np.mean(lo[None, :] + mdd[:, None] > 0))  # rows: the MDD of run i; columns: run j's test
    ideal = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * sd
    return {"cover": float(np.mean((lo < 0) & (hi > 0))), "lo>0": float(np.mean(lo > 0)), "pow own": own,
            "pow new": new, "MDD/ideal": float(np.mean(mdd) / ideal)}


def coverage_table(reps: int, n_boot: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cols = ["cover", "lo>0", "pow own", "pow new", "MDD/ideal"]
    print(f"{'mix':<12} {'S':>2} {'T':>4} {'method':<7} " + " ".join(f"{c:>9}" for c in cols))
    for mix, S, T in itertools.product(MIXES, (3, 5), (100, 500)):
        d = simulate(rng, mix, reps, S, T, H)
        sd = float(np.sqrt(mix.true_var(S, T, H)))
        old = np.empty((reps, 3))
        new = np.empty((reps, 3))
        t0 = time.perf_counter()
        for r, x in enumerate(d):
            _, lo, hi = paired_bootstrap(x, n_boot=n_boot, block=H, rng=np.random.default_rng([seed, r]))
            old[r] = lo, hi, resolution(x, block=H, n_boot=min(n_boot, 1000),
                                        rng=np.random.default_rng([seed, r, 1])).mdd()
        t1 = time.perf_counter()
        for r, x in enumerate(d):
            ci = difference_ci(x, H)
            new[r] = ci.lo, ci.hi, ci.mdd()
        t2 = time.perf_counter()
        for name, a, secs in (("before", old, t1 - t0), ("after", new, t2 - t1)):
            row = rates(a[:, 0], a[:, 1], a[:, 2], sd)
            print(f"{mix.name:<12} {S:>2} {T:>4} {name:<7} " + " ".join(f"{row[c]:>9.3f}" for c in cols)
                  + f"   ({secs / reps * 1000:.1f} ms/run)")
    print()


def claim_rates(reps: int, n_boot: int, seed: int, S: int = 3, T: int = 100) -> None:
    rng = np.random.default_rng([seed, 2])
    market = 0.1 * moving_average(rng, (reps, 1, T), H)
    x = {c: market + 0.05 * moving_average(rng, (reps, 1, T), H) + 0.02 * moving_average(rng, (reps, S, T), H)
         + 0.002 * rng.standard_normal((reps, S, 1)) for c in "ADEF"}
    old, new = [], []
    for r in range(reps):
        boot = DayBlockBootstrap(S, T, block=H, n_boot=n_boot, rng=np.random.default_rng([seed, r, 3]))
        old.append(combine([boot.mean(x["A"][r] - x[o][r], 0.95).above(0.0) for o in "DEF"]))
        new.append(judge([Part(f"A - {o}", difference_ci(x["A"][r] - x[o][r], H)) for o in "DEF"]).verdict)
    print(f"combined claim 'A beats D, E and F', all true differences zero ({S} seeds x {T} days, {reps} runs)")
    print(f"{'rule':<34} {'false holds':>12} {'false does not hold':>20}")
    for name, v in (("before: each part at 95%", old), ("after: Holm-corrected parts", new)):
        print(f"{name:<34} {np.mean([u == HOLDS for u in v]):>12.3f} {np.mean([u == FAILS for u in v]):>20.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t = time.perf_counter()
    coverage_table(a.reps, a.n_boot, a.seed)
    claim_rates(a.reps, a.n_boot, a.seed)
    print(f"\n{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
