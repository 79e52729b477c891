"""Incentive metrics computed from views and reports: deviation gain and NashConv (labelled ``exact`` or
``lower bound``), the private weight, a herding index and efficiency (the price of anarchy in Rank IC).

Why: a rule is judged by what self-interested followers would report under it and what that costs the
aggregate; these are the numbers ``mass incentives`` tabulates. Definitions follow
``shared/design/incentives.md`` (section "Metrics"); NashConv is Lanctot et al. (2017)'s sum of gains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mass_env.game.metrics import ic

from ._base import FloatArray, PayContext, PaymentRule
from .market import InformationMarket
from .responses import DeviationFamily, best_response_search, exact_deviation_gain, previous_consensus
from .rules import rank_ic_rows

EXACT, LOWER_BOUND = "exact", "lower bound"


@dataclass(frozen=True)
class DeviationGain:
    """Per-follower gain of the best deviation over the profile, its standard error, and its kind.

    ``exact``: a closed form (the best response over all reports). ``lower bound``: the best deviation in a
    family, estimated in-sample on one draw (staying is allowed, so >= 0; se = day-to-day standard error).
    """

    gain: FloatArray
    se: FloatArray
    kind: str

    @property
    def nashconv(self) -> float:
        return float(np.sum(self.gain))


def deviation_gain(rule: PaymentRule, profile: FloatArray, views: FloatArray, ctx: PayContext,
                   anchor: FloatArray | None = None, family: DeviationFamily | None = None) -> DeviationGain:
    """Gain of each follower's best family deviation at ``profile`` (a lower bound on the true gain).

    ``anchor`` None = yesterday's consensus of the profile.
    """
    anc = previous_consensus(profile, ctx.weights) if anchor is None else anchor
    res = best_response_search(rule, profile, views, anc, ctx, family)
    return DeviationGain(res.gain, res.se, LOWER_BOUND)


def exact_gain(rule: PaymentRule, market: InformationMarket, coef: npt.ArrayLike,
               weights: npt.ArrayLike | None = None) -> DeviationGain:
    """Exact gain at a linear profile on the information market (quadratic rules only)."""
    g = exact_deviation_gain(rule, market, coef, weights)
    return DeviationGain(g, np.zeros_like(g), EXACT)


def nashconv(gain: DeviationGain) -> tuple[float, str]:
    """NashConv = sum of the followers' deviation gains, with its kind."""
    return gain.nashconv, gain.kind


def private_weight(reports: FloatArray, private: FloatArray, public: FloatArray) -> FloatArray:
    """Relative private weight k_x / (k_x + k_y) per follower, from the OLS fit report ~ 1 + x_i + y.

    Pooled over days and stocks (finite entries), vectorised over followers via the 3x3 normal equations.
    The relative weight does not depend on the prior (``closed_form.morris_shin_weight``).
    """
    r = np.asarray(reports, dtype=np.float64)
    x = np.asarray(private, dtype=np.float64)
    y = np.broadcast_to(np.asarray(public, dtype=np.float64), r.shape)
    ok = (np.isfinite(r) & np.isfinite(x) & np.isfinite(y)).reshape(r.shape[0], -1)
    cols = [np.ones_like(r), x, y]
    design = np.stack([np.where(ok, c.reshape(r.shape[0], -1), 0.0) for c in cols], axis=-1)  # (F, M, 3)
    target = np.where(ok, r.reshape(r.shape[0], -1), 0.0)
    xtx = np.einsum("fmi,fmj->fij", design, design)
    xty = np.einsum("fmi,fm->fi", design, target)
    beta = np.linalg.solve(xtx, xty[..., None])[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return beta[:, 1] / (beta[:, 1] + beta[:, 2])


def herding_index(reports: FloatArray, views: FloatArray, anchor: FloatArray | None = None,
                  weights: FloatArray | None = None) -> FloatArray:
    """``mean_t corr(r_t, c_t) - mean_t corr(v_t, c_t)`` per follower (daily cross-sectional Pearson).

    ``anchor`` c: yesterday's consensus of the *reports* (default, as on real markets) or any (days, stocks)
    array (on the information market the public signal, which is what Morris-Shin herding is toward).
    Positive: the reports lean toward the anchor more than the views do.
    """
    anc = previous_consensus(reports, weights) if anchor is None else anchor
    with np.errstate(invalid="ignore"):
        rep = np.nanmean(ic(reports, anc), axis=-1)
        view = np.nanmean(ic(views, anc), axis=-1)
    return rep - view


@dataclass(frozen=True)
class Efficiency:
    """The aggregate's mean daily Rank IC at the played reports and at truth, and their ratio."""

    rank_ic_played: float
    rank_ic_truth: float

    @property
    def ratio(self) -> float:
        return self.rank_ic_played / self.rank_ic_truth if self.rank_ic_truth != 0 else float("nan")


def weighted_mean(reports: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """The naive aggregate: weighted mean of the followers' reports per stock (NaN-aware), (..., D, S)."""
    ok = np.isfinite(reports)
    n = reports.shape[-3]
    w = (np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float))[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(ok, reports, 0.0) * w).sum(-3) / (ok * w).sum(-3)


def efficiency(reports: FloatArray, views: FloatArray, target: FloatArray,
               weights: FloatArray | None = None) -> Efficiency:
    """Efficiency = Rank IC of the aggregate of the reports over that of the views (1 = nothing lost)."""
    ric = rank_ic_rows(np.stack([weighted_mean(reports, weights), weighted_mean(views, weights)]), target)
    return Efficiency(float(np.nanmean(ric[0])), float(np.nanmean(ric[1])))
