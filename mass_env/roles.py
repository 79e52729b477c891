"""The two roles of the game as protocols, and the context a leader decides in.

They live at the bottom of the project (beside the game) because everything above uses them: the
episode loop (``mass_env.rollout``), the conformance harnesses (``mass_env.testing``), the leaders
in ``principals`` and the followers in ``agents``. A user's leader or follower only has to satisfy
these protocols; nothing needs to subclass anything.

Timing (see ``mass_env.game.stackelberg``): at the close of day t the leader commits to the
commitment of day t+1, and the followers emit day t's signals under the commitment announced at
t-1. The context hands the leader what it may know at that close and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .game.mechanism import PrincipalAction
from .game.scoring import ScoringWindow, ViewWindow
from .game.stackelberg import GameConfig, Payoff, StackelbergGame

WindowFn = Callable[..., ScoringWindow]
ViewsFn = Callable[..., ViewWindow]

#: Agent names in the environments: the leader, and one follower per investor type.
PRINCIPAL = "principal_0"


def follower_agent(type_id: int) -> str:
    """The env agent name of investor type ``type_id``."""
    return f"investor_{type_id}"


@dataclass(frozen=True)
class DecisionContext:
    """What a leader may use when committing at the close of ``day`` for ``day + 1``.

    * ``obs``: the env's flat leader observation (``PrincipalObsLayout``; what an RL policy uses);
    * ``current`` / ``applied_weights``: the commitment in force today and the weights the mechanism
      applies today (after inertia) — tomorrow's inertia and turnover are measured against them;
    * ``window(lookback, horizon=h)``: the last ``lookback`` recorded days whose ``h``-day return has
      realised by this close, as a ``ScoringWindow`` (what SA / CMA-ES / the gradient leader fit on);
    * ``rules``: the game's rules (``GameConfig``): the turnover penalty mu that the payoff will be
      charged, the inertia bound, the payoff horizon, the aggregation rule;
    * ``info``: the env's info dict for the leader this step (day, date, applied commitment);
    * ``views(lookback, horizon=h)``: the same days as ``window`` with the agents' views and the consensus
      they saw (``ViewWindow``; what a leader that models the followers' response needs), None when the
      game keeps no views.
    """

    day: int
    n_types: int
    obs: np.ndarray
    current: PrincipalAction
    applied_weights: np.ndarray
    window: WindowFn
    rules: GameConfig = field(default_factory=GameConfig)
    info: Mapping[str, Any] = field(default_factory=dict)
    views: ViewsFn | None = None

    @classmethod
    def from_game(cls, game: StackelbergGame, obs: np.ndarray, info: Mapping[str, Any] | None = None
                  ) -> DecisionContext:
        asof = game.t

        def window(lookback: int, *, horizon: int | None = None) -> ScoringWindow:
            return game.scoring_window(lookback, horizon=horizon, asof=asof)

        def views(lookback: int, *, horizon: int | None = None) -> ViewWindow:
            return game.view_window(lookback, horizon=horizon, asof=asof)

        return cls(asof, game.K, obs, game.announced, game.applied_weights.copy(), window, game.config,
                   dict(info or {}), views if game.record_reports else None)


@runtime_checkable
class Principal(Protocol):
    """A leader: ``reset`` once per episode, ``act`` once per day, ``observe`` realised payoffs.

    ``observe`` receives the ``Payoff`` s paid at this step (``Payoff.day`` is the day whose
    commitment applied, decided at the close of ``day - 1``; ``paid_on`` the close at which its
    return realised); most steps pay one, the first ``lag + h`` pay none. Conformance:
    ``mass_env.testing.check_principal``.
    """

    name: str

    def reset(self, n_types: int, *, seed: int | None = None) -> None: ...

    def act(self, ctx: DecisionContext) -> PrincipalAction: ...

    def observe(self, paid: Sequence[Payoff]) -> None: ...


@runtime_checkable
class Follower(Protocol):
    """The policy of one investor type (the env's agent ``investor_k``): its agents' signals per day.

    ``act(obs, info)`` returns ``(n_agents, N)`` values in [-1, 1] (float), one row per agent of the
    type; NaN means "this agent did not look at this stock" (missing, never zero). ``obs`` is the
    type's point-in-time observation (``features``, ``universe``, ``commitment``); ``info["day"]``
    is the trading day. ``reset(seed)`` starts an episode; the same seed must give the same signals.
    The signals are the agents' *reports*. A follower whose reports differ from what its agents believe
    (their *views*: what they would report if paid for accuracy) exposes ``last_views``, the
    ``(n_agents, N)`` views of its latest ``act`` (optional; absent or None: it reported its views); the
    game records both (``mass_env.game.reports``).
    Conformance: ``mass_env.testing.check_follower``.
    """

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> npt.ArrayLike: ...

    def reset(self, seed: int | None = None) -> None: ...


#: A follower population: one policy per investor agent name (``investor_0`` ...).
Followers = Mapping[str, Follower]
