"""The payment rule inside the game: what a rule pays each investor type for one recorded day.

Why here: the game (``mass_env.game``) sits below the rule registry, so the env asks this module for the
followers' pay. A type is one follower of the rule; its report is its agents' mean signal of the day
(the moments the mechanism aggregates), the target the day's payoff-horizon forward return z-scored
across the stocks (Rank IC rules are unchanged by the z-score: it is monotone), and the consensus
weights the commitment applied that day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mass_env.game.aggregation import TypeMoments

from ._base import FloatArray, PayContext, PaymentRule
from .rules import Skill, WeightedSkill


def zscore(values: npt.ArrayLike) -> FloatArray:
    """Cross-sectional z-score of one day's returns (NaN stays NaN; a constant day gives zeros)."""
    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x)
    if not ok.any():
        return x.copy()
    sd = float(np.std(x[ok]))
    return np.where(ok, (x - np.mean(x[ok])) / (sd if sd > 0 else 1.0), np.nan)


def type_pay(game: Any, rule: PaymentRule, day: int) -> FloatArray:
    """(K,) pay of every type for recorded ``day`` of ``game`` (a ``StackelbergGame``); 0 where undefined."""
    rec = game.records[day - game.start]
    means = TypeMoments.from_stacked(rec.moments).type_mean()  # (K, N)
    return _day_pay(rule, means, rec.applied, game._payoff_returns[day], game.config.min_stocks)


def _day_pay(rule: PaymentRule, means: FloatArray, applied: FloatArray, returns: FloatArray, min_stocks: int
             ) -> FloatArray:
    ctx = PayContext(target=zscore(returns)[None, :], weights=applied, min_stocks=min_stocks)
    return np.nan_to_num(rule.pay(means[:, None, :], ctx)[:, 0])


def mean_type_pay(game: Any, rule: PaymentRule, paid: Sequence[Any]) -> FloatArray:
    """(K,) pay of every type averaged over the days paid at one step (``paid``: the game's ``Payoff``s).

    ``skill`` and ``weighted_skill`` read the types' Rank ICs the game already ranked for the payoff
    (``Payoff.type_rank_ic``, one ranked pass per paid day) instead of ranking the type means again: the
    same numbers (``tests/mass_env/incentives/test_game_reports.py`` checks them equal), a cheaper step.
    Every other rule pays through ``type_pay``."""
    if type(rule) in (Skill, WeightedSkill):
        if len(paid) == 1:  # a step pays at most one day: its row is the mean
            tic = paid[0].type_rank_ic
            one = np.where(np.isfinite(tic), tic, 0.0)
            if type(rule) is WeightedSkill:
                one = one * (game.K * game.records[paid[0].day - game.start].applied)
            return one
        skill = np.array([np.where(np.isfinite(p.type_rank_ic), p.type_rank_ic, 0.0) for p in paid])
        if type(rule) is WeightedSkill:
            skill = skill * (game.K * np.array([game.records[p.day - game.start].applied for p in paid]))
        return skill.mean(0)
    return np.mean([type_pay(game, rule, p.day) for p in paid], axis=0)


def batch_type_pay(rule: PaymentRule, type_rank_ic: FloatArray, applied: FloatArray, type_mean: FloatArray,
                   returns: FloatArray, min_stocks: int) -> FloatArray:
    """``mean_type_pay`` of many games that were each paid one day at this step (the batched followers' env):
    rows of ``type_rank_ic`` and ``applied`` ``(n, K)``, ``type_mean`` ``(n, K, N)`` and the paid days'
    ``returns`` ``(n, N)``; ``(n, K)`` pay, each row what ``mean_type_pay`` gives its game. ``skill`` and
    ``weighted_skill`` in one array expression; any other rule game by game (``type_pay``'s arithmetic)."""
    if type(rule) in (Skill, WeightedSkill):
        skill = np.where(np.isfinite(type_rank_ic), type_rank_ic, 0.0)
        return skill * (applied.shape[-1] * applied) if type(rule) is WeightedSkill else skill
    return np.array([_day_pay(rule, m, w, r, min_stocks) for m, w, r in zip(type_mean, applied, returns)]
                    ).reshape(applied.shape)
