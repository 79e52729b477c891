"""``check_principal``: a leader honours the ``Principal`` protocol (valid actions, determinism per
seed, no state leaking across episodes, no look-ahead)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.panel import MarketPanel
from ..data.synthetic import SyntheticConfig, synthetic_market
from ..env import MassStackelbergEnv
from ..game.investors import build_types
from ..game.mechanism import PrincipalAction
from ..game.stackelberg import GameConfig, Payoff
from ..roles import DecisionContext, Principal
from ..rollout import rollout
from ..scripted import scripted_followers

__all__ = ["ConformanceReport", "check_principal"]


class _Recorder:
    """Wraps a principal, recording what it was given and what it answered."""

    def __init__(self, inner: Principal) -> None:
        self.inner = inner
        self.name = inner.name
        self.actions: list[PrincipalAction] = []
        self.days: list[int] = []
        self.observed: int = 0

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        self.inner.reset(n_types, seed=seed)

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        a = self.inner.act(ctx)
        self.actions.append(a)
        self.days.append(ctx.day)
        return a

    def observe(self, paid: Sequence[Payoff]) -> None:
        assert all(isinstance(p, Payoff) for p in paid)
        self.observed += 1
        self.inner.observe(paid)


@dataclass(frozen=True)
class ConformanceReport:
    name: str
    n_actions: int
    distinct_actions: int
    lookahead_cut: int


def _small_market(n_days: int, n_symbols: int, seed: int) -> MarketPanel:
    return synthetic_market(SyntheticConfig(n_days=n_days, n_symbols=n_symbols, n_industries=4), seed=seed)[0]


def _lookahead_cut(config: GameConfig, n_days: int) -> int:
    start = config.warmup_days
    return start + (2 * (n_days - 2 - start)) // 3


def _perturb_prices(panel: MarketPanel, cut: int, seed: int) -> MarketPanel:
    rng = np.random.default_rng(seed)
    adj = panel.adj_close.copy()
    adj[cut + 1:] *= np.exp(rng.normal(0.0, 0.05, adj[cut + 1:].shape)).cumprod(axis=0)
    return panel.with_arrays(adj_close=adj)


def _play(principal: Principal, panel: MarketPanel, n_types: int, agents_per_type: int, seed: int,
          config: GameConfig) -> _Recorder:
    env = MassStackelbergEnv(panel, build_types(n_types, agents_per_type), config)
    rec = _Recorder(principal)
    rollout(env, rec, scripted_followers(env, seed=seed), seed=seed)
    assert rec.observed == env.game.n_steps, "observe() must be called once per step"
    return rec


def _key(a: PrincipalAction) -> tuple[Any, ...]:
    return (tuple(np.round(a.normalised, 12)), round(a.alpha, 12), round(a.inertia, 12))


def check_principal(factory: Callable[[], Principal], *, n_types: int = 3, agents_per_type: int = 2,
                    n_days: int = 70, n_symbols: int = 20, seed: int = 7, market_seed: int = 11,
                    config: GameConfig | None = None) -> ConformanceReport:
    """Assert that the principals built by ``factory()`` honour the leader interface:

    1. the object satisfies the ``Principal`` protocol and has a non-empty ``name``;
    2. every ``act`` returns a valid ``PrincipalAction`` for the game's number of types (finite,
       nonnegative weights with a positive sum, alpha in [0, 1], 0 <= inertia <= inertia_max);
    3. ``observe`` is handed the realised payoffs once per step;
    4. determinism: the same seed gives the same actions, from a fresh instance and after ``reset`` of
       a used one (no state leaks from one episode to the next);
    5. no look-ahead: perturbing the prices after a cut-off day leaves every action decided up to that
       day unchanged (a leader that peeked at a not-yet-realised return would change).
    """
    config = config or GameConfig()
    panel = _small_market(n_days, n_symbols, market_seed)
    p = factory()
    assert isinstance(p, Principal), f"{p!r} does not implement the Principal protocol"
    assert isinstance(p.name, str) and p.name, "a principal needs a non-empty name"

    first = _play(p, panel, n_types, agents_per_type, seed, config)
    assert first.actions, "act() was never called"
    for day, a in zip(first.days, first.actions):
        assert isinstance(a, PrincipalAction), f"day {day}: act() returned {type(a).__name__}"
        assert a.n_types == n_types, f"day {day}: {a.n_types} weights for {n_types} types"
        w = np.asarray(a.weights)
        assert np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0, f"day {day}: bad weights {w}"
        assert 0.0 <= a.alpha <= 1.0, f"day {day}: alpha {a.alpha} outside [0, 1]"
        assert 0.0 <= a.inertia <= config.inertia_max, \
            f"day {day}: inertia {a.inertia} outside [0, {config.inertia_max}]"

    ref = [_key(a) for a in first.actions]
    fresh = _play(factory(), panel, n_types, agents_per_type, seed, config)
    assert [_key(a) for a in fresh.actions] == ref, "same seed, different actions (fresh instance)"
    again = _play(p, panel, n_types, agents_per_type, seed, config)
    assert [_key(a) for a in again.actions] == ref, "same seed, different actions after reset()"

    cut = _lookahead_cut(config, n_days)
    moved = _play(factory(), _perturb_prices(panel, cut, market_seed + 1), n_types, agents_per_type, seed, config)
    for day, a, b in zip(first.days, first.actions, moved.actions):
        if day > cut:
            break
        assert _key(a) == _key(b), (f"look-ahead: the action decided at the close of day {day} changed "
                                    f"when only prices after day {cut} changed")
    return ConformanceReport(p.name, len(ref), len(set(ref)), cut)


