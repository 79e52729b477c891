"""Public test harness (like ``pettingzoo.test``): checks a user can run on their own components."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from .env import PRINCIPAL, MassStackelbergEnv
from .data.panel import MarketPanel


def perturb_after(panel: MarketPanel, day: int, seed: int = 0) -> MarketPanel:
    """A copy of ``panel`` whose every field after ``day`` is scrambled (prices, volumes,
    valuations, industry returns, macro, suspensions, membership); days ``<= day`` are untouched."""
    rng = np.random.default_rng(seed)
    s = slice(day + 1, None)

    def scramble(a: np.ndarray, scale: float) -> np.ndarray:
        out = np.array(a, copy=True)
        block = out[s]
        out[s] = block * np.exp(rng.normal(0.0, scale, block.shape))
        return out

    tradable = np.array(panel.tradable, copy=True)
    flip = rng.random(tradable[s].shape) < 0.05
    tradable[s] = tradable[s] & ~flip
    member = np.array(panel.member, copy=True)
    member[s] = member[s] & ~(rng.random(member[s].shape) < 0.05)
    adj = scramble(panel.adj_close, 0.05)
    ir = np.array(panel.industry_returns, copy=True)
    ir[s] = rng.normal(0.0, 0.02, ir[s].shape)
    macro = np.array(panel.macro, copy=True)
    macro[s] = macro[s] + rng.normal(0.0, 1.0, macro[s].shape)
    return panel.with_arrays(
        close=scramble(panel.close, 0.05), adj_close=adj, open=scramble(panel.open, 0.05),
        high=scramble(panel.high, 0.05), low=scramble(panel.low, 0.05), volume=scramble(panel.volume, 0.5),
        tradable=tradable, member=member, industry_returns=ir, macro=macro,
        valuation={k: scramble(v, 0.3) for k, v in panel.valuation.items()},
    )


Trajectory = list[dict[str, Any]]


def record_trajectory(env: MassStackelbergEnv, followers: Mapping[str, Any],
                      principal: Callable[[np.ndarray, Mapping[str, Any]], Any], seed: int = 0) -> Trajectory:
    """Play a full episode and record, per step, every observation, action, reward and info."""
    obs, infos = env.reset(seed=seed)
    steps: Trajectory = []
    while env.agents:
        actions = {a: followers[a].act(obs[a], infos[a]) for a in env.agents if a != PRINCIPAL}
        actions[PRINCIPAL] = principal(obs[PRINCIPAL], infos[PRINCIPAL])
        day = infos[PRINCIPAL]["day"]
        obs, rewards, terms, truncs, infos = env.step(actions)
        steps.append({"day": day, "actions": actions, "obs": obs, "rewards": rewards, "infos": infos})
    return steps


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return bool(a == b)


def first_divergence(t1: Trajectory, t2: Trajectory) -> int | None:
    """Day of the first step whose actions, observations, rewards or infos differ (None if none)."""
    for s1, s2 in zip(t1, t2):
        if not _equal(s1, s2):
            return int(s1["day"])
    return None if len(t1) == len(t2) else int(t1[min(len(t1), len(t2)) - 1]["day"])


def follower_signals(env: MassStackelbergEnv, followers: Mapping[str, Any], *, start: int, end: int,
                     seed: int = 0) -> list[dict[str, Any]]:
    """Followers' actions on each day of ``start..end`` under a fixed equal-weight leader (for
    determinism and cache-replay checks of follower populations)."""
    obs, infos = env.reset(seed=seed, options={"start": start, "end": end})
    for p in followers.values():
        if hasattr(p, "reset"):
            p.reset(seed)
    lead = np.r_[np.ones(env.game.K), 0.5, 0.0]
    out = []
    while env.agents:
        acts = {a: followers[a].act(obs[a], infos[a]) for a in env.agents if a != PRINCIPAL}
        out.append(acts)
        obs, _, _, _, infos = env.step({**acts, PRINCIPAL: lead})
    return out
