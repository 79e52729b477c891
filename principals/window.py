"""The options every window-fitting leader shares (SA, CMA-ES, the gradient leader), declared once.

A window leader re-fits ``(d, alpha)`` every day on the point-in-time ``ScoringWindow`` of the
last ``lookback`` days whose ``fitness_horizon``-day return has realised, scoring one component
of the aggregate. What the game will do with its answer is part of the fitness: the turnover
penalty mu comes from the game's rules in the ``DecisionContext`` (unless set explicitly), and the
inertia the leader commits to is applied to every candidate as the mechanism will apply it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mass_env.game.components import Component
from mass_env.game.stackelberg import GameConfig


@dataclass(frozen=True)
class WindowOptions:
    """Args:
        component: which Rank IC the fitness uses: ``"disagreement"`` (MASS: the ``-std`` column),
            ``"signal"`` (the combined signal; "objective alignment") or ``"consensus"``.
        learn_alpha: search alpha too (otherwise it stays at ``alpha``).
        alpha: fixed alpha, or the initial one when learned.
        lookback: number of realised days in the fitness window (MASS: 5).
        fitness_horizon: forward-return horizon of the fitness label in days (MASS: 5).
        turnover_penalty: mu in the fitness, ``RankIC - mu * ||d - d_applied||_1 / 2``; None (default)
            = the game's own ``GameConfig.turnover_penalty``, read from the decision context.
        inertia: the mechanism's inertia the leader commits to (0: none); candidates are scored as
            the mechanism will apply them.
        min_days: optimise only once the window holds this many days (None: the leader's default).
        alpha_start: where a learned alpha's daily search starts: ``"warm"`` (yesterday's answer) or
            ``"reset"`` (``alpha`` every day, as the paper's engine did with ``alpha_init`` 0.5).
        turnover_weights: the weights the fitness's turnover is measured on: ``"normalised"`` (the
            simplex, what the game charges) or ``"raw"`` (the optimiser's unnormalised weights against
            yesterday's, as the paper's engine did; scale-dependent).
    """

    component: Component = Component.SIGNAL
    learn_alpha: bool = False
    alpha: float = 0.5
    lookback: int = 5
    fitness_horizon: int = 5
    turnover_penalty: float | None = None
    inertia: float = 0.0
    min_days: int | None = None
    alpha_start: str = "warm"
    turnover_weights: str = "normalised"

    def __post_init__(self) -> None:
        object.__setattr__(self, "component", Component.parse(self.component))
        if self.alpha_start not in ("warm", "reset"):
            raise ValueError(f"alpha_start must be 'warm' or 'reset', got {self.alpha_start!r}")
        if self.turnover_weights not in ("normalised", "raw"):
            raise ValueError(f"turnover_weights must be 'normalised' or 'raw', got {self.turnover_weights!r}")
        if self.lookback < 1 or self.fitness_horizon < 1:
            raise ValueError("lookback and fitness_horizon must be >= 1")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if (self.turnover_penalty is not None and not self.turnover_penalty >= 0) or not self.inertia >= 0:
            raise ValueError("turnover_penalty and inertia must be >= 0")
        object.__setattr__(self, "learn_alpha", bool(self.learn_alpha))
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "lookback", int(self.lookback))
        object.__setattr__(self, "fitness_horizon", int(self.fitness_horizon))
        object.__setattr__(self, "inertia", float(self.inertia))
        if self.turnover_penalty is not None:
            object.__setattr__(self, "turnover_penalty", float(self.turnover_penalty))
        if self.min_days is not None:
            object.__setattr__(self, "min_days", max(1, int(self.min_days)))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def split(cls, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(window options, the rest)`` of a leader's keyword options."""
        names = set(cls.names())
        return ({k: v for k, v in options.items() if k in names},
                {k: v for k, v in options.items() if k not in names})

    def penalty(self, rules: GameConfig | None) -> float:
        """mu for the fitness: the explicit option, else the game's rule, else 0."""
        if self.turnover_penalty is not None:
            return self.turnover_penalty
        return float(rules.turnover_penalty) if rules is not None else 0.0

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["component"] = self.component.value
        return d


class WindowedPrincipal:
    """Base of window leaders: ``self.window`` holds the options, readable as attributes
    (``leader.lookback``, ``leader.component``, ...)."""

    window: WindowOptions

    def __getattr__(self, name: str) -> Any:
        window = self.__dict__.get("window")
        if window is not None and name in WindowOptions.names():
            return getattr(window, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def alpha0(self) -> float:
        """The fixed alpha, or the initial one when alpha is learned."""
        return self.window.alpha
