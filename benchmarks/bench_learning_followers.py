"""Hedge followers on the information market: 1,000 followers x 500 stocks x 250 days (issue goal: under a
minute on 2 cores), against a per-follower Python loop measured in the same run.

Three implementations of the same dynamics (full-information Hedge over ``StrategyLibrary.standard()``:
truthful, shade toward yesterday's consensus by 0.25/0.5/0.75, exaggerate away from it by 0.25/0.5, constant
0; rule ``consensus:r=0.5``; the same random numbers):

* ``fast``: ``learning.hedge`` with the moment path for quadratic rules (every strategy's pay for every
  follower from per-follower 5x5 moment matrices);
* ``generic``: ``learning.hedge(fast=False)``: ``rule.deviation_pay`` on (strategies, followers, 1, stocks);
* ``loop``: a Python loop over followers each day (numpy over strategies and stocks inside), run on the
  first ``--loop-days`` days only and *extrapolated* linearly to all days (its cost per day is constant).

The loop's regrets after ``--loop-days`` days are checked against ``fast`` on the same days (same picks).

Measured (2 shared cores, load ~2.4): fast 10.1 s, generic 18.4 s, loop 14.9 s extrapolated from 10 days:
fast/loop 1.5x. The loop is numpy over strategies x stocks (3,500 values) per follower, so vectorising over
followers buys little at K=7; the moment path's cost does not grow with K (the loop's and generic's do).

    python benchmarks/bench_learning_followers.py            # 1000 x 500 x 250
    python benchmarks/bench_learning_followers.py --quick    # 100 x 100 x 50
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (this checkout on sys.path)
import numpy as np

from mass_env.incentives import InformationMarket, make_rule
from mass_env.incentives import learning as L


def loop_hedge(rule, lib, days, n_days: int, eta: float, seed: int) -> np.ndarray:
    """Per-follower Python loop: the same Hedge as ``learning.hedge`` (equal weights, consensus rule, a
    linear library); returns each follower's average regret."""
    rng = np.random.default_rng(seed)
    params = lib.params
    r = rule.r
    cum = own = prev = None
    picks = np.zeros(0, dtype=int)
    for t, day in enumerate(days):
        if t >= n_days:
            break
        f, s = day.views.shape
        if cum is None:
            cum, own, prev = np.zeros((len(params), f)), np.zeros(f), np.zeros(s)
        u = rng.random(f)
        cands, played, picks = [], np.empty((f, s)), np.zeros(f, dtype=int)
        for i in range(f):  # each follower: its strategies' reports and its sampled one
            p = np.exp(eta * (cum[:, i] - cum[:, i].max()))
            p /= p.sum()
            k = min(int((p.cumsum() < u[i]).sum()), len(params) - 1)
            c = params[:, :1] * day.views[i] + params[:, 1:2] * prev + params[:, 4:5]  # linear library
            cands.append(c)
            played[i], picks[i] = c[k], k
        total = played.sum(0)
        for i in range(f):  # each follower: every strategy's pay against the others' realised reports
            others = (total - played[i]) / f
            cons = others + cands[i] / f
            pay = (-(1 - r) * (cands[i] - day.target) ** 2 - r * (cands[i] - cons) ** 2).mean(1)
            cum[:, i] += pay
            own[i] += pay[picks[i]]
        prev = total / f
    return (cum.max(0) - own) / n_days


def run(f: int, s: int, d: int, loop_days: int, eta: float) -> None:
    m = InformationMarket(n_followers=f, n_stocks=s, n_days=d, prior_precision=1.0, seed=0)
    lib = L.StrategyLibrary.standard()
    rule = make_rule("consensus:r=0.5")
    print(f"F={f} followers x S={s} stocks x D={d} days, K={len(lib)} strategies, rule {rule.option_string()}")
    t0 = time.perf_counter()
    for _ in L.market_days(m, 1, anchor_public=False):
        pass
    t_days = time.perf_counter() - t0
    out = {}
    for name, fast in (("fast", True), ("generic", False)):
        t0 = time.perf_counter()
        res = L.hedge(rule, lib, L.market_days(m, 1, anchor_public=False), d, eta=eta, seed=2, fast=fast)
        out[name] = (time.perf_counter() - t0, res)
    np.testing.assert_allclose(out["fast"][1].regret, out["generic"][1].regret, atol=1e-9)
    t0 = time.perf_counter()
    regret = loop_hedge(rule, lib, L.market_days(m, 1, anchor_public=False), loop_days, eta, seed=2)
    t_loop = (time.perf_counter() - t0) * d / loop_days
    part = L.hedge(rule, lib, L.market_days(m, 1, anchor_public=False), loop_days, eta=eta, seed=2)
    np.testing.assert_allclose(regret, part.regret, atol=1e-9)  # the loop and hedge play the same game
    print(f"  drawing the days alone: {t_days:.1f} s (included in every time below)")
    for name, (sec, res) in out.items():
        print(f"  {name:>8}: {sec:6.1f} s   certification gap {res.gap:.4f}, "
              f"truthful weight {res.weights[:, 0].mean():.3f}, ratio to the loop {t_loop / sec:6.1f}x")
    print(f"  {'loop':>8}: {t_loop:6.1f} s   (extrapolated from {loop_days} of {d} days, all {f} followers;"
          f" regrets equal fast's on those days)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--loop-days", type=int, default=10)
    ap.add_argument("--eta", type=float, default=20.0)
    args = ap.parse_args()
    if args.quick:
        run(100, 100, 50, 5, args.eta)
    else:
        run(1000, 500, 250, args.loop_days, args.eta)


if __name__ == "__main__":
    main()
