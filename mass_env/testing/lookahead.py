"""Look-ahead proofs: nothing decided at or before a day may depend on data after it.

``perturb_after(panel, t)`` scrambles every field after day ``t``; ``record_trajectory`` plays an
episode and keeps every step; ``first_divergence`` finds the first step where two recordings differ;
``check_no_lookahead`` does all three and checks the rule below.

**The one-day-ahead rule.** A recorded step is labelled with the day ``d`` at whose close its actions
were decided (``step["day"]``). It holds the followers' signals for day ``d`` (data up to the close of
``d``), the leader's commitment for day ``d + 1`` (announced at the close of ``d``), the rewards paid
at the close of ``d``, and the observations and infos that the step hands out for the *next* decision,
made at the close of day ``d + 1``. So after ``perturb_after(panel, t)``:

* every step with ``day <= t`` has the same ``actions`` and ``rewards`` (the commitment for day
  ``t + 1``, announced at the close of ``t``, included: the earliest commitment a perturbation after
  ``t`` may change is the one for day ``t + 2``, announced at the close of ``t + 1``);
* every step with ``day < t`` is identical in full;
* the step of day ``t`` may differ in its ``obs`` and ``infos``: they are day ``t + 1``'s.

Hence ``first_divergence`` of two full recordings is ``None`` or ``>= t`` (not ``> t``), and a
divergence at exactly ``t`` is legitimate only in ``obs`` / ``infos``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..data.panel import MarketPanel
from ..env import PRINCIPAL, MassStackelbergEnv
from ..game.mechanism import PrincipalAction
from ..game.stackelberg import Payoff
from ..roles import DecisionContext, Follower
from ..rollout import Transition, rollout
from ..scripted import FixedCommitment, scripted_followers

__all__ = ["Trajectory", "check_no_lookahead", "first_divergence", "first_divergence_signals", "follower_signals",
           "perturb_after", "record_trajectory"]


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


#: One recorded episode: per step, its ``day``, ``actions``, ``obs``, ``rewards`` and ``infos``.
Trajectory = list[dict[str, Any]]


class _CallablePrincipal:
    """Adapts ``principal(obs, info) -> action`` (a Box vector or ``PrincipalAction``) to the protocol."""

    name = "callable"

    def __init__(self, fn: Callable[[np.ndarray, Mapping[str, Any]], Any]) -> None:
        self.fn = fn

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        pass

    def act(self, ctx: DecisionContext) -> Any:
        return self.fn(ctx.obs, ctx.info)

    def observe(self, paid: Sequence[Payoff]) -> None:
        pass


def record_trajectory(env: MassStackelbergEnv, followers: Mapping[str, Any],
                      principal: Callable[[np.ndarray, Mapping[str, Any]], Any], seed: int = 0) -> Trajectory:
    """Play a full episode and record, per step, every observation, action, reward and info.

    ``principal(obs, info)`` acts from the leader's observation and info alone (an RL-style leader).
    Followers are not reset: they play with the seed they were built with.
    """
    steps: Trajectory = []

    def keep(tr: Transition) -> None:
        steps.append({"day": tr.day, "actions": tr.actions, "obs": tr.obs, "rewards": tr.rewards,
                      "infos": tr.infos})

    rollout(env, _CallablePrincipal(principal), followers, seed=seed, on_step=keep, keep_follower_state=True)
    return steps


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_equal(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
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
    out: list[dict[str, Any]] = []
    rollout(env, FixedCommitment(alpha=0.5), followers, seed=seed, options={"start": start, "end": end},
            on_step=lambda tr: out.append({a: x for a, x in tr.actions.items() if a != PRINCIPAL}))
    return out



def first_divergence_signals(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int | None:
    """Index of the first day whose follower signals differ (None if none)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if not _equal(x, y):
            return i
    return None if len(a) == len(b) else min(len(a), len(b))




def check_no_lookahead(make_env: Callable[[MarketPanel], MassStackelbergEnv], panel: MarketPanel, cut: int, *,
                       followers: Callable[[MassStackelbergEnv], Mapping[str, Follower]] | None = None,
                       principal: Callable[[np.ndarray, Mapping[str, Any]], Any] | None = None,
                       seed: int = 0, perturb_seed: int | None = None) -> int | None:
    """Assert the one-day-ahead rule (module docstring) for one episode: play ``make_env(panel)`` and
    ``make_env(perturb_after(panel, cut))`` with the same followers and leader, and check that

    1. every step decided at the close of a day ``<= cut`` has the same actions and rewards (the
       leader's commitment for day ``cut + 1`` included);
    2. every step of a day ``< cut`` is identical, observations and infos included;
    3. the first divergence, if any, is at a day ``>= cut``.

    ``followers(env)``: the followers (default: ``scripted_followers(env, seed=seed)``, built afresh for
    each run); ``principal(obs, info)``: the leader, acting from its observation and info (default: the
    neutral commitment: equal weights, alpha 0.5, no inertia). Returns the day of the first divergence (``None``: the
    perturbation changed nothing the episode recorded).
    """
    runs = []
    for p in (panel, perturb_after(panel, cut, seed=cut if perturb_seed is None else perturb_seed)):
        env = make_env(p)
        pop = followers(env) if followers is not None else scripted_followers(env, seed=seed)
        lead = principal if principal is not None else _zero_action(env)
        runs.append(record_trajectory(env, pop, lead, seed=seed))
    a, b = runs
    for s1, s2 in zip(a, b):
        day = int(s1["day"])
        if day <= cut:
            for key in ("actions", "rewards"):
                assert _equal(s1[key], s2[key]), (
                    f"look-ahead: the {key} decided at the close of day {day} changed when only data after "
                    f"day {cut} changed")
        if day < cut:
            assert _equal(s1, s2), (f"look-ahead: the observations handed out at the close of day {day + 1} "
                                    f"changed when only data after day {cut} changed")
    first = first_divergence(a, b)
    assert first is None or first >= cut, f"look-ahead: the recordings diverge at day {first} < {cut}"
    return first


def _zero_action(env: MassStackelbergEnv) -> Callable[[np.ndarray, Mapping[str, Any]], Any]:
    neutral = PrincipalAction(np.ones(env.game.K), 0.5, 0.0)  # equal weights, alpha 0.5, no inertia
    return lambda obs, info: neutral
