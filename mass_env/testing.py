"""Public test harnesses (like ``pettingzoo.test``): checks a user can run on their own components.

* ``check_principal(factory)``: a leader honours the ``Principal`` protocol (valid actions,
  determinism per seed, no state leaking across episodes, no look-ahead).
* ``check_follower(factory)``: a follower population honours the ``Follower`` protocol (shapes,
  ranges, NaN only where an agent did not look, determinism per seed, no look-ahead).
* ``perturb_after`` / ``record_trajectory`` / ``first_divergence``: prove that nothing decided at or
  before a day depends on data after it. ``follower_signals``: followers' actions over a window.
* ``planted_followers(env, informativeness)``: a known-answer market for leaders: type k's signal
  is ``rho_k`` x the rank of the *future* return plus noise, so the best weights are known (a fixture
  that looks ahead on purpose; ``check_follower`` rejects it, as it should).

Every episode here is played by ``mass_env.rollout``, the same loop the experiments use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .data.panel import MarketPanel
from .data.returns import ReturnSpec
from .data.synthetic import SyntheticConfig, synthetic_market
from .env import PRINCIPAL, MassStackelbergEnv
from .errors import ActionError
from .game.investors import InvestorType, build_types
from .game.mechanism import PrincipalAction
from .game.stackelberg import GameConfig, Payoff
from .roles import DecisionContext, Follower, Principal
from .rollout import Transition, rollout
from .scripted import FixedCommitment, scripted_followers

FollowerFactory = Callable[[MassStackelbergEnv, int], Mapping[str, Follower]]


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


# ---------------------------------------------------------------------------------------------- leaders
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


# ---------------------------------------------------------------------------------------------- followers
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


def first_divergence_signals(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int | None:
    """Index of the first day whose follower signals differ (None if none)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if not _equal(x, y):
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


# ---------------------------------------------------------------------------------------------- known answers
@dataclass
class PlantedFollower:
    """A follower type whose informativeness is planted: agent signal = tanh((rho z + noise) / 2), z the
    day's cross-sectional rank of the realised ``future`` return (uniform scores, unit variance).

    **It reads the future on purpose**: a test fixture that makes the right answer known (weight the
    types with the largest ``rho``), never a follower to report results with. Randomness (noise and
    each agent's ``n_candidates`` stocks) comes from ``default_rng([seed, type_id, day])``.
    """

    itype: InvestorType
    future: np.ndarray  # (days, N) forward returns at the planted horizon: look-ahead by design
    rho: float
    seed: int = 0
    noise: float = 1.0
    n_candidates: int | None = None  # None: every agent looks at the whole universe

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = int(seed)

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> np.ndarray:
        day, M = int(info["day"]), self.itype.n_agents
        universe = np.asarray(obs["universe"]) > 0.5
        r = np.where(universe, self.future[day], np.nan)
        ok = np.isfinite(r)
        z = np.zeros(r.size)  # no realised return (suspended at entry or exit): no information
        if ok.sum() > 1:
            rank = np.argsort(np.argsort(r[ok]))
            z[ok] = ((rank + 0.5) / ok.sum() - 0.5) * np.sqrt(12.0)
        rng = np.random.default_rng([self.seed, self.itype.type_id, day])
        keys = np.where(universe, rng.random((M, r.size)), np.inf)
        k = int(universe.sum()) if self.n_candidates is None else min(self.n_candidates, int(universe.sum()))
        seen = np.zeros((M, r.size), dtype=bool)
        if k > 0:
            np.put_along_axis(seen, np.argpartition(keys, k - 1, axis=1)[:, :k], True, axis=1)
        raw = self.rho * z[None, :] + self.noise * rng.standard_normal((M, r.size))
        return np.where(seen, np.tanh(raw / 2.0), np.nan).astype(np.float32)


def planted_followers(env: Any, informativeness: Sequence[float], *, seed: int = 0, noise: float = 1.0,
                      horizon: int | None = None, n_candidates: int | None = None) -> dict[str, PlantedFollower]:
    """One ``PlantedFollower`` per investor type of ``env`` (keyed by agent name), type k with
    informativeness ``rho_k = informativeness[k]`` about the ``horizon``-day forward return (default:
    the game's payoff horizon, at its execution lag). Known answer: a leader should weight the types
    with the largest ``rho``; with one informative type among noise, equal weights dilute it."""
    base = getattr(env, "unwrapped", env)
    rho = np.asarray(informativeness, dtype=np.float64)
    if rho.shape != (len(base.types),) or not np.isfinite(rho).all():
        raise ValueError(f"informativeness needs one finite value per type ({len(base.types)}), got {list(rho)}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    cfg = base.game.config
    future = base.game.returns.get(ReturnSpec(horizon or cfg.horizon, cfg.lag))
    return {f"investor_{t.type_id}": PlantedFollower(t, future, float(rho[t.type_id]), seed, float(noise),
                                                      n_candidates) for t in base.types}
