"""The game's followers' response to a commitment: each type's best report strategy in a library, on a past
window, for a whole population of candidate commitments at once.

Why: a Stackelberg leader scores a commitment by what the followers will report under it, not by what they
reported under yesterday's (the myopic leaders' assumption, exact only for truthful followers). The model is
the game's Hedge followers (``agents.hedge``) at their best response: every type plays, for all its agents,
the library strategy (truthful, shade toward yesterday's consensus, exaggerate away from it, constant) that
the payment rule would have paid best on the window's days (the window's returns, z-scored per day, as the
target), against the others' reports (their views in the first round; each further round against the
previous round's answers), anchored on the consensus each day's followers saw. Ties go to the earlier
strategy (truthful first), so a library of the truthful strategy alone is the identity.

Vectorised: the library's reports and their type moments are formed once per window, (M, L, 3, K, N). A rule
that pays a report on its own (``proper``, ``skill``, ``weighted_skill``: the weight share scales a type's
pay, not its ranking of strategies) is evaluated once per window for every candidate; a rule that pays
against the others' weighted reports (``consensus:r``, ``dpm``, ...) once per candidate's applied weights
(the loop is over candidates; strategies, types, days and stocks stay vectorised).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mass_env.game.aggregation import TypeMoments, type_moments
from mass_env.game.scoring import ViewWindow

from ._base import FloatArray, PayContext, PaymentRule
from .learning import StrategyLibrary, strategy_reports
from .payments import make_rule
from .responses import TRUTHFUL
from .rules import LogScore, ProperQuadratic, Skill, WeightedSkill

IntArray = npt.NDArray[np.int64]
#: rules whose pay of a report depends on that report and the target only
OWN_REPORT_RULES = (ProperQuadratic, Skill, WeightedSkill)


def zscore_rows(values: FloatArray) -> FloatArray:
    """Per-row (day) cross-sectional z-score, NaN kept (the target ``ingame.zscore`` gives one day)."""
    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x)
    n = np.maximum(ok.sum(-1, keepdims=True), 1)
    mean = np.where(ok, x, 0.0).sum(-1, keepdims=True) / n
    sd = np.sqrt(np.where(ok, (x - mean) ** 2, 0.0).sum(-1, keepdims=True) / n)
    return np.where(ok, (x - mean) / np.where(sd > 0, sd, 1.0), np.nan)


@dataclass(frozen=True)
class ResponsePlan:
    """One window prepared for the response: each strategy's type means (M, K, L, N) and type moments
    (M, L, 3, K, N), the views' type means (K, L, N) and the pay target (L, N)."""

    means: FloatArray
    moments: FloatArray
    views: FloatArray
    target: FloatArray
    min_stocks: int
    #: the best strategies under an own-report rule (they serve every candidate): computed once
    own_best: dict[str, IntArray] = field(default_factory=dict, repr=False, compare=False)

    def responded(self, picks: IntArray) -> FloatArray:
        """The window's moments (L, 3, K, N) when type k plays strategy ``picks[k]``."""
        k = np.arange(picks.shape[0])
        return np.moveaxis(self.moments[picks, :, :, k, :], 0, 2)


@dataclass(frozen=True)
class StrategyResponse:
    """Each type's best response in ``library`` under payment ``rule`` (a name such as ``consensus:r=0.5``
    or a ``PaymentRule``), iterated ``rounds`` times against the others' answers."""

    library: StrategyLibrary = field(default_factory=StrategyLibrary.standard)
    rule: PaymentRule | str = "weighted_skill"
    rounds: int = 1

    def __post_init__(self) -> None:
        rule = make_rule(self.rule)
        if isinstance(rule, LogScore):
            raise ValueError("the game's reports are scores, not distributions: use proper:score=quadratic")
        object.__setattr__(self, "rule", rule)
        if int(self.rounds) < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        object.__setattr__(self, "rounds", int(self.rounds))

    @property
    def payment(self) -> PaymentRule:
        assert isinstance(self.rule, PaymentRule)
        return self.rule

    def prepare(self, window: ViewWindow) -> ResponsePlan:
        """Every strategy's reports on the window's days, reduced to type moments (the truthful rows are the
        window's view moments, bit for bit)."""
        K, (L, A, N) = window.n_types, window.views.shape
        anchor = np.where(np.isfinite(window.anchors)[:, None, :], window.anchors[:, None, :], window.views)
        reports = strategy_reports(self.library.params, window.views, anchor)          # (M, L, A, N)
        moments = type_moments(reports.reshape(-1, A, N), window.agent_type, K).stack()  # (M*L, 3, K, N)
        moments = moments.reshape(len(self.library), L, 3, K, N)
        truthful = np.all(np.isclose(self.library.params, TRUTHFUL), axis=1)
        moments[truthful] = window.view_moments
        means = np.moveaxis(TypeMoments.from_stacked(moments).type_mean(), 1, 2)         # (M, K, L, N)
        views = np.moveaxis(TypeMoments.from_stacked(window.view_moments).type_mean(), 0, 1)
        return ResponsePlan(means, moments, views, zscore_rows(window.reports.returns), window.reports.min_stocks)

    def pays(self, plan: ResponsePlan, profile: FloatArray, weights: FloatArray | None) -> FloatArray:
        """(M, K) mean pay over the window of each strategy for each type, the others reporting ``profile``
        (K, L, N) and the consensus weighed by ``weights`` (K,) (None: equal)."""
        ctx = PayContext(plan.target, weights=weights, min_stocks=plan.min_stocks)
        pay = self.payment.deviation_pay(plan.means, profile, ctx)                      # (M, K, L)
        ok = np.isfinite(pay)
        return np.where(ok, pay, 0.0).sum(-1) / np.maximum(ok.sum(-1), 1)

    def picks(self, plan: ResponsePlan, weights: npt.ArrayLike) -> IntArray:
        """(P, K) the strategy each type plays under each candidate's applied weights (P, K)."""
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        if len(self.library) == 1:
            return np.zeros(w.shape, dtype=np.int64)
        if isinstance(self.payment, OWN_REPORT_RULES):  # one evaluation serves every candidate
            key = self.payment.option_string()
            if key not in plan.own_best:
                plan.own_best[key] = np.argmax(self.pays(plan, plan.views, None), axis=0)
            best = plan.own_best[key]
            return np.where(w > 0, best[None, :], 0).astype(np.int64)
        out = np.empty(w.shape, dtype=np.int64)
        k = np.arange(w.shape[1])
        for p in range(w.shape[0]):  # the loop over candidates: each weighs the others' reports its own way
            profile = plan.views
            for _ in range(self.rounds):
                out[p] = np.argmax(self.pays(plan, profile, w[p]), axis=0)
                profile = plan.means[out[p], k]
        return out
