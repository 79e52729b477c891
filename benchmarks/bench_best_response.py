"""Best-response search benchmark: candidates x days x stocks evaluated per second by the vectorised
search (``mass_env.incentives.responses.best_response_search``: all candidates of the deviation family at
once, shape (candidates, followers, days, stocks)) against a naive Python loop over candidates, days and
stocks, measured in the same run on the same information market. Two rules: ``consensus:r=0.5`` (a
quadratic pay: the naive loop is per stock) and ``skill`` (own Rank IC: the naive loop calls
``scipy.stats.spearmanr`` per candidate-day). The naive loop runs on a subset of candidates and its rate
is per element, so the ratio is a rate ratio.

    python benchmarks/bench_best_response.py            # F=8, 200 days, 300 stocks
    python benchmarks/bench_best_response.py --quick
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (this checkout on sys.path)
import numpy as np
import scipy.stats as st

from mass_env.incentives import InformationMarket, PayContext, make_rule
from mass_env.incentives import responses as R


def naive_consensus(rule, params, views, anchor, profile, theta, omega):
    """Pay of follower 0 for each candidate: Python loops over candidates, days and stocks."""
    r = rule.r
    f, d, s = profile.shape
    out = np.empty(len(params))
    for k, (a, b, c, e, const) in enumerate(params):
        total = 0.0
        for t in range(d):
            for j in range(s):
                v = views[0, t, j]
                rep = a * v + b * anchor[t, j] + c * np.sign(v) * abs(v) ** e + const
                others = sum(omega[i] * profile[i, t, j] for i in range(1, f))
                cons = others + omega[0] * rep
                total += -(1 - r) * (rep - theta[t, j]) ** 2 - r * (rep - cons) ** 2
        out[k] = total / (d * s)
    return out


def naive_skill(params, views, anchor, theta):
    out = np.empty(len(params))
    for k, (a, b, c, e, const) in enumerate(params):
        day = []
        for t in range(views.shape[1]):
            v = views[0, t]
            rep = a * v + b * anchor[t] + c * np.sign(v) * np.abs(v) ** e + const
            day.append(0.0 if np.ptp(rep) == 0 else st.spearmanr(rep, theta[t]).statistic)
        out[k] = np.mean(day)
    return out


def run(f: int, d: int, s: int, naive_candidates: int) -> None:
    m = InformationMarket(n_followers=f, n_days=d, n_stocks=s, prior_precision=1.0, seed=0)
    dr = m.draw()
    ctx = PayContext(dr.theta)
    fam = R.DeviationFamily()
    k = len(fam)
    print(f"F={f} followers, D={d} days, S={s} stocks, K={k} candidates (default family)")
    print(f"{'rule':>16} {'vectorised c*d*s/s':>19} {'naive c*d*s/s':>14} {'ratio':>8}")
    for spec in ("consensus:r=0.5", "skill"):
        rule = make_rule(spec)
        t0 = time.perf_counter()
        res = R.best_response_search(rule, dr.views, dr.views, dr.public, ctx, fam)
        fast = time.perf_counter() - t0
        fast_rate = k * f * d * s / fast  # every follower's candidates are evaluated
        sub = fam.params[np.linspace(0, k - 1, naive_candidates).astype(int)]
        nd = d if spec == "skill" else max(1, d // 20)  # the per-stock loop is slow: fewer days, same rate
        t0 = time.perf_counter()
        if spec == "skill":
            slow_pay = naive_skill(sub, dr.views[:, :nd], dr.public[:nd], dr.theta[:nd])
        else:
            slow_pay = naive_consensus(rule, sub, dr.views[:, :nd], dr.public[:nd], dr.views[:, :nd],
                                       dr.theta[:nd], ctx.omega(f))
        slow = time.perf_counter() - t0
        slow_rate = len(sub) * nd * s / slow  # one follower's candidates
        check = rule.deviation_pay(R.apply_params(sub[:, None, :], dr.views[:, :nd], dr.public[:nd]),
                                   dr.views[:, :nd], PayContext(dr.theta[:nd])).mean(-1)[:, 0]
        np.testing.assert_allclose(check, slow_pay, atol=1e-9)  # both compute the same pay
        print(f"{spec:>16} {fast_rate:>19.3g} {slow_rate:>14.3g} {fast_rate / slow_rate:>7.0f}x"
              f"   (search {fast:.2f} s; best gain {res.gain.mean():.4f})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        run(4, 40, 100, 4)
    else:
        run(8, 200, 300, 6)


if __name__ == "__main__":
    main()
