"""One row of the incentives table: a payment rule x a responder on a problem (views, target, weights).

Why: ``mass incentives`` asks, for each rule, what self-interested followers would report and what that
costs; this module turns a rule, a responder and one draw of a market into the numbers of one row, all
computed from the views and the reports (so the same code serves the information market and a recorded
run of the game). Responders:

* ``truthful``: every follower reports its view; the row's NashConv is the sum of the gains at truth;
* ``best_response``: each follower's best response to truthful others (one round);
* ``equilibrium``: iterated best response from truth; NashConv is the remaining gap, and a search that did
  not converge says so (``converged`` False, ``status`` "NOT converged"): it is never an equilibrium;
* ``hedge``: no-regret followers (``learning.hedge`` over a strategy library, one round per day) and the
  profile they played. Its certification gap (the largest average regret: the eps of the eps-coarse
  correlated equilibrium the empirical play is, relative to the library) is reported beside the metrics and
  flagged above ``HEDGE_TOLERANCE`` of the library's pay range; a learned profile is never called an
  equilibrium. Its NashConv is a lower bound (the deviation family against the played reports).

Gains are ``exact`` where a closed form exists (a quadratic rule on the Gaussian information market:
``responses.linear_best_response``) and ``lower bound`` otherwise (the best deviation in the family).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._base import FloatArray, PayContext, PaymentRule
from .learning import StrategyLibrary, days_from_arrays, played_reports
from .learning import hedge as run_hedge
from .market import InformationMarket, MarketDraw
from .metrics import EXACT, LOWER_BOUND, efficiency, herding_index, private_weight
from .responses import (
    DeviationFamily,
    SearchResult,
    best_response_search,
    exact_deviation_gain,
    iterated_best_response_linear,
    iterated_best_response_search,
    linear_best_response,
    previous_consensus,
)

RESPONDERS = ("truthful", "best_response", "equilibrium", "hedge")
#: a Hedge run is certified when its gap is at most this fraction of the library's mean daily pay range
HEDGE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Problem:
    """What the followers know and what they are paid against.

    ``views`` (F, D, S); ``target`` (D, S); ``weights`` (F,) the consensus weights (None = equal);
    ``anchor`` (D, S) the coordination point deviations shade toward and herding is measured against (None =
    yesterday's consensus of the reports); ``private``/``public``: the signals the private weight is
    regressed on (the information market's x and y; elsewhere the view and the anchor); ``market``: the
    information market the draw came from (enables the exact route).
    """

    views: FloatArray
    target: FloatArray
    weights: FloatArray | None = None
    anchor: FloatArray | None = None
    private: FloatArray | None = None
    public: FloatArray | None = None
    market: InformationMarket | None = None
    min_stocks: int = 5

    @classmethod
    def from_market(cls, market: InformationMarket, seed: int) -> Problem:
        d: MarketDraw = market.draw(seed)
        return cls(d.views, d.theta, None, d.public, d.private, d.public, market)

    @property
    def ctx(self) -> PayContext:
        return PayContext(self.target, self.weights, min_stocks=self.min_stocks)


@dataclass(frozen=True)
class Row:
    """The numbers of one row (means over followers); ``converged`` False = not an equilibrium."""

    deviation_gain: float
    deviation_gain_se: float
    gain_kind: str
    nashconv: float
    private_weight: float
    herding: float
    efficiency: float
    converged: bool
    status: str
    iterations: int = 0
    certification_gap: float = float("nan")   # hedge: max average regret (eps of the eps-CCE), pay units
    certification_rel: float = float("nan")   # hedge: that gap over the library's mean daily pay range
    curves: dict[str, list[float]] | None = None  # hedge: learning curves over rounds

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _exact_route(rule: PaymentRule, p: Problem) -> bool:
    return p.market is not None and rule.quadratic_terms(0.0) is not None


def _linear_reports(coef: FloatArray, p: Problem) -> FloatArray:
    assert p.private is not None and p.public is not None
    return coef[:, 0, None, None] * p.private + coef[:, 1, None, None] * p.public


def _anchor(p: Problem, reports: FloatArray) -> FloatArray:
    return previous_consensus(reports, p.weights) if p.anchor is None else p.anchor


def _metrics(p: Problem, reports: FloatArray) -> tuple[float, float, float]:
    x = p.private if p.private is not None else p.views
    y = p.public if p.public is not None else _anchor(p, reports)
    pw = float(np.nanmean(private_weight(reports, x, y)))
    herd = float(np.nanmean(herding_index(reports, p.views, p.anchor, p.weights)))
    eff = efficiency(reports, p.views, p.target, p.weights).ratio
    return pw, herd, float(eff)


def _head(rule: PaymentRule, p: Problem, family: DeviationFamily | None
          ) -> tuple[tuple[float, float, str], FloatArray, SearchResult | None]:
    """Every row's deviation gain at truth, (mean, se, kind), the gains per follower and the search's best
    responses (None when exact)."""
    res0 = None
    if _exact_route(rule, p):
        assert p.market is not None
        truth = np.tile(p.market.view_coef, (p.market.n_followers, 1))
        gain = exact_deviation_gain(rule, p.market, truth, p.weights)
        se, kind = np.zeros_like(gain), EXACT
    else:
        res0 = best_response_search(rule, p.views, p.views, _anchor(p, p.views), p.ctx, family)
        gain, se, kind = res0.gain, res0.se, LOWER_BOUND
    return (float(np.mean(gain)), float(np.sqrt(np.mean(se ** 2) / gain.size)), kind), gain, res0


def evaluate(rule: PaymentRule, responder: str, p: Problem, family: DeviationFamily | None = None,
             max_iter: int = 30, tol: float = 1e-12, hedge: HedgeSettings | None = None) -> Row:
    """The row of ``rule`` x ``responder`` on problem ``p`` (see the module docstring)."""
    if responder not in RESPONDERS:
        raise ValueError(f"unknown responder {responder!r}; valid responders: {', '.join(RESPONDERS)}")
    exact = _exact_route(rule, p)
    ctx = p.ctx
    head, gain, res0 = _head(rule, p, family)
    if exact:
        assert p.market is not None
        truth = np.tile(p.market.view_coef, (p.market.n_followers, 1))
    if responder == "hedge":
        return _hedge_row(rule, p, head, family, hedge or HedgeSettings())
    if responder == "truthful":
        reports, nc, ok, status, it = p.views, float(np.sum(gain)), True, "truthful profile", 0
    elif responder == "best_response":
        if exact:
            assert p.market is not None
            coef = linear_best_response(rule, p.market, truth, p.weights)[0]
            reports = _linear_reports(coef, p)
            nc = float(np.sum(exact_deviation_gain(rule, p.market, coef, p.weights)))
        else:
            assert res0 is not None
            reports = res0.reports
            nc = float(np.sum(best_response_search(rule, reports, p.views, _anchor(p, reports), ctx, family).gain))
        ok, status, it = True, "one best-response round", 1
    else:
        if exact:
            assert p.market is not None
            eq = iterated_best_response_linear(rule, p.market, p.weights, tol=tol, max_iter=5000)
            if not eq.converged:
                eq = iterated_best_response_linear(rule, p.market, p.weights, tol=tol, max_iter=5000, sequential=True)
            reports = _linear_reports(eq.profile, p) if np.all(np.isfinite(eq.profile)) else p.views
        else:
            eq = iterated_best_response_search(rule, p.views, ctx, p.anchor, family, tol=tol, max_iter=max_iter)
            reports = eq.reports if eq.reports is not None else p.views
        nc, ok, status, it = eq.nashconv, eq.converged, eq.status, eq.iterations
    pw, herd, eff = _metrics(p, reports)
    return Row(*head, nc, pw, herd, eff, ok, status, it)


def evaluate_reports(rule: PaymentRule, p: Problem, reports: FloatArray, status: str,
                     family: DeviationFamily | None = None) -> Row:
    """The row of a profile some other learner played (reports (F, D, S) on problem ``p``): the rule's gain at
    truth as every row's, and a NashConv against the played reports: exact for a quadratic rule on the
    information market (the best response to each follower's linear fit ``k_x x + k_y y + c``), otherwise the
    best deviation in the family (a lower bound). A learned profile is never called an equilibrium."""
    reports = np.asarray(reports, dtype=np.float64)
    if reports.shape != p.views.shape:
        raise ValueError(f"reports must have the views' shape {p.views.shape}, got {reports.shape}")
    head = _head(rule, p, family)[0]
    if _exact_route(rule, p):
        assert p.market is not None and p.private is not None and p.public is not None
        coef = np.empty((reports.shape[0], 2))
        for i in range(reports.shape[0]):  # one least-squares fit per follower (F is small)
            x = np.column_stack([np.ones(reports[i].size), p.private[i].ravel(),
                                 np.broadcast_to(p.public, reports[i].shape).ravel()])
            coef[i] = np.linalg.lstsq(x, reports[i].ravel(), rcond=None)[0][1:]
        nc = float(np.sum(exact_deviation_gain(rule, p.market, coef, p.weights)))
    else:
        nc = float(np.sum(best_response_search(rule, reports, p.views, _anchor(p, reports), p.ctx, family).gain))
    pw, herd, eff = _metrics(p, reports)
    return Row(*head, nc, pw, herd, eff, True, status)


@dataclass(frozen=True)
class HedgeSettings:
    """The no-regret responder: its library (None = ``StrategyLibrary.standard()``), learning rate (None =
    the regret bound's rate), sampling seed and certification tolerance (a fraction of the pay range)."""

    library: StrategyLibrary | None = None
    eta: float | None = None
    seed: int = 0
    tolerance: float = HEDGE_TOLERANCE


def _hedge_row(rule: PaymentRule, p: Problem, head: tuple[float, float, str], family: DeviationFamily | None,
               h: HedgeSettings) -> Row:
    lib = h.library or StrategyLibrary.standard()
    n_days = p.target.shape[0]
    run = run_hedge(rule, lib, days_from_arrays(p.views, p.target, p.anchor, p.private, p.public), n_days,
                    p.weights, h.eta, h.seed, p.min_stocks)
    reports = played_reports(run, p.views, p.anchor, p.weights)
    nc = float(np.sum(best_response_search(rule, reports, p.views, _anchor(p, reports), p.ctx, family).gain))
    pw, herd, eff = _metrics(p, reports)
    rel = run.relative_gap
    ok = bool(rel <= h.tolerance)
    word = "eps-CCE" if ok else "NOT certified"
    status = f"{word}: gap {100 * rel:.1f}% of pay range ({'<=' if ok else '>'} {100 * h.tolerance:g}%)"
    curves = {"gap": run.gap_curve, "deviation_gain": run.deviation_gain, "private_weight": run.private_weight,
              "herding": run.herding}
    return replace(Row(*head, nc, pw, herd, eff, ok, status, n_days, run.gap, rel),
                   curves={k: [float(x) for x in v] for k, v in curves.items()})
