"""Payment rules that pay against the realised target: proper scores, the beauty contest, Rank IC skill,
leave-one-out, a rank tournament and the MBI differentiable price. Each class states its claim and reference;
conventions (shapes, NaN = not reported) are in ``_base``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from mass_env.game.metrics import RankICScorer

from ._base import FloatArray, PayContext, PaymentRule, others_sums, stock_mean, weighted_consensus


def rank_ic_rows(signals: FloatArray, target: FloatArray, min_stocks: int = 5) -> FloatArray:
    """Rank IC of every (..., days, stocks) signal row against the (days, stocks) target: (..., days).

    Uses the project's ``RankICScorer`` (one argsort per row, equals ``scipy.stats.spearmanr``).
    """
    s = np.asarray(signals, dtype=np.float64)
    flat = s.reshape((-1,) + target.shape)
    return RankICScorer(target, min_stocks=min_stocks)(flat).reshape(s.shape[:-1])


def _skill(reports: FloatArray, ctx: PayContext) -> FloatArray:
    """Own Rank IC per day; 0 on a day with a report but no rank information (constant), NaN if no report."""
    ic = rank_ic_rows(reports, ctx.target, ctx.min_stocks)
    reported = np.isfinite(reports).any(-1)
    return np.where(reported, np.nan_to_num(ic, nan=0.0), np.nan)


@dataclass(frozen=True, repr=False)
class ProperQuadratic(PaymentRule):
    """``pay = -(r - theta)^2``: the quadratic (Brier) score, strictly proper for the mean.

    Claim: E[pay | info] = -(r - E[theta | info])^2 - Var(theta | info), so the view (posterior mean) is the
    unique best response whatever the others do (dominant-strategy truthful), and reporting view + delta
    costs exactly delta^2 in expectation. Reference: Gneiting & Raftery (2007), JASA 102(477), sec. 3.
    """

    name: ClassVar[str] = "proper"
    claim: ClassVar[str] = "strictly proper for the mean: truth is a dominant strategy; view+delta costs delta^2"
    reference: ClassVar[str] = "Gneiting & Raftery (2007), Strictly proper scoring rules, JASA 102(477)"
    truthful: ClassVar[str] = "yes"

    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        r = np.asarray(reports, dtype=np.float64)
        return stock_mean(-((r - ctx.target) ** 2))

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        return self.pay(candidates, ctx)  # own report only

    def quadratic_terms(self, omega_i: float) -> FloatArray:
        return np.array([[1.0, 1.0, -1.0, 0.0]])


@dataclass(frozen=True, repr=False)
class LogScore(PaymentRule):
    """``pay = log p(realised bucket)`` for reports that are distributions over ``buckets`` target buckets.

    Reports have one more trailing axis than elsewhere: ``(..., followers, days, stocks, buckets)``
    (probabilities; NaN = not reported); ``ctx.buckets`` holds the realised bucket index (days, stocks).
    Claim: strictly proper for the distribution: E[log p(B)] = -H(q) - KL(q || p) under the belief q.
    Reference: Good (1952); Gneiting & Raftery (2007), sec. 3.
    """

    buckets: int = 5
    name: ClassVar[str] = "proper"
    claim: ClassVar[str] = "strictly proper for the distribution: misreporting p costs KL(q || p)"
    reference: ClassVar[str] = "Good (1952); Gneiting & Raftery (2007), JASA 102(477)"
    truthful: ClassVar[str] = "yes"

    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        p = np.asarray(reports, dtype=np.float64)
        if ctx.buckets is None:
            raise ValueError("the log score needs ctx.buckets (the realised bucket of the target)")
        if p.shape[-1] != self.buckets:
            raise ValueError(f"log-score reports must end in {self.buckets} bucket probabilities, got {p.shape}")
        idx = np.broadcast_to(np.asarray(ctx.buckets)[..., None], p.shape[:-1] + (1,))
        hit = np.take_along_axis(p, idx, axis=-1)[..., 0]
        ok = np.isfinite(p).all(-1)
        with np.errstate(divide="ignore"):
            return stock_mean(np.where(ok, np.log(hit), np.nan))

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        return self.pay(candidates, ctx)

    def option_string(self) -> str:
        return f"proper:score=log,buckets={self.buckets}"


class _AgainstOthers(PaymentRule):
    """A rule whose pay depends on the own report and the others' weighted sums (``others_sums``): one
    ``_pay`` serves the profile's own pay and any candidate deviation against it."""

    @abstractmethod
    def _pay(self, own: FloatArray, n_minus: FloatArray, w_minus: FloatArray, ctx: PayContext,
             omega: FloatArray) -> FloatArray:
        """Pay of followers reporting ``own`` against the others' weighted sums ``n_minus`` / ``w_minus``."""

    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        rep = np.asarray(reports, dtype=np.float64)
        omega = ctx.omega(rep.shape[-3])
        return self._pay(rep, *others_sums(rep, omega), ctx, omega)

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        prof = np.asarray(profile, dtype=np.float64)
        omega = ctx.omega(prof.shape[-3])
        return self._pay(np.asarray(candidates, dtype=np.float64), *others_sums(prof, omega), ctx, omega)


@dataclass(frozen=True, repr=False)
class Consensus(_AgainstOthers):
    """Beauty contest: ``pay = -(1 - r)(r_i - theta)^2 - r (r_i - C)^2``, C = weighted mean of all reports.

    C includes i's own report with weight omega_i, so ``r_i - C = (1 - omega_i)(r_i - Abar_{-i})`` and the
    effective coordination weight is ``c = r (1 - omega_i)^2``. Claim: the symmetric linear equilibrium puts
    relative weight ``(1-r) beta / ((1-r) beta + (1-r+c) alpha)`` on private information, below the truthful
    ``beta / (alpha + beta)`` for r > 0: the rule pays for herding on the public signal.
    Reference: Morris & Shin (2002), Social value of public information, AER 92(5).
    """

    r: float = 0.5
    name: ClassVar[str] = "consensus"
    claim: ClassVar[str] = "Morris-Shin: equilibrium private weight (1-r)b/((1-r)b+(1-r+c)a) < truthful for r>0"
    reference: ClassVar[str] = "Morris & Shin (2002), Social value of public information, AER 92(5)"
    truthful: ClassVar[str] = "no (yes at r = 0)"

    def __post_init__(self) -> None:
        if not 0.0 <= self.r <= 1.0:
            raise ValueError(f"consensus:r must be in [0, 1], got {self.r}")

    def _pay(self, own: FloatArray, n_minus: FloatArray, w_minus: FloatArray, ctx: PayContext,
             omega: FloatArray) -> FloatArray:
        c = weighted_consensus(own, n_minus, w_minus, omega)
        return stock_mean(-(1.0 - self.r) * (own - ctx.target) ** 2 - self.r * (own - c) ** 2)

    def quadratic_terms(self, omega_i: float) -> FloatArray:
        return np.array([[1.0 - self.r, 1.0, -1.0, 0.0], [self.r, 1.0 - omega_i, 0.0, -(1.0 - omega_i)]])

    def option_string(self) -> str:
        return f"consensus:r={self.r:g}"


@dataclass(frozen=True, repr=False)
class DifferentiablePrice(_AgainstOthers):
    """The MBI paper's differentiable price, made concrete.

    The paper (Grassi 2025, arXiv:2512.20688; abstract in shared/papers) prices agent i's contribution by
    ``G_i = -dL/dx_i``, the gradient of the system's loss, and calls it VCG-equivalent. Here:

    * the aggregate is the weighted mean of the reports, ``A = sum_j omega_j r_j`` (weights renormalised
      over reporters of each stock);
    * the loss is ``L = 1/2 (A - theta)^2`` per stock-day, so ``G_i = -omega_i (A - theta)``;
    * pay is the price *integrated* along i's report from the neutral report 0 (theta is z-scored, so 0 says
      "no view"): ``pay_i = int_0^{r_i} G_i dr = L(r_i = 0) - L(r)``, averaged over stocks. Its marginal is
      exactly G_i, and it is the Clarke-pivot (VCG) transfer with "report 0" as the pivot.

    Claim (the paper's DSIC, in the sense it holds here): pay_i = -L + (terms free of r_i), so every follower
    maximises pay by minimising the aggregate's expected loss given the others; the best response is
    ``(E[theta | info] - (1 - omega_i) E[Abar_{-i} | info]) / omega_i``. That is team-optimal, *not*
    report-the-view: it equals the view only when E[Abar_{-i} | info] equals the view (diffuse prior,
    independent signals, truthful others). Measured, not assumed.
    """

    name: ClassVar[str] = "dpm"
    claim: ClassVar[str] = "pay = L(r_i=0) - L(r), L = (A-theta)^2/2: aligned with the aggregate's loss (team-optimal)"
    reference: ClassVar[str] = "Grassi (2025), Mechanism-Based Intelligence, arXiv:2512.20688"
    truthful: ClassVar[str] = "no (aligned with the aggregate's loss; truthful only in special cases)"

    def _pay(self, own: FloatArray, n_minus: FloatArray, w_minus: FloatArray, ctx: PayContext,
             omega: FloatArray) -> FloatArray:
        w = omega[:, None, None]
        agg = weighted_consensus(own, n_minus, w_minus, omega)
        with np.errstate(invalid="ignore", divide="ignore"):
            agg0 = n_minus / (w_minus + w)
        gain = 0.5 * ((agg0 - ctx.target) ** 2 - (agg - ctx.target) ** 2)
        return stock_mean(np.where(np.isfinite(own), gain, np.nan))

    def quadratic_terms(self, omega_i: float) -> FloatArray:
        return np.array([[0.5, omega_i, -1.0, 1.0 - omega_i]])


@dataclass(frozen=True, repr=False)
class Skill(PaymentRule):
    """Own Rank IC per day (today's ``skill``). Claim: invariant to monotone transforms, so it is not proper
    for the mean (scale and calibration are free); for Gaussian information the view maximises expected
    Pearson IC among linear reports. Reference: the MASS paper's follower reward; Grinold & Kahn (2000)."""

    name: ClassVar[str] = "skill"
    claim: ClassVar[str] = "rank-invariant: any monotone transform of the view pays the same; not proper"
    reference: ClassVar[str] = "MASS follower reward; Grinold & Kahn (2000), Active Portfolio Management"
    truthful: ClassVar[str] = "up to monotone transforms"

    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        return _skill(np.asarray(reports, dtype=np.float64), ctx)

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        return self.pay(candidates, ctx)


@dataclass(frozen=True, repr=False)
class WeightedSkill(PaymentRule):
    """Own Rank IC x K x weight share (today's ``weighted_skill``; equal weights give the Rank IC).
    With fixed weights the incentive is that of ``skill`` scaled; in the game the leader's weights respond."""

    name: ClassVar[str] = "weighted_skill"
    claim: ClassVar[str] = "skill scaled by the weight share: same incentives as skill for fixed weights"
    reference: ClassVar[str] = "MASS follower reward (weighted by the leader's weights)"
    truthful: ClassVar[str] = "up to monotone transforms"

    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        rep = np.asarray(reports, dtype=np.float64)
        n = rep.shape[-3]
        return _skill(rep, ctx) * (n * ctx.omega(n))[:, None]

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        return self.pay(candidates, ctx)


@dataclass(frozen=True, repr=False)
class LeaveOneOut(_AgainstOthers):
    """``pay_i = RankIC(A) - RankIC(A_{-i})``, A the weighted mean of the reports, A_{-i} without i (weights
    renormalised). A VCG-like marginal contribution (Clarke 1971) measured in the aggregate's Rank IC; an
    aggregate with no reports (or no rank information) scores 0. Truthfulness here is measured, not assumed."""

    name: ClassVar[str] = "leave_one_out"
    claim: ClassVar[str] = "marginal contribution to the aggregate's Rank IC (VCG-like); truthfulness to be measured"
    reference: ClassVar[str] = "Clarke (1971); Groves (1973): pivot = the aggregate without i"
    truthful: ClassVar[str] = "open"

    def _pay(self, own: FloatArray, n_minus: FloatArray, w_minus: FloatArray, ctx: PayContext,
             omega: FloatArray) -> FloatArray:
        ok = np.isfinite(own)
        w = omega[:, None, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            agg = (n_minus + w * np.where(ok, own, 0.0)) / (w_minus + w * ok)
            agg_minus = n_minus / w_minus
        agg, agg_minus = np.broadcast_arrays(agg, agg_minus)
        both = rank_ic_rows(np.stack([agg, agg_minus]), ctx.target, ctx.min_stocks)
        gain = np.nan_to_num(both[0], nan=0.0) - np.nan_to_num(both[1], nan=0.0)
        return np.where(ok.any(-1), gain, np.nan)


def _min_others(errors: FloatArray) -> FloatArray:
    """For each follower, the smallest error among the *other* followers (axis -3); inf if none."""
    e = np.where(np.isfinite(errors), errors, np.inf)
    if e.shape[-3] == 1:
        return np.full_like(e, np.inf)
    part = np.partition(e, 1, axis=-3)
    first, second = part[..., :1, :, :], part[..., 1:2, :, :]
    who = np.argmin(e, axis=-3)[..., None, :, :]
    me = np.arange(e.shape[-3])[:, None, None]
    return np.where(who == me, second, first)


@dataclass(frozen=True, repr=False)
class Tournament(PaymentRule):
    """Rank tournament, winner takes all per stock-day: the follower whose report is closest to theta wins 1
    (a tie with the best rival pays 1/2). Claim: not truthful; against rivals who share public information
    the best response exaggerates the private signal, away from what the rivals are expected to report.
    References: Ottaviani & Sorensen (2006), J. Econ. Theory 126; Lichtendahl & Winkler (2007), Mgmt Sci 53(11)."""

    name: ClassVar[str] = "tournament"
    claim: ClassVar[str] = "winner-take-all accuracy contest: the best response is more extreme than the view"
    reference: ClassVar[str] = "Ottaviani & Sorensen (2006); Lichtendahl & Winkler (2007), Mgmt Sci 53(11)"
    truthful: ClassVar[str] = "no"

    @staticmethod
    def _win(own_err: FloatArray, rival: FloatArray) -> FloatArray:
        win = (own_err < rival) + 0.5 * (own_err == rival)
        return stock_mean(np.where(np.isfinite(own_err), win, np.nan))

    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        err = np.abs(np.asarray(reports, dtype=np.float64) - ctx.target)
        return self._win(err, _min_others(err))

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        rival = _min_others(np.abs(np.asarray(profile, dtype=np.float64) - ctx.target))
        return self._win(np.abs(np.asarray(candidates, dtype=np.float64) - ctx.target), rival)
