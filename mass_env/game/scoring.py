"""Counterfactual re-scoring: the payoff any candidate action *would* have earned on a recorded window.

Followers' signals of past days are kept as per-type moments, so a whole population of candidate
actions ``(P, K)`` is aggregated with one matrix product and ranked with one argsort per
(candidate, day) row (``RankICScorer``). This is what ask/tell principals (SA, CMA-ES) call: one call
per population, not per candidate. Valid because followers' signals do not depend on the weights
(true of scripted and LLM followers here); strategic followers would need online evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .aggregation import Rule, TypeMoments, WeighingBasis, aggregate
from .components import Component
from .mechanism import apply_inertia, turnover
from .metrics import RankICScorer

FloatArray = npt.NDArray[np.float64]


@dataclass
class ScoringWindow:
    """Recorded days usable for fitness: moments ``(L, 3, K, N)`` and realised returns ``(L, N)``.

    Only days whose returns were realised by the as-of day are included, so nothing a fitness call
    sees is in the future of the decision it informs.
    """

    days: npt.NDArray[np.int64]
    moments: FloatArray
    returns: FloatArray
    rule: Rule = "agent"
    min_stocks: int = 5
    calls: int = field(default=0, init=False)
    _scorer: RankICScorer | None = field(default=None, init=False, repr=False)
    _basis: WeighingBasis | None = field(default=None, init=False, repr=False)

    @property
    def n_days(self) -> int:
        return int(self.days.size)

    @property
    def n_types(self) -> int:
        return int(self.moments.shape[-2])

    def daily(self, weights: npt.ArrayLike, alpha: npt.ArrayLike,
              component: Component | str = Component.SIGNAL) -> FloatArray:
        """``(P, L)`` Rank IC of each candidate on each window day (NaN where unscorable)."""
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (w.shape[0],))
        if self.n_days == 0:
            return np.full((w.shape[0], 0), np.nan)
        self.calls += 1
        if self._basis is None:  # prepared once: a window is re-weighed many times
            self._basis = WeighingBasis.of(TypeMoments.from_stacked(self.moments), self.rule)
        agg = aggregate(self._basis, w, a)
        sig = Component.parse(component).pick(agg.consensus, agg.disagreement, agg.signal)
        if self._scorer is None:
            self._scorer = RankICScorer(self.returns, min_stocks=self.min_stocks)
        return self._scorer(sig)

    def fitness(
        self,
        weights: npt.ArrayLike,
        alpha: npt.ArrayLike,
        *,
        component: Component | str = Component.SIGNAL,
        previous: npt.ArrayLike | None = None,
        turnover_penalty: float = 0.0,
        inertia: float = 0.0,
    ) -> FloatArray:
        """``(P,)`` mean Rank IC over the window minus ``turnover_penalty * ||d - previous||_1 / 2``.

        ``previous`` is the commitment applied today. With ``inertia`` > 0 a candidate ``d`` is scored
        as the game will apply it tomorrow, ``(d + inertia * previous) / (1 + inertia)``
        (``mechanism.apply_inertia``), and its turnover is that of the applied weights: the fitness is
        then what the game would pay on these days, not what the raw proposal would have earned.
        Days no candidate can be scored on are skipped; a candidate with no scorable day gets -1
        (the worst Rank IC) so optimisers never prefer it.
        """
        if inertia:
            if previous is None:
                raise ValueError("fitness with inertia > 0 needs previous (the weights applied today)")
            weights = apply_inertia(np.atleast_2d(weights), previous, float(inertia))
        daily = self.daily(weights, alpha, component)
        with np.errstate(invalid="ignore"):
            n = np.isfinite(daily).sum(1)
            mean = np.where(n > 0, np.nansum(daily, axis=1) / np.maximum(n, 1), -1.0)
        if turnover_penalty and previous is not None:
            mean = mean - turnover_penalty * turnover(np.atleast_2d(weights), previous)
        return mean


@dataclass
class ViewWindow:
    """A scoring window's days seen from the followers' side, for a leader that models how they report.

    Why: a leader that anticipates strategic followers must score what they *would* report under a candidate
    commitment, so it needs what they believed, not only what they reported. ``reports`` is the window of the
    recorded reports (days, returns, rule); ``views`` (L, A, N) the agents' views on those days (point in
    time: recorded at each day's close), ``agent_type`` (A,) each agent's type, ``anchors`` (L, N) the
    consensus published the day before (what the followers saw; NaN where there was none) and
    ``view_moments`` (L, 3, K, N) the views' type moments, bit for bit the reports' where the agents reported
    their views.
    """

    reports: ScoringWindow
    views: FloatArray
    agent_type: npt.NDArray[np.int64]
    anchors: FloatArray
    view_moments: FloatArray

    @property
    def n_days(self) -> int:
        return self.reports.n_days

    @property
    def n_types(self) -> int:
        return self.reports.n_types

    def scoring(self, moments: FloatArray, last: int | None = None) -> ScoringWindow:
        """A ``ScoringWindow`` on these days and returns (the ``last`` ones only, if given) with other reports'
        moments (L, 3, K, N)."""
        w, cut = self.reports, slice(None) if last is None else slice(max(self.n_days - int(last), 0), None)
        return ScoringWindow(w.days[cut], moments[cut], w.returns[cut], w.rule, w.min_stocks)
