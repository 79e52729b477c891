"""No-regret followers: Hedge (multiplicative weights) over a strategy library, with its certification gap.

Why: the incentives core asks what a *rational* follower would report; this module asks what a *learning*
one does. Each follower runs full-information Hedge (Freund & Schapire 1997; Littlestone & Warmuth 1994) over
a library of report strategies (truthful, shade toward an anchor, exaggerate away from it, constant). Every
day each follower samples a strategy from its weights, the mechanism pays the realised profile, and each
follower learns the pay *every* library strategy would have earned against the others' realised reports:
``rule.deviation_pay`` evaluates all strategies for all followers at once, shape (strategies, followers, 1,
stocks). The only Python loop is over days (the anchor and the consensus depend on yesterday's play), and each
step is vectorised over followers, strategies and stocks.

Certification: the empirical distribution of play is an eps-coarse correlated equilibrium (CCE) with eps =
the largest average regret, ``max_i max_k (1/T) sum_t [u_i(k, s_-i^t) - u_i(s^t)]`` (Hart & Mas-Colell
2000; the CCE gap StackelbergPOMDP logs, Brero et al. 2022). It is a statement *relative to the library*:
deviations outside it are not certified (a lower bound on the true gap, as ``responses`` labels searches).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ._base import FloatArray, PayContext, PaymentRule
from .market import SIMULATION_PRIOR_PRECISION, InformationMarket
from .responses import TRUTHFUL, DeviationFamily, apply_params


def _name(row: FloatArray) -> str:
    a, b, c, k, d = (float(v) for v in row)
    if np.allclose(row, TRUTHFUL):
        return "truthful"
    if a == 0.0 and b == 0.0 and c == 0.0:
        return f"constant:{d:g}"
    if c == 0.0 and d == 0.0 and np.isclose(a + b, 1.0):
        return f"shade:{b:g}" if b > 0 else f"exaggerate:{-b:g}"
    return f"a={a:g},b={b:g},c={c:g},k={k:g},d={d:g}"


@dataclass(frozen=True)
class StrategyLibrary(DeviationFamily):
    """A named set of report strategies, rows (a, b, c, k, d) as in ``responses.DeviationFamily``.

    It *is* a ``DeviationFamily``, so ``responses.best_response_search(..., family=library)`` searches the
    same strategies the learners play. ``shade:b`` = ``(1-b) view + b anchor`` (toward the anchor, e.g.
    yesterday's consensus); ``exaggerate:c`` = ``(1+c) view - c anchor`` (away from it); ``constant:d``.
    """

    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.names:
            object.__setattr__(self, "names", tuple(_name(row) for row in self.params))
        if len(self.names) != len(self.params):
            raise ValueError(f"{len(self.names)} names for {len(self.params)} strategies")

    @classmethod
    def standard(cls, shade: Iterable[float] = (0.25, 0.5, 0.75), exaggerate: Iterable[float] = (0.25, 0.5),
                 constants: Iterable[float] = (0.0,)) -> StrategyLibrary:
        """Truthful, shade toward the anchor by each b, exaggerate away from it by each c, constants d."""
        rows = [TRUTHFUL]
        rows += [np.array([1.0 - b, b, 0.0, 1.0, 0.0]) for b in shade]
        rows += [np.array([1.0 + c, -c, 0.0, 1.0, 0.0]) for c in exaggerate]
        rows += [np.array([0.0, 0.0, 0.0, 1.0, d]) for d in constants]
        return cls(np.array(rows))

    @classmethod
    def grid(cls, a: npt.ArrayLike, b: npt.ArrayLike) -> StrategyLibrary:
        """The product grid ``a*view + b*anchor`` (for convergence toward a linear equilibrium)."""
        return cls(DeviationFamily.linear(a, b).params)

    def index(self, name: str) -> int:
        return self.names.index(name)


def strategy_reports(params: FloatArray, views: FloatArray, anchor: FloatArray) -> FloatArray:
    """The game's reports (M, ...) of M library rows (a, b, c, k, d) on views and an anchor of one shape (agents,
    stocks) or (days, agents, stocks), clipped to [-1, 1] (the game's range), NaN where the agent did not look."""
    ones = (1,) * np.ndim(views)
    a, b, c, k, d = (params[:, j].reshape(-1, *ones) for j in range(5))
    mag, sgn = np.abs(views), np.sign(views)
    with np.errstate(invalid="ignore"):
        bent = np.where(c != 0, c * sgn * mag ** np.where(c != 0, k, 1.0), 0.0)
        out = a * views + b * anchor + d + bent
    out = np.where(np.isfinite(views), out, np.nan)
    return np.clip(out, -1.0, 1.0)


@dataclass(frozen=True)
class Day:
    """One day for the learners: views (F, S), the realised target (S,), optional anchor (S,) (None =
    yesterday's consensus of the realised reports) and, on the information market, x (F, S) and y (S,)."""

    views: FloatArray
    target: FloatArray
    anchor: FloatArray | None = None
    private: FloatArray | None = None
    public: FloatArray | None = None


def days_from_arrays(views: FloatArray, target: FloatArray, anchor: FloatArray | None = None,
                     private: FloatArray | None = None, public: FloatArray | None = None) -> Iterator[Day]:
    """Slice (F, D, S) / (D, S) arrays into days (e.g. an ``InformationMarket.draw()``)."""
    for t in range(target.shape[0]):
        yield Day(views[:, t], target[t], None if anchor is None else anchor[t],
                  None if private is None else private[:, t], None if public is None else public[t])


def market_days(market: InformationMarket, seed: int | None = None, anchor_public: bool = True) -> Iterator[Day]:
    """Days of the information market drawn one at a time (memory O(F S), not O(F D S)); same law as
    ``market.draw`` (not the same numbers). ``anchor_public``: the anchor is the public signal y (the Morris-Shin
    coordination point); False: yesterday's consensus."""
    rng = np.random.default_rng(market.seed if seed is None else seed)
    f, s = market.n_followers, market.n_stocks
    tau = market.prior_precision if market.prior_precision > 0 else SIMULATION_PRIOR_PRECISION
    sd_x, sd_y = 1.0 / np.sqrt(market.private_precision), 1.0 / np.sqrt(market.public_precision)
    kx, ky = market.view_coef
    for _ in range(market.n_days):
        theta = rng.normal(0.0, 1.0 / np.sqrt(tau), s)
        y = theta + rng.normal(0.0, sd_y, s)
        common = np.sqrt(market.rho) * rng.normal(0.0, sd_x, s)
        x = theta + common + np.sqrt(1 - market.rho) * rng.normal(0.0, sd_x, (f, s))
        yield Day(kx * x + ky * y, theta, y if anchor_public else None, x, y)


@dataclass(frozen=True)
class HedgeRun:
    """A Hedge run: final weights, regrets, the certification gap and learning curves (arrays over days).

    ``gap`` = max_i max_k average regret against the realised play (eps of the eps-CCE, sampled play);
    ``gap_expected`` the same against each follower's mixture (less sampling noise). Curves (T,):
    ``gap_curve`` the running gap, ``deviation_gain`` the day's mean (over followers) best-in-library gain
    over the realised pay, ``private_weight`` the pooled relative private weight of the day's reports,
    ``herding`` corr(report, anchor) - corr(view, anchor) averaged over followers; ``mixture`` (T, K) the
    followers' mean weights. ``moments`` (T, 3, 3+1): the day's pooled normal equations of report ~ 1 + x + y,
    so ``window_private_weight`` can pool any window exactly.
    """

    library: StrategyLibrary
    weights: FloatArray          # (F, K) final Hedge weights
    regret: FloatArray           # (F,) average regret of each follower (sampled play)
    gap: float
    gap_expected: float
    eta: float
    gap_curve: FloatArray
    deviation_gain: FloatArray
    private_weight: FloatArray
    herding: FloatArray
    mixture: FloatArray
    moments: FloatArray = field(repr=False)
    mean_pay: float = float("nan")
    picks: npt.NDArray[np.int64] | None = field(default=None, repr=False)  # (T, F) strategy played each day
    pay_range: float = float("nan")  # mean over days and followers of max - min pay over the library

    @property
    def relative_gap(self) -> float:
        """The certification gap over the library's pay range (scale-free: comparable across rules)."""
        return self.gap / self.pay_range if self.pay_range > 0 else float("nan")

    def window_private_weight(self, start: int = 0, stop: int | None = None) -> float:
        """Pooled relative private weight k_x / (k_x + k_y) of the reports of days [start, stop)."""
        m = self.moments[start:stop].sum(0)
        coef = np.linalg.solve(m[:, :3], m[:, 3])
        return float(coef[1] / (coef[1] + coef[2]))

    def mean_strategy(self, start: int = 0, stop: int | None = None) -> FloatArray:
        """Average library row played over days [start, stop) (weights = the followers' mean mixture)."""
        return self.mixture[start:stop].mean(0) @ self.library.params


def _pearson_rows(a: FloatArray, b: FloatArray) -> FloatArray:
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def quadratic_pays(rule: PaymentRule, library: DeviationFamily, views: FloatArray, anchor: FloatArray,
                   target: FloatArray, played: FloatArray, omega: FloatArray) -> FloatArray | None:
    """Pay (K, F) of every library strategy for every follower on one day, for a quadratic rule, from moments.

    ``pay_i = -sum_rows lam (s r_i + u theta + v Abar_{-i})^2 + (terms free of r_i)`` (``quadratic_terms``).
    A strategy's report is ``P_k . B_i`` on the basis ``B_i = (view, anchor, 1, sign(v)|v|^k ...)``, so with
    ``Z_i = (B_i, theta, Abar_{-i})`` and its stock-averaged Gram matrix ``M_i`` each pay is a quadratic form
    ``-sum lam e_k' M_i e_k``. The free terms are dropped: they cancel in regrets and in Hedge's weights (the
    day's *level* of pay is not the rule's). None if the rule is not quadratic.
    """
    f = views.shape[0]
    if rule.quadratic_terms(float(omega[0])) is None:
        return None
    prm = library.params
    exps = np.unique(prm[prm[:, 2] != 0, 3])
    mag, sgn = np.abs(views), np.sign(views)
    basis = [views, np.broadcast_to(anchor, views.shape), np.ones_like(views)]
    basis += [sgn * mag**e for e in exps]
    tot = (omega[:, None] * played).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        abar = np.where(omega[:, None] < 1.0, (tot - omega[:, None] * played) / (1.0 - omega[:, None]), 0.0)
    z = np.empty((f, len(basis) + 2, views.shape[1]))                             # (F, J+2, S)
    for n, col in enumerate(basis + [np.broadcast_to(target, views.shape), abar]):
        z[:, n] = col
    gram = np.matmul(z, z.transpose(0, 2, 1)) / views.shape[1]                    # batched: BLAS
    j = len(basis)
    coef = np.zeros((len(prm), j))
    coef[:, :3] = prm[:, [0, 1, 4]]
    for n, e in enumerate(exps):
        coef[:, 3 + n] = np.where(prm[:, 3] == e, prm[:, 2], 0.0)
    out = np.zeros((len(prm), f))
    for w in np.unique(omega):  # one set of terms per distinct own weight (usually one)
        sel = omega == w
        for lam, s, u, v in np.asarray(rule.quadratic_terms(float(w)), dtype=np.float64):
            e = np.concatenate([s * coef, np.full((len(prm), 1), u), np.full((len(prm), 1), v)], axis=1)
            out[:, sel] -= lam * np.einsum("ki,fij,kj->kf", e, gram[sel], e)
    return out


def hedge(rule: PaymentRule, library: StrategyLibrary, days: Iterable[Day], n_days: int,
          weights: npt.ArrayLike | None = None, eta: float | None = None, seed: int = 0,
          min_stocks: int = 5, fast: bool = True) -> HedgeRun:
    """Run full-information Hedge for every follower over ``n_days`` days of ``days``.

    ``eta`` None: ``sqrt(8 ln K / T) / R`` with R the day-0 pay range (max - min over strategies, median over
    followers), the rate of the standard regret bound ``R sqrt(T ln K / 2)`` (Cesa-Bianchi & Lugosi 2006,
    thm 2.2). ``weights``: consensus/aggregate weights omega (the leader's, part of the commitment).
    ``fast``: quadratic rules (``rule.quadratic_terms``) get every strategy's pay from per-follower moment
    matrices (``quadratic_pays``), O(F S J^2 + K F J^2) instead of O(K F S); other rules, or a day with missing
    reports, use ``rule.deviation_pay`` on all (strategies, followers, stocks) at once.
    """
    rng = np.random.default_rng(seed)
    params = library.params[:, None, :]
    k = len(library)
    cum: FloatArray | None = None     # (K, F) cumulative pay of every strategy
    own = own_exp = None
    curves = {n: np.full(n_days, np.nan) for n in ("gap", "dev", "pw", "herd")}
    mixture = np.zeros((n_days, k))
    picks = np.zeros((n_days, 0), dtype=np.int64)
    pay_range = 0.0
    moments = np.zeros((n_days, 3, 4))
    prev_cons: FloatArray | None = None
    rate = eta
    w_arr = None if weights is None else np.asarray(weights, dtype=np.float64)
    t = -1
    for t, day in enumerate(days):
        if t >= n_days:
            break
        f = day.views.shape[0]
        if cum is None:
            cum, own, own_exp = np.zeros((k, f)), np.zeros(f), np.zeros(f)
        anchor = day.anchor if day.anchor is not None else prev_cons if prev_cons is not None else 0 * day.target
        z = (rate or 0.0) * (cum - cum.max(0))
        p = np.exp(z)
        p /= p.sum(0)
        pick = (p.cumsum(0) < rng.random(f)).sum(0).clip(max=k - 1)                 # (F,) sampled strategies
        played = apply_params(library.params[pick], day.views[:, None, :], anchor[None, :])  # (F, 1, S)
        ctx = PayContext(day.target[None, :], w_arr, min_stocks=min_stocks)
        if fast and np.isfinite(played).all():
            pays = quadratic_pays(rule, library, day.views, anchor, day.target, played[:, 0], ctx.omega(f))
        else:
            pays = None
        if pays is None:
            cands = apply_params(params, day.views[:, None, :], anchor[None, :])    # (K, F, 1, S)
            pays = np.nan_to_num(rule.deviation_pay(cands, played, ctx)[:, :, 0])   # (K, F)
        if rate is None:
            spread = float(np.median(pays.max(0) - pays.min(0))) or 1.0
            rate = float(np.sqrt(8.0 * np.log(k) / n_days) / spread)
        mine = pays[pick, np.arange(f)]
        if picks.shape[1] != f:
            picks = np.zeros((n_days, f), dtype=np.int64)
        picks[t] = pick
        pay_range += float((pays.max(0) - pays.min(0)).mean()) / n_days
        cum += pays
        own += mine
        own_exp += (p * pays).sum(0)
        curves["gap"][t] = float((cum.max(0) - own).max()) / (t + 1)
        curves["dev"][t] = float((pays.max(0) - mine).mean())
        mixture[t] = p.mean(1)
        rep = played[:, 0]
        if np.ptp(anchor) > 0:  # day 0's consensus anchor is flat: no herding measurable
            curves["herd"][t] = float(np.nanmean(_pearson_rows(rep, anchor) - _pearson_rows(day.views, anchor)))
        if day.private is not None and day.public is not None:
            design = np.empty((4, rep.size))  # rows 1, x, y, report: one (4 x FS) @ (FS x 4) product
            design[0], design[1], design[2], design[3] = 1.0, day.private.ravel(), np.broadcast_to(
                day.public, rep.shape).ravel(), rep.ravel()
            moments[t] = (design[:3] @ design.T)
            coef = np.linalg.lstsq(moments[t, :, :3], moments[t, :, 3], rcond=None)[0]
            curves["pw"][t] = coef[1] / (coef[1] + coef[2])
        w = np.full(f, 1.0 / f) if w_arr is None else w_arr / w_arr.sum()
        prev_cons = (w[:, None] * rep).sum(0)
    if cum is None or own is None or own_exp is None or t + 1 < n_days:
        raise ValueError(f"days ended after {t + 1} of n_days={n_days}")
    z = (rate or 0.0) * (cum - cum.max(0))
    p = np.exp(z) / np.exp(z).sum(0)
    regret = (cum.max(0) - own) / n_days
    return HedgeRun(library, p.T, regret, float(regret.max()), float((cum.max(0) - own_exp).max()) / n_days,
                    float(rate or 0.0), curves["gap"], curves["dev"], curves["pw"], curves["herd"], mixture,
                    moments, float(own.mean()) / n_days, picks, pay_range)


def played_reports(run: HedgeRun, views: FloatArray, anchor: FloatArray | None = None,
                   weights: npt.ArrayLike | None = None) -> FloatArray:
    """The reports (F, T, S) the learners played, rebuilt from ``run.picks`` on the days they saw.

    ``anchor`` (T, S) as given to ``hedge`` (None: yesterday's consensus of the played reports, day 0 zero,
    rebuilt day by day as ``hedge`` did), so the profile can be measured like any responder's.
    """
    if run.picks is None:
        raise ValueError("the run has no recorded picks")
    prm = run.library.params[run.picks.T]                                          # (F, T, 5)
    if anchor is not None:
        return _rows_reports(prm, views, anchor)
    f, n, s = views.shape
    w = np.full(f, 1.0 / f) if weights is None else np.asarray(weights, float) / np.sum(weights)
    out, prev = np.empty((f, n, s)), np.zeros((1, s))
    for t in range(n):  # the anchor depends on yesterday's play: a loop over days only
        out[:, t] = _rows_reports(prm[:, t:t + 1], views[:, t:t + 1], prev)[:, 0]
        prev = (w[:, None] * out[:, t]).sum(0)[None, :]
    return out


def _rows_reports(prm: FloatArray, views: FloatArray, anchor: FloatArray) -> FloatArray:
    """Reports of one strategy row per (follower, day): prm (F, T, 5), views (F, T, S), anchor (T, S)."""
    a, b, c, k, d = (prm[..., j, None] for j in range(5))
    with np.errstate(invalid="ignore"):
        bent = np.where(c != 0, c * np.sign(views) * np.abs(views) ** k, 0.0)
    return a * views + b * anchor + d + bent


def hedge_on_market(rule: PaymentRule, market: InformationMarket, library: StrategyLibrary | None = None,
                    anchor_public: bool = True, weights: npt.ArrayLike | None = None, eta: float | None = None,
                    seed: int = 0) -> HedgeRun:
    """Hedge followers on the information market, days drawn on the fly (``market_days``)."""
    lib = library or StrategyLibrary.standard()
    return hedge(rule, lib, market_days(market, seed, anchor_public), market.n_days, weights, eta, seed)
