"""The day-block bootstrap, the earlier resolution estimate, how many types a leader really uses, and
the learned alpha.

Every table's CI, MDD and claim now comes from ``experiments.stats.inference`` (one standard error
per contrast, a t interval). What stays here:

* ``DayBlockBootstrap``: seeds with replacement and days in circular blocks as long as the return
  horizon, the same draw for every series; it still gives the interval of a statistic that is not a
  mean (the median learned alpha of ``experiments.paper.claims``);
* ``paired_bootstrap`` and ``Resolution`` / ``resolution``: the percentile CI and the MDD the tables
  printed before; ``benchmarks/bench_inference_coverage.py`` measures them beside the t interval on
  simulated data with a known answer (they under-cover where the day noise all seeds share dominates:
  blocks of h days catch only part of the long-run variance of overlapping returns, and the MDD uses a
  different se than the CI);
* the verdict words (``HOLDS``, ``FAILS``, ``UNRESOLVED``), the leaders' effective number of types and
  ``seed_day_matrix``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

HOLDS, FAILS, UNRESOLVED = "holds", "does not hold", "unresolved"


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval and standard error."""

    point: float
    lo: float
    hi: float
    se: float

    def above(self, threshold: float = 0.0) -> str:
        """Verdict on "the quantity exceeds ``threshold``": holds / does not hold / unresolved."""
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            return UNRESOLVED
        if self.lo > threshold:
            return HOLDS
        if self.hi < threshold:
            return FAILS
        return UNRESOLVED

    def below(self, threshold: float = 0.0) -> str:
        """Verdict on "the quantity is below ``threshold``"."""
        return {HOLDS: FAILS, FAILS: HOLDS}.get(self.above(threshold), UNRESOLVED)

    def within(self, lo: float, hi: float) -> str:
        """Verdict on "the quantity lies in [lo, hi]": holds when the whole interval does, does not
        hold when the interval lies entirely outside, unresolved otherwise."""
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            return UNRESOLVED
        if lo <= self.lo and self.hi <= hi:
            return HOLDS
        if self.hi < lo or self.lo > hi:
            return FAILS
        return UNRESOLVED

    def as_dict(self) -> dict[str, float]:
        return {"point": self.point, "lo": self.lo, "hi": self.hi, "se": self.se}


class DayBlockBootstrap:
    """Resampling indices for ``(seeds, days)`` arrays, drawn once and applied to every series.

    Each of ``n_boot`` resamples draws ``n_seeds`` seeds with replacement and the days in circular
    blocks of ``block`` days (the same days for every seed). Using one draw for every compared
    series keeps all pairings (seed, day and config) intact. Statistics skip NaN days.
    """

    def __init__(self, n_seeds: int, n_days: int, *, block: int = 1, n_boot: int = 2000,
                 rng: np.random.Generator | None = None) -> None:
        if n_seeds < 1 or n_days < 1 or n_boot < 1:
            raise ValueError(f"need n_seeds, n_days and n_boot >= 1, got {n_seeds}, {n_days}, {n_boot}")
        rng = rng or np.random.default_rng(0)
        self.shape = (int(n_seeds), int(n_days))
        self.block = max(1, min(int(block), n_days))
        n_blocks = -(-n_days // self.block)
        starts = rng.integers(0, n_days, size=(n_boot, n_blocks))
        self.days = ((starts[:, :, None] + np.arange(self.block)) % n_days).reshape(n_boot, -1)[:, :n_days]
        self.seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))

    def sample(self, x: npt.ArrayLike) -> FloatArray:
        """``(n_boot, seeds, days)`` resampled copies of ``x`` ``(seeds, days)``."""
        a = np.asarray(x, dtype=np.float64)
        if a.shape != self.shape:
            raise ValueError(f"expected a (seeds, days) array of shape {self.shape}, got {a.shape}")
        return a[self.seeds[:, :, None], self.days[:, None, :]]

    def means(self, x: npt.ArrayLike) -> FloatArray:
        """``(n_boot,)`` NaN-skipping means of the resamples (NaN where a resample has no value)."""
        s = self.sample(x)
        fin = np.isfinite(s)
        cnt = fin.sum((1, 2))
        return np.where(cnt > 0, np.where(fin, s, 0.0).sum((1, 2)) / np.maximum(cnt, 1), np.nan)

    def medians(self, x: npt.ArrayLike) -> FloatArray:
        s = self.sample(x).reshape(len(self.seeds), -1)
        out = np.full(s.shape[0], np.nan)
        ok = np.isfinite(s).any(1)
        out[ok] = np.nanmedian(s[ok], axis=1)
        return out

    def interval(self, stats: FloatArray, point: float, ci: float = 0.95) -> Interval:
        """Percentile interval of bootstrap ``stats`` around ``point``."""
        s = np.asarray(stats, dtype=np.float64)
        s = s[np.isfinite(s)]
        if s.size == 0 or not np.isfinite(point):
            return Interval(float(point), np.nan, np.nan, np.nan)
        lo, hi = np.quantile(s, [(1 - ci) / 2, 1 - (1 - ci) / 2])
        return Interval(float(point), float(lo), float(hi), float(s.std(ddof=1)) if s.size > 1 else np.nan)

    def mean(self, x: npt.ArrayLike, ci: float = 0.95) -> Interval:
        """The NaN-skipping mean of ``x`` ``(seeds, days)`` with its interval."""
        a = np.asarray(x, dtype=np.float64)
        return self.interval(self.means(a), _nanmean(a), ci)

    def median(self, x: npt.ArrayLike, ci: float = 0.95) -> Interval:
        a = np.asarray(x, dtype=np.float64)
        point = float(np.nanmedian(a)) if np.isfinite(a).any() else np.nan
        return self.interval(self.medians(a), point, ci)

    def ratio(self, num: npt.ArrayLike, den: npt.ArrayLike, ci: float = 0.95) -> Interval:
        """``mean(num) / mean(den)`` with its interval (NaN resamples where the denominator is 0)."""
        n, d = np.asarray(num, np.float64), np.asarray(den, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            stats = self.means(n) / self.means(d)
            point = _nanmean(n) / _nanmean(d)
        return self.interval(np.where(np.isfinite(stats), stats, np.nan), float(point), ci)


def _nanmean(a: FloatArray) -> float:
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def paired_bootstrap(diff: npt.ArrayLike, *, n_boot: int = 2000, ci: float = 0.95, block: int = 1,
                     rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean of a paired difference ``(seeds, days)`` (NaN = missing) and its percentile CI
    (``DayBlockBootstrap``); the CI is NaN without resamples, days, or finite values."""
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"diff must be (seeds, days), got shape {d.shape}")
    point = _nanmean(d)
    S, T = d.shape
    if n_boot <= 0 or T == 0 or S == 0 or not np.isfinite(point):
        return point, float("nan"), float("nan")
    boot = DayBlockBootstrap(S, T, block=block, n_boot=n_boot, rng=rng)
    iv = boot.interval(boot.means(d), point, ci)
    return iv.point, iv.lo, iv.hi


# ---------------------------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class Resolution:
    """How precisely a run pins down a paired difference, and how that changes with seeds.

    Model ``d[s, t] = mu + a_s + b_t + e_st``: ``a`` a seed effect, ``b`` the day effect every seed shares
    (the same days, the same market), ``e`` the seed-by-day rest. Then
    ``se(S)^2 = seed_var / S + day_var``, where ``seed_var`` is the variance across seeds of a seed's mean
    difference (``a`` plus that seed's own ``e`` noise; more seeds shrink it) and ``day_var`` the part
    of the block-bootstrap variance over days that all seeds share (``b``; more seeds do not remove it).
    ``resolution`` separates the two with the per-seed and the seed-averaged bootstrap variances. The
    minimum detectable difference is ``(z_{1-(1-ci)/2} + z_{power}) * se`` (two-sided test, level 1 - ci).
    """

    seed_var: float
    day_var: float
    n_seeds: int
    ci: float = 0.95
    power: float = 0.8

    @property
    def z(self) -> float:
        nd = NormalDist()
        return nd.inv_cdf(1 - (1 - self.ci) / 2) + nd.inv_cdf(self.power)

    def se(self, n_seeds: int | None = None) -> float:
        s = self.n_seeds if n_seeds is None else int(n_seeds)
        seed_var = self.seed_var if np.isfinite(self.seed_var) else 0.0
        return float(np.sqrt(seed_var / max(s, 1) + self.day_var))

    def mdd(self, n_seeds: int | None = None) -> float:
        """Minimum detectable difference with ``n_seeds`` seeds (default: the run's)."""
        return self.z * self.se(n_seeds)

    @property
    def floor(self) -> float:
        """The detectable difference with infinitely many seeds on these days."""
        return self.z * float(np.sqrt(self.day_var))

    def seeds_needed(self, delta: float, max_seeds: int = 10_000) -> int | None:
        """Fewest seeds whose MDD is at most ``|delta|``; None when no number of seeds can."""
        delta = abs(float(delta))
        if not np.isfinite(self.day_var) or delta <= self.floor:
            return None
        seed_var = self.seed_var if np.isfinite(self.seed_var) else 0.0
        need = seed_var / ((delta / self.z) ** 2 - self.day_var)
        s = max(1, int(np.ceil(need - 1e-12)))
        return s if s <= max_seeds else None

    def statement(self, delta: float, what: str = "a difference") -> str:
        """One sentence: can this run resolve ``delta``, and if not, what would."""
        need = self.seeds_needed(delta)
        head = (f"{what} of {abs(delta):.3f}: minimum detectable difference with {self.n_seeds} seed(s) is "
                f"{self.mdd():.3f} ({int(self.ci * 100)}% test, {int(self.power * 100)}% power)")
        if need is None:
            return (head + f"; NOT resolvable with any number of seeds on these days (the shared days alone "
                           f"allow {self.floor:.3f}): more days are needed")
        if need <= self.n_seeds:
            return head + f"; resolvable (needs {need} seed(s))"
        return head + f"; needs about {need} seeds"

    def as_dict(self) -> dict[str, float]:
        return {"seed_var": self.seed_var, "day_var": self.day_var, "n_seeds": self.n_seeds,
                "se": self.se(), "mdd": self.mdd(), "floor": self.floor}


def resolution(diff: npt.ArrayLike, *, block: int = 1, n_boot: int = 2000, ci: float = 0.95, power: float = 0.8,
               rng: np.random.Generator | None = None) -> Resolution:
    """The ``Resolution`` of a paired difference ``(seeds, days)`` (see the class for the model)."""
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"diff must be a non-empty (seeds, days) array, got shape {d.shape}")
    with warnings.catch_warnings():  # all-NaN rows / columns are dropped or skipped below
        warnings.simplefilter("ignore", RuntimeWarning)
        return _resolution(d, block, n_boot, ci, power, rng)


def _resolution(d: FloatArray, block: int, n_boot: int, ci: float, power: float,
                rng: np.random.Generator | None) -> Resolution:
    S = d.shape[0]
    seed_means = np.nanmean(d, axis=1)
    day_means = np.nanmean(d, axis=0)
    seed_means = seed_means[np.isfinite(seed_means)]
    seed_var = float(seed_means.var(ddof=1)) if seed_means.size > 1 else float("nan")
    ok = np.isfinite(day_means)
    if not ok.any():
        return Resolution(seed_var, float("nan"), S, ci, power)
    boot = DayBlockBootstrap(1, int(ok.sum()), block=block, n_boot=n_boot, rng=rng)
    v_avg = float(np.nanvar(boot.means(day_means[ok][None]), ddof=1))  # = V_b + V_e / S
    if S < 2:
        day_var = v_avg  # one seed cannot tell shared from own day noise: all of it counts as shared
    else:
        v_one = float(np.nanmean([np.nanvar(boot.means(row[ok][None]), ddof=1) for row in d]))  # = V_b + V_e
        v_e = max(v_one - v_avg, 0.0) * S / (S - 1)
        day_var = max(v_avg - v_e / S, 0.0)
    return Resolution(seed_var, day_var, S, ci, power)


# ---------------------------------------------------------------------------------------- leaders' choices
def effective_types(weights: npt.ArrayLike, order: int = 1) -> FloatArray:
    """Effective number of types of weights ``(..., K)`` (normalised per row): the Hill number of
    ``order`` 1 (exp of the Shannon entropy) or 2 (inverse Herfindahl, ``1 / sum w^2``). Uniform
    weights over k types give k; all weight on one type gives 1."""
    w = np.asarray(weights, dtype=np.float64)
    s = w.sum(-1, keepdims=True)
    if (w < 0).any() or not (s > 0).all():
        raise ValueError("weights must be nonnegative with a positive sum per row")
    p = w / s
    if order == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
        return np.exp(h)
    if order == 2:
        return 1.0 / (p * p).sum(-1)
    raise ValueError(f"order must be 1 (exp entropy) or 2 (inverse HHI), got {order}")


def leader_choices(daily: pd.DataFrame, weights: pd.DataFrame, order: int = 1) -> pd.DataFrame:
    """Per config, over evaluation days and seeds: the mean effective number of types of the applied
    weights (``effective_types``; the sweep's tidy ``weights`` frame: config, seed, day, type, weight),
    its mean number of types (types merged by the engine's draw differ by seed), and the median and
    mean alpha."""
    ev = daily.loc[daily["eval"], ["config", "seed", "day", "alpha"]]
    rows = []
    for config, w in weights.groupby("config", sort=False):  # configs differ in their number of types
        wide = w.pivot_table(index=["seed", "day"], columns="type", values="weight")
        keys = wide.index.to_frame(index=False)
        keys["n_types"] = wide.notna().sum(axis=1).to_numpy()  # merged types: the count can differ by seed
        keys["eff_types"] = effective_types(wide.fillna(0.0).to_numpy(dtype=np.float64), order)
        m = keys.merge(ev[ev["config"] == config], on=["seed", "day"], how="inner")
        rows.append({"config": config, "eff_types": m["eff_types"].mean(), "n_types": m["n_types"].mean(),
                     "alpha_median": m["alpha"].median(), "alpha_mean": m["alpha"].mean()})
    return pd.DataFrame(rows, columns=["config", "eff_types", "n_types", "alpha_median", "alpha_mean"])


def seed_day_matrix(daily: pd.DataFrame, config: str, column: str, seeds: list[int] | None = None,
                    days: list[int] | None = None) -> FloatArray:
    """``(seeds, days)`` array of one config's evaluation-day values of ``column`` (NaN where absent),
    on the given seeds and days (default: the config's own), so several configs line up."""
    ev = daily[daily["eval"] & (daily["config"] == config)]
    wide = ev.pivot(index="seed", columns="day", values=column)
    return wide.reindex(index=seeds if seeds is not None else wide.index,
                        columns=days if days is not None else wide.columns).to_numpy(dtype=np.float64)
