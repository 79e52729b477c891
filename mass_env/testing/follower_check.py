"""``check_follower``: a follower population honours the ``Follower`` protocol (shapes, ranges, NaN
only where an agent did not look, determinism per seed, no look-ahead)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.panel import MarketPanel
from ..env import PRINCIPAL, MassStackelbergEnv
from ..errors import ActionError
from ..game.investors import build_types
from ..roles import Follower
from .lookahead import first_divergence_signals, follower_signals, perturb_after
from .principal_check import _small_market

__all__ = ["FollowerFactory", "FollowerReport", "check_follower"]

FollowerFactory = Callable[[MassStackelbergEnv, int], Mapping[str, Follower]]


@dataclass(frozen=True)
class FollowerReport:
    agents: tuple[str, ...]
    days: int
    looked_share: float
    lookahead_cut: int


def _signals(factory: FollowerFactory, panel: MarketPanel, n_types: int, agents_per_type: int,
             seed: int) -> tuple[MassStackelbergEnv, list[dict[str, Any]]]:
    env = MassStackelbergEnv(panel, build_types(n_types, agents_per_type))
    followers = factory(env, seed)
    return env, follower_signals(env, followers, start=env.config.warmup_days, end=panel.n_days - 2, seed=seed)


def check_follower(factory: FollowerFactory, *, n_types: int = 3, agents_per_type: int = 2, n_days: int = 60,
                   n_symbols: int = 20, seed: int = 7, market_seed: int = 11) -> FollowerReport:
    """Assert that the follower populations built by ``factory(env, seed)`` honour the interface:

    1. one ``Follower`` (``act`` and ``reset``) per investor agent of the env, and nothing else;
    2. every action has shape ``(n_agents, N)`` with finite values in [-1, 1] or NaN ("did not
       look"), NaN on every stock outside the day's universe, and each agent looks at something;
    3. determinism: the same seed gives the same signals, from a fresh population and after
       ``reset`` of a used one;
    4. no look-ahead: scrambling every field of the market after a cut-off day leaves every signal
       emitted up to that day unchanged.
    """
    panel = _small_market(n_days, n_symbols, market_seed)
    env = MassStackelbergEnv(panel, build_types(n_types, agents_per_type))
    pop = factory(env, seed)
    investors = [a for a in env.possible_agents if a != PRINCIPAL]
    assert set(pop) == set(investors), f"need one follower per investor agent {investors}, got {sorted(pop)}"
    for a, f in pop.items():
        assert isinstance(f, Follower), f"{a}: {f!r} lacks act(obs, info) or reset(seed)"
    try:
        first = follower_signals(env, pop, start=env.config.warmup_days, end=n_days - 2, seed=seed)
    except ActionError as exc:
        raise AssertionError(f"the game rejected the followers' actions: {exc}") from exc
    looked, cells = 0, 0
    for i, acts in enumerate(first):
        day = env.config.warmup_days + i
        universe = panel.universe[day]
        for a, x in acts.items():
            x = np.asarray(x, dtype=np.float64)
            n_agents = env.types[int(a.rsplit("_", 1)[1])].n_agents
            assert x.shape == (n_agents, panel.n_symbols), f"day {day} {a}: shape {x.shape}"
            fin = np.isfinite(x)
            assert not np.isinf(x).any() and (np.abs(x[fin]) <= 1.0 + 1e-6).all(), f"day {day} {a}: outside [-1, 1]"
            assert not fin[:, ~universe].any(), f"day {day} {a}: a signal on a stock outside the universe"
            assert fin.any(1).all(), f"day {day} {a}: an agent looked at no stock"
            looked += int(fin.sum())
            cells += int(n_agents * universe.sum())
    again = follower_signals(env, pop, start=env.config.warmup_days, end=n_days - 2, seed=seed)
    assert first_divergence_signals(first, again) is None, "same seed, different signals after reset()"
    _, fresh = _signals(factory, panel, n_types, agents_per_type, seed)
    assert first_divergence_signals(first, fresh) is None, "same seed, different signals (fresh population)"
    cut = env.config.warmup_days + (n_days - 2 - env.config.warmup_days) // 2
    _, moved = _signals(factory, perturb_after(panel, cut, seed=market_seed + 1), n_types, agents_per_type, seed)
    k = first_divergence_signals(first, moved)
    assert k is None or env.config.warmup_days + k > cut, (
        f"look-ahead: signals of day {env.config.warmup_days + (k or 0)} changed when only data after "
        f"day {cut} changed")
    return FollowerReport(tuple(investors), len(first), looked / max(cells, 1), cut)
