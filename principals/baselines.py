"""Baseline leaders that do not learn: equal weights and random weights.

The hindsight oracle (the best fixed ``(d, alpha)`` on the evaluation period) is deliberately *not*
a principal: it needs returns that are not known when a point-in-time leader decides. It is an
analysis function, ``experiments.stats.oracle.hindsight_oracle``, and always labelled as an upper bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mass_env.game import Payoff
from mass_env.game.mechanism import PrincipalAction
from mass_env.roles import DecisionContext
from mass_env.scripted import FixedCommitment

from .registry import check_options, register


class EqualWeights(FixedCommitment):
    """Baseline: uniform weights over types, fixed alpha, never moves (zero turnover)."""

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__(None, alpha, 0.0, name="equal")


class RandomWeights:
    """Random weights ``d ~ Dirichlet(1)`` at a fixed alpha: the no-skill reference for optimisers.

    ``daily=False`` (default) draws one allocation per episode and holds it; ``daily=True`` redraws
    every day. Randomness comes only from a Generator seeded by ``reset(seed=...)``.
    """

    def __init__(self, alpha: float = 0.5, daily: bool = False, concentration: float = 1.0) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if concentration <= 0:
            raise ValueError(f"concentration must be > 0, got {concentration}")
        self.name = "random"
        self.alpha = float(alpha)
        self.daily = bool(daily)
        self.concentration = float(concentration)
        self._rng = np.random.default_rng(0)
        self._w = np.ones(1)

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(None if seed is None else [int(seed), 0x52414E44])
        self._w = self._draw(n_types)

    def _draw(self, n_types: int) -> np.ndarray:
        return np.maximum(self._rng.dirichlet(np.full(n_types, self.concentration)), 1e-12)

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        if self._w.size != ctx.n_types:
            raise ValueError(f"random: context has {ctx.n_types} types, reset() said {self._w.size}")
        if self.daily:
            self._w = self._draw(ctx.n_types)
        return PrincipalAction(self._w, self.alpha)

    def observe(self, paid: Sequence[Payoff]) -> None:
        pass


def _make_equal(**options: Any) -> EqualWeights:
    """Uniform weights, never moves. Options: ``alpha`` (0.5)."""
    check_options("equal", options, ("alpha",))
    return EqualWeights(**options)


def _make_random(**options: Any) -> RandomWeights:
    """Random Dirichlet weights at a fixed alpha. Options: ``alpha``, ``daily``, ``concentration``."""
    check_options("random", options, ("alpha", "daily", "concentration"))
    return RandomWeights(**options)


register("equal", _make_equal, aliases=("equal-weights",))
register("random", _make_random)
