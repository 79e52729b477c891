"""The one protocol every leader implements, and the context it decides in.

A principal is asked once per trading day, at the close, for the commitment that will apply to the
*next* day. It sees a ``DecisionContext``: the env's flat observation (what an RL policy uses) and a
point-in-time door to the recorded follower signals and realised returns (what SA/CMA-ES re-score
candidates on). Whatever it asks for, it cannot see a return that has not realised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from mass_env.game import Payoff, StackelbergGame
from mass_env.game.mechanism import PrincipalAction
from mass_env.game.scoring import ScoringWindow


@dataclass(frozen=True)
class DecisionContext:
    """What a leader may use when committing at the close of ``day`` for ``day + 1``."""

    day: int
    n_types: int
    obs: np.ndarray
    current: PrincipalAction
    applied_weights: np.ndarray
    window: Callable[..., ScoringWindow]

    @classmethod
    def from_game(cls, game: StackelbergGame, obs: np.ndarray) -> "DecisionContext":
        asof = game.t

        def window(lookback: int, *, horizon: int | None = None) -> ScoringWindow:
            return game.scoring_window(lookback, horizon=horizon, asof=asof)

        return cls(asof, game.K, obs, game.announced, game.applied_weights.copy(), window)


@runtime_checkable
class Principal(Protocol):
    """A leader: ``reset`` once per episode, ``act`` once per day, ``observe`` realised payoffs."""

    name: str

    def reset(self, n_types: int, *, seed: int | None = None) -> None: ...

    def act(self, ctx: DecisionContext) -> PrincipalAction: ...

    def observe(self, paid: Sequence[Payoff]) -> None: ...


class EqualWeights:
    """Baseline: uniform weights over types, fixed alpha, never moves (zero turnover)."""

    def __init__(self, alpha: float = 0.5) -> None:
        self.name = "equal"
        self.alpha = float(alpha)
        self._n = 0

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        self._n = n_types

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        return PrincipalAction.uniform(ctx.n_types, self.alpha)

    def observe(self, paid: Sequence[Payoff]) -> None:
        pass
