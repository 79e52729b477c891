"""One standard error for a difference of configs over seeds x days, and everything built on it: the CI,
the minimum detectable difference, the seeds a difference needs (or that no number of seeds resolves it),
Holm-corrected combined claims and ratio claims as linear contrasts.

The model
---------
A paired difference of two configs (or one config's level) on seed ``s`` and evaluation day ``t``::

    d[s, t] = mu + a_s + b_t + e_st

``a_s`` a seed effect (variance ``sa2``), ``b_t`` day noise every seed shares (the same days, the same
market), ``e_st`` seed-by-day noise, independent across seeds. ``b`` and ``e`` are serially dependent:
a Rank IC of h-day forward returns on neighbouring days shares most of its outcome, so both behave
like moving averages of order ``h - 1``. The estimate is the grand mean ``dbar`` (``S`` seeds, ``T`` days)
and, with ``Vb = Var(mean_t b_t)``, ``Ve = Var(mean_t e_st)`` (the finite-``T`` variances of a day-mean)::

    Var(dbar) = sa2 / S  +  Vb  +  Ve / S

Three statistics, each unbiased for a known combination (all exact under the working model below):

* ``V1 = var_s(m_s) / S``, ``m_s`` the seed means (``ddof=1``; ``S - 1`` degrees of freedom):
  ``E V1 = sa2 / S + Ve / S``. This is the **seed component**: it shrinks with more seeds.
* ``V2 = LRV(x) / T``, ``x_t`` the seed-averaged daily series, ``LRV`` its long-run variance from
  the HAC estimator below (``nu1`` degrees of freedom): ``E V2 = Vb + Ve / S``.
* ``V3 = LRV_pooled(r) / (S T)``, ``r_st = d_st - m_s - x_t + dbar`` the double-centred seed-by-day
  residuals pooled over seeds (``(S - 1) nu1`` degrees of freedom): ``E V3 = Ve / S``.

So ``se^2 = V1 + (V2 - V3)``: the seed component plus the **shared day component**
``day_var = max(V2 - V3, 0)``, the part of the day-to-day noise every seed shares (an estimate of
``Vb``). ``V2`` alone would count the seed-by-day noise ``Ve / S`` a second time (it is already in
``V1``); ``V3`` takes it out. This is what the day-block bootstrap of ``experiments.stats.statistics`` got
wrong (it resamples seeds *and* days, counting ``e`` twice) besides its too-short blocks.

The t interval uses Satterthwaite's degrees of freedom from the two parts::

    df = se^4 / ( V1^2 / (S - 1) + day_var^2 / nu1 )
    CI = dbar -+ t_{1 - (1 - level) / 2, df} * se

The day part is given the HAC estimate's own ``nu1``. Measured (2,000 simulated replications a cell,
the noise mixes and sizes of the tests): counting ``V2`` and ``V3`` as separate mean squares in the
Satterthwaite sum (the textbook rule for a difference of mean squares) gives ~1.5 df where seed-by-day
noise dominates and 98-100% coverage; a REML-style rule that zeroes a component estimated below zero
over-covers too (97-99%, se up to 26% high); the two-part rule above covers 93.5-95.6% in every cell
and its MDD has 79-82% power (see ``tests/experiments/stats/test_inference.py``).

"Power at the MDD" is the power at the difference a run reports as detectable given that run's se:
``P(dbar - t se > 0 | true difference = MDD, se)``, averaged over runs; it is 80% exactly when the t
statistic follows ``t_df``. A *new* run of the same size at a difference fixed at one run's reported
MDD has less (61-79% in the same cells, ``pow new`` in ``benchmarks/bench_inference_coverage.py``: with
few df the reported MDD is itself noisy). The weakest cell is 3 seeds where the seed effect dominates:
Satterthwaite's ~2.3 df are a little liberal there (93.5% coverage at 2,000 replications).

The long-run variance: Hansen-Hodrick with lag ``h - 1``
--------------------------------------------------------
For overlapping h-day returns the dependence ends at lag ``h - 1``: the Hansen-Hodrick estimator (the
uniform kernel, every autocovariance up to lag ``h - 1`` at full weight) is unbiased for such a series,
where Newey-West's Bartlett weights ``1 - j / M`` down-weight them: with the triangular autocorrelation
of overlapping sums (``rho_j = 1 - j / h``) and a bandwidth of ``M = 2h`` the Bartlett estimate is
``sum_j j rho_j / (M sum_j rho_j) = 16.5%`` too small at ``h = 10`` (8% at ``M = 4h``), before the
small-sample loss from demeaning. The kernel sum ``x' K x`` is statsmodels'
``sandwich_covariance.S_hac_simple(x, nlags=h - 1, weights_func=weights_uniform)`` (a well-kept library,
the reference implementation a reviewer can check; measured at ~0.1 ms a call on 500 days against
0.05 ms for a hand-written numpy sum, while a whole ``difference_ci`` takes ~1 ms, so there is nothing
to gain from hand-writing it; a test checks the two agree). What statsmodels does not give is the
small-sample part, which matters at ~100 days: demeaning takes ``(2h - 1) / T`` of the long-run variance
out (19% at 100 days) and the estimate has few degrees of freedom. Both are computed exactly for the
working model of overlapping returns (a Gaussian series with autocorrelation ``rho_j = max(1 - j / h,
0)``, ``Sigma`` its ``T x T`` correlation matrix, ``C = I - 11'/T``, ``A = C K C``)::

    LRV(x)  = (x' A x) / tr(A Sigma) * (1' Sigma 1 / T)          (unbiased for T Var(xbar))
    nu1     = tr(A Sigma)^2 / tr((A Sigma)^2)                     (Satterthwaite: 2 E^2 / Var)

(for ``h = 1`` the kernel is the identity and this is the ordinary variance with ``T - 1`` df). A
series whose dependence is longer than ``h - 1`` days is not covered by this estimator (nor by any
HAC at these lengths); the simulation tests use MA(h - 1) noise, the model of overlapping h-day returns.

The minimum detectable difference, seeds needed and the floor
-------------------------------------------------------------
With the same ``se`` and ``df`` as the interval (a two-sided test at ``1 - level``)::

    MDD(S) = (t_{1 - (1 - level) / 2, df} + t_{power, df}) * se(S),   se(S)^2 = V1 * S_run / S + day_var

(with ``S`` seeds the parts and their degrees of freedom are those the run would have with ``S``
seeds). ``seeds_needed(delta)`` is the fewest seeds with ``MDD(S) <= |delta|``; the **floor**, the
MDD with infinitely many seeds, is ``(t_{., nu1} + t_{power, nu1}) sqrt(day_var)``: the shared days
alone; a difference at or below it is one "no number of seeds resolves" on these days.

Claims (``experiments.stats.verdicts``)
---------------------------------------
* a directional part "q > c" *holds* when its test rejects ``q = c`` on the claimed side (two-sided
  p-value ``2 P(t_df > |q - c| / se)``), *does not hold* when it rejects on the other side;
* a combined claim ("A beats D, E and F") judges every part at its Holm-corrected level (adjusted
  p-values, step-down over the parts; the part with the ``k``-th smallest p-value is shown with its
  interval at level ``1 - alpha / (m - k + 1)``): it holds when every part holds, does not hold when
  any part does not, and is unresolved otherwise;
* a ratio claim "lo <= mean(num) / mean(den) <= hi" is judged only once the denominator's interval
  excludes zero; it is then the combined claim of the two linear contrasts
  ``num - lo * den >= 0`` and ``hi * den - num >= 0`` (signs flipped for a negative denominator),
  each a seeds x days array with its own interval, so nothing divides by a noisy number.

With missing cells (NaN): seeds and days without any value are dropped; a missing cell is filled with
the additive fit ``m_s + x_t - dbar`` (so it adds no residual); the formulas are then approximations
(exact for complete arrays). With one seed the seed effect cannot be estimated: the interval is then
conditional on that seed (``se^2 = V2``) and ``seeds_needed`` is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy import stats as sps
from statsmodels.stats.sandwich_covariance import S_hac_simple, weights_uniform

from experiments.stats.statistics import FAILS, HOLDS, UNRESOLVED

FloatArray = npt.NDArray[np.float64]


# ---------------------------------------------------------------------------------------- long-run variance
@lru_cache(maxsize=64)
def hac_calibration(n_days: int, horizon: int) -> tuple[float, float, float]:
    """``(tr(A Sigma), 1' Sigma 1 / T, nu1)`` of the Hansen-Hodrick estimator with lag ``horizon - 1``
    on ``n_days`` days under the overlapping-returns working model (see the module docstring)."""
    T, h = int(n_days), max(1, int(horizon))
    if T < 2:
        return float("nan"), float("nan"), float("nan")
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    K = (lag <= h - 1).astype(np.float64)
    Sigma = np.clip(1.0 - lag / h, 0.0, None)
    C = np.eye(T) - 1.0 / T
    AS = C @ K @ C @ Sigma
    a = float(np.trace(AS))
    den = float(np.sum(AS * AS.T))
    if not (a > 1e-12 and den > 1e-12):  # T <= h: after demeaning nothing is left of the kernel sum
        return float("nan"), float("nan"), float("nan")
    return a, float(Sigma.sum() / T), a * a / den


def _kernel_sum(x: FloatArray, horizon: int) -> float:
    """``sum over columns of x' K x`` (uniform kernel up to lag ``horizon - 1``) via statsmodels."""
    s = S_hac_simple(x, nlags=max(0, min(int(horizon), x.shape[0]) - 1), weights_func=weights_uniform)
    return float(np.trace(np.atleast_2d(s)))


def long_run_variance(x: npt.ArrayLike, horizon: int) -> tuple[float, float]:
    """Hansen-Hodrick long-run variance of a daily series (``T Var(mean)``), demeaned and corrected to be
    unbiased under the overlapping-returns model, and its degrees of freedom ``nu1``."""
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    a, omega, nu = hac_calibration(v.size, horizon)
    if not np.isfinite(a):
        return float("nan"), float("nan")
    return _kernel_sum(v - v.mean(), horizon) / a * omega, nu


# ---------------------------------------------------------------------------------------- the parts
@dataclass(frozen=True)
class Parts:
    """The three variance statistics of a ``(seeds, days)`` array (module docstring) and their df."""

    estimate: float
    n_seeds: int
    n_days: int
    v1: float   # var of seed means / S           (S - 1 df)
    v2: float   # LRV of seed-averaged series / T  (nu1 df)
    v3: float   # pooled residual LRV / (S T)      ((S - 1) nu1 df)
    nu1: float


def _clean(d: FloatArray) -> FloatArray:
    """Drop all-NaN seeds and days; fill remaining NaN with the additive fit (``m_s + x_t - dbar``)."""
    fin = np.isfinite(d)
    d = d[fin.any(1)][:, fin.any(0)]
    if d.size and not np.isfinite(d).all():
        m = np.nanmean(d, axis=1, keepdims=True)
        x = np.nanmean(d, axis=0, keepdims=True)
        d = np.where(np.isfinite(d), d, m + x - np.nanmean(d))
    return d


def variance_parts(d: npt.ArrayLike, horizon: int) -> Parts:
    """``Parts`` of a seeds x days difference array (NaN = missing)."""
    a = np.asarray(d, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"d must be a (seeds, days) array, got shape {a.shape}")
    point = float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")
    a = _clean(a)
    S, T = a.shape if a.size else (0, 0)
    if T < 2:
        return Parts(point, S, T, np.nan, np.nan, np.nan, np.nan)
    m = a.mean(1)
    x = a.mean(0)
    grand = float(a.mean())
    calib_a, omega, nu1 = hac_calibration(T, horizon)
    if not np.isfinite(calib_a):  # no more days than the horizon: no long-run variance, no interval
        return Parts(point, S, T, np.nan, np.nan, np.nan, np.nan)
    v2 = _kernel_sum(x - grand, horizon) / calib_a * omega / T
    if S < 2:
        return Parts(point, S, T, np.nan, v2, np.nan, nu1)
    r = a - m[:, None] - x[None, :] + grand
    v3 = _kernel_sum(r.T, horizon) / ((S - 1) * calib_a) * omega / (S * T)
    v1 = float(m.var(ddof=1)) / S
    return Parts(point, S, T, v1, v2, v3, nu1)


def satterthwaite(parts: Sequence[tuple[float, float]]) -> float:
    """Welch-Satterthwaite degrees of freedom of ``sum c_k`` from ``(c_k, df_k)`` (terms with df 0 or
    non-finite skipped); ``inf`` when every term is 0."""
    num = sum(c for c, _ in parts) ** 2
    den = sum(c * c / k for c, k in parts if np.isfinite(c) and k > 0 and np.isfinite(k))
    return float(num / den) if den > 0 else float("inf")


# ---------------------------------------------------------------------------------------- the interval
@dataclass(frozen=True)
class DifferenceCI:
    """The estimate of a seeds x days difference with its t interval, its standard error split into the
    seed and the shared day component, and the MDD / seeds needed / floor from that same se."""

    estimate: float
    lo: float
    hi: float
    se: float
    df: float
    level: float
    seed_var: float  # V1: shrinks as 1 / seeds
    day_var: float   # max(V2 - V3, 0): shared by every seed, no number of seeds removes it
    n_seeds: int
    n_days: int
    horizon: int
    parts: Parts = field(repr=False)

    # ------------------------------------------------------------ se and df with another number of seeds
    def _terms(self, n_seeds: int | float | None = None) -> list[tuple[float, float]]:
        return variance_terms(self.parts, self.n_seeds if n_seeds is None else n_seeds)

    def se_with(self, n_seeds: int | float) -> float:
        """The standard error a run on these days would have with ``n_seeds`` seeds (inf = the floor)."""
        return float(np.sqrt(max(sum(c for c, _ in self._terms(n_seeds)), 0.0)))

    def df_with(self, n_seeds: int | float) -> float:
        return satterthwaite(self._terms(n_seeds))

    # ------------------------------------------------------------ the MDD, seeds needed, the floor
    def mdd(self, power: float = 0.8, n_seeds: int | float | None = None) -> float:
        """``(t_{1-(1-level)/2, df} + t_{power, df}) * se`` with ``n_seeds`` seeds (default: the run's)."""
        n = self.n_seeds if n_seeds is None else n_seeds
        se = self.se if n_seeds is None else self.se_with(n)
        df = self.df if n_seeds is None else self.df_with(n)
        return _tq(1 - (1 - self.level) / 2, df) * se + _tq(power, df) * se

    def floor(self, power: float = 0.8) -> float:
        """The MDD with infinitely many seeds on these days (the shared day component alone)."""
        if self.n_seeds < 2:
            return float("nan")
        return self.mdd(power, float("inf"))

    def seeds_needed(self, delta: float, power: float = 0.8, max_seeds: int = 10_000) -> int | None:
        """Fewest seeds whose MDD is at most ``|delta|``; None when no number of seeds can (``|delta|``
        at or below the floor) or the run has one seed (no seed variance to extrapolate)."""
        delta = abs(float(delta))
        if self.n_seeds < 2 or not np.isfinite(self.se) or delta <= self.floor(power):
            return None
        lo, hi = 2, max_seeds
        if self.mdd(power, hi) > delta:
            return None
        while lo < hi:  # the MDD falls with seeds
            mid = (lo + hi) // 2
            if self.mdd(power, mid) <= delta:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def statement(self, delta: float, what: str = "a difference", power: float = 0.8) -> str:
        """One sentence: can this run resolve ``delta``, and if not, what would."""
        head = (f"{what} of {abs(delta):.3f}: minimum detectable difference with {self.n_seeds} seed(s) and "
                f"{self.n_days} days is {self.mdd(power):.3f} ({int(round(self.level * 100))}% two-sided t test, "
                f"{int(round(power * 100))}% power, se {self.se:.4f}, {self.df:.1f} df)")
        need = self.seeds_needed(delta, power)
        if need is None:
            if self.n_seeds < 2:
                return head + "; one seed cannot say how many seeds would resolve it"
            return (head + f"; no number of seeds resolves this on these days (the shared days alone allow "
                           f"{self.floor(power):.3f}): more days are needed")
        if need <= self.n_seeds:
            return head + f"; resolvable (needs {need} seed(s))"
        return head + f"; needs about {need} seeds"

    # ------------------------------------------------------------ tests
    def p_value(self, threshold: float = 0.0) -> float:
        """Two-sided p-value of ``estimate = threshold``."""
        if not (np.isfinite(self.se) and self.se > 0):
            return float("nan")
        return float(2 * sps.t.sf(abs(self.estimate - threshold) / self.se, self.df))

    def at(self, level: float) -> tuple[float, float]:
        """The interval at another level (same se and df)."""
        q = _tq(1 - (1 - level) / 2, self.df) * self.se
        return self.estimate - q, self.estimate + q

    def above(self, threshold: float = 0.0) -> str:
        """Verdict on "the quantity exceeds ``threshold``" at this interval's level."""
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            return UNRESOLVED
        return HOLDS if self.lo > threshold else FAILS if self.hi < threshold else UNRESOLVED

    def below(self, threshold: float = 0.0) -> str:
        return {HOLDS: FAILS, FAILS: HOLDS}.get(self.above(threshold), UNRESOLVED)

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "lo": self.lo, "hi": self.hi, "se": self.se, "df": self.df,
                "seed_var": self.seed_var, "day_var": self.day_var, "mdd": self.mdd(), "floor": self.floor(),
                "n_seeds": self.n_seeds, "n_days": self.n_days}


def _tq(p: float, df: float) -> float:
    if not np.isfinite(df):
        return float(sps.norm.ppf(p))
    return float(sps.t.ppf(p, df)) if df > 0 else float("nan")


def variance_terms(p: Parts, n_seeds: int | float) -> list[tuple[float, float]]:
    """``(c_k, df_k)``: the seed and the shared day term whose sum is ``se^2`` of a run on these days
    with ``n_seeds`` seeds (the run's own for ``n_seeds = S``; ``inf`` gives the floor)."""
    S = p.n_seeds
    if S < 2 or not np.isfinite(p.v1):  # one seed: conditional on it
        return [(p.v2, p.nu1)]
    n = float(n_seeds)
    day = max(p.v2 - p.v3, 0.0)
    terms = [(p.v1 * S / n, n - 1.0)] if np.isfinite(n) else []
    if day > 0:
        terms.append((day, p.nu1))
    return terms


def from_parts(p: Parts, horizon: int, level: float = 0.95) -> DifferenceCI:
    """The ``DifferenceCI`` of precomputed ``Parts``."""
    terms = variance_terms(p, p.n_seeds)
    se2 = sum(c for c, _ in terms)
    if p.n_seeds >= 2 and np.isfinite(p.v1):
        day_var = max(p.v2 - p.v3, 0.0)
        seed_var = se2 - day_var
    else:
        seed_var, day_var = float("nan"), p.v2
    se = float(np.sqrt(se2)) if np.isfinite(se2) and se2 >= 0 else float("nan")
    df = satterthwaite(terms) if np.isfinite(se2) else float("nan")
    q = _tq(1 - (1 - level) / 2, df) * se if np.isfinite(se) and np.isfinite(df) else float("nan")
    return DifferenceCI(p.estimate, p.estimate - q, p.estimate + q, se, df, level, seed_var, day_var,
                        p.n_seeds, p.n_days, int(horizon), p)


def difference_ci(d: npt.ArrayLike, horizon: int, level: float = 0.95) -> DifferenceCI:
    """The mean of a seeds x days difference array ``d`` (NaN = missing) with its ``level`` t interval
    ``dbar -+ t_{1-(1-level)/2, df} * se`` (module docstring: se from the seed and the shared day
    component, Hansen-Hodrick with lag ``horizon - 1``, Satterthwaite ``df``)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return from_parts(variance_parts(d, horizon), horizon, level)


def minimum_detectable_difference(d: npt.ArrayLike, horizon: int, level: float = 0.95, power: float = 0.8) -> float:
    """``(t_{1-(1-level)/2, df} + t_{power, df}) * se``: the difference a two-sided t test at ``1 - level``
    detects with probability ``power``, with the same se and df as ``difference_ci``."""
    return difference_ci(d, horizon, level).mdd(power)


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and t half-width of independent values (e.g. one per seed), non-finite ones left out; the
    half-width is NaN with fewer than two values. For rows whose units are independent by design; a
    difference over seeds x days uses ``difference_ci``."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(_tq(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))

