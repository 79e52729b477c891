"""Fill the response cache before a study, optionally split over processes by day: either every
(day, type, persona, stock) rating of an episode (``prefetch``) or exactly the ratings a run will ask
for (``prefetch_run``), counted beforehand without a model call (``record_draws``).

Why: per-stock ratings are shared by every agent, seed and config (``agents.llm.cache.branches``), but
runs that start at the same time on a process pool all miss the same ratings together and compute
them twice. Warming the cache first (``part k of n`` in each of n processes: days ``k, k + n, ...``,
one torch thread each, no duplicated work) turns every run of the sweep into a cache replay.

* ``prefetch``: each type rates its whole universe once per day and persona, which is what 8 agents x
  20 candidates draw anyway (~98% of it); at 2 agents x 5 candidates the runs draw a fifth of it.
* ``prefetch_run``: the run's own followers play its days against a fixed leader (the agents' draws are
  seeded and never depend on the leader), so the backend gets exactly the requests the run would send,
  in the same batches. That matters beyond the count: the local model packs a call's stocks into shared
  forwards, and in bfloat16 a stock's rating moves by up to ~0.02 with the stocks packed beside it
  (~2e-6 in float32), so only the run's own batches give the ratings the run would compute itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mass_env.rollout import rollout
from mass_env.scripted import FixedCommitment

from ..backends.base import Backend
from ..prompts.templates import BriefCache
from ..type_policy import LLMFollower


class _Warm:
    """A follower that asks the backend for its type's whole universe on its days and plays NaN."""

    def __init__(self, policy: LLMFollower, n_agents: int, part: int, parts: int,
                 progress: Callable[[int], None] | None = None) -> None:
        self.policy, self.n_agents, self.part, self.parts = policy, n_agents, part, parts
        self.days = 0
        self.progress = progress

    def reset(self, seed: int | None = None) -> None:
        self.policy.reset(seed)

    def act(self, obs: Any, info: Any) -> np.ndarray:
        day = int(info["day"])
        if day % self.parts == self.part:
            self.policy.backend.answer(self.policy.requests(obs, info)[0])
            self.days += 1
            if self.progress is not None:
                self.progress(day)
        return np.full((self.n_agents, self.policy.panel.n_symbols), np.nan, dtype=np.float32)


def prefetch(env: Any, backend: Backend, *, start: int | None = None, end: int | None = None, part: int = 0,
             parts: int = 1, personas: int = 1, anonymize: bool | None = None,
             progress: Callable[[str], None] | None = None, every: int = 10) -> dict[str, int]:
    """Ask ``backend`` (a ``CachedBackend`` around a per-stock model) for every type's rating of every
    stock of the day's universe, for each persona, on the episode days ``d`` with ``d % parts == part``
    between ``start`` and ``end``. Returns the number of days and cache rows computed/reused.
    ``progress`` gets a line every ``every`` days (days done, rows computed so far)."""
    if not 0 <= part < parts:
        raise ValueError(f"part must be in 0..{parts - 1}, got {part}")
    base = getattr(env, "unwrapped", env)
    if anonymize is None:
        anonymize = bool(getattr(getattr(backend, "inner", backend), "served", False))
    briefs = BriefCache(base.panel, anonymize=anonymize)
    warm = {}
    stats = getattr(backend, "cache_stats", None)
    last = base.types[-1].type_id if base.types else None

    def tick(day: int, t0: float = time.perf_counter()) -> None:
        done = warm[f"investor_{last}"].days
        if progress is not None and done % every == 0:
            computed = f", {stats.branch_misses} rating(s) computed" if stats is not None else ""
            progress(f"  prefetch: {done} day(s) (day {day}){computed}, {time.perf_counter() - t0:.0f}s")

    for t in base.types:
        name = f"investor_{t.type_id}"
        pol = LLMFollower(dataclasses.replace(t, n_agents=personas), tuple(base.feature_names[name]), base.panel,
                          backend, n_candidates=base.panel.n_symbols, personas=personas, briefs=briefs)
        warm[name] = _Warm(pol, t.n_agents, part, parts, tick if t.type_id == last else None)
    options = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    rollout(env, FixedCommitment(alpha=0.5), warm, seed=0, options=options)
    out = {"days": max((w.days for w in warm.values()), default=0)}
    if stats is not None:
        out.update(computed=stats.branch_misses, reused=stats.branch_hits)
    return out


@dataclass
class Draws:
    """The ratings a study asks for, per (market, day, type, persona) key: the stocks its agents draw
    (``wanted``, sorted universe indices) and the size of the day's universe (``universe``)."""

    wanted: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict)
    universe: dict[tuple[Any, ...], int] = field(default_factory=dict)

    @property
    def exact(self) -> int:
        """Ratings of the stocks the agents draw (what a run asks the model for, at most)."""
        return sum(int(a.size) for a in self.wanted.values())

    @property
    def whole(self) -> int:
        """Ratings of the whole universe on the same days, types and personas (what ``prefetch`` asks)."""
        return sum(self.universe.values())


class _Drawing:
    """A follower that records its agents' candidates (no request, no model call) and plays NaN."""

    def __init__(self, policy: LLMFollower, draws: Draws, market: Any) -> None:
        self.policy, self.draws, self.market = policy, draws, market

    def reset(self, seed: int | None = None) -> None:
        self.policy.reset(seed)

    def act(self, obs: Any, info: Any) -> np.ndarray:
        pol, day = self.policy, int(info["day"])
        brief, cands, _ = pol.candidates(day)
        t = pol.itype
        head = (self.market, day, t.type_id, t.style, int(t.modalities))
        size = int(np.count_nonzero(brief.universe))
        for v in range(pol.personas):
            mine = [c for m, c in enumerate(cands) if pol.variant(m) == v]
            if not mine:
                continue
            key = (*head, v)
            have = self.draws.wanted.get(key)
            got = np.unique(np.concatenate(mine if have is None else [have, *mine]))
            self.draws.wanted[key] = got
            self.draws.universe[key] = size
        return np.full((t.n_agents, pol.panel.n_symbols), np.nan, dtype=np.float32)


def record_draws(env: Any, followers: Mapping[str, LLMFollower], draws: Draws, *, seed: int, market: Any = None,
                 start: int | None = None, end: int | None = None) -> Draws:
    """Add to ``draws`` the stocks that ``followers`` (a run's LLM population, seeded by the run) draw on
    the episode days between ``start`` and ``end``: the run's episode played against a fixed leader with
    no model call. ``market`` tags the keys (two markets never share a rating)."""
    drawing = {a: _Drawing(p, draws, market) for a, p in followers.items()}
    options = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    rollout(env, FixedCommitment(alpha=0.5), drawing, seed=seed, options=options)
    return draws


class _Part(dict):
    """A run's LLM population that answers only its days ``d % parts == part`` (NaN on the others)."""

    def __init__(self, followers: Any, part: int, parts: int, progress: Callable[[int], None] | None) -> None:
        super().__init__(followers)
        self.inner, self.part, self.parts, self.progress = followers, part, parts, progress
        self.days = 0

    def act_many(self, obs: Mapping[str, Any], infos: Mapping[str, Any], names: Any = None) -> dict[str, Any]:
        names = list(self.keys() if names is None else names)
        day = int(infos[names[0]]["day"]) if names else -1
        if day % self.parts != self.part:
            return {a: np.full((self[a].itype.n_agents, self[a].panel.n_symbols), np.nan, dtype=np.float32)
                    for a in names}
        out = self.inner.act_many(obs, infos, names)
        self.days += 1
        if self.progress is not None:
            self.progress(day)
        return dict(out)


def prefetch_run(env: Any, followers: Any, *, seed: int, start: int | None = None, end: int | None = None,
                 part: int = 0, parts: int = 1, progress: Callable[[str], None] | None = None,
                 every: int = 10) -> dict[str, int]:
    """Let a run's own LLM population (``LLMFollowers`` seeded as the run will be) ask its backend on the
    episode days ``d`` with ``d % parts == part``: exactly the run's requests, in the run's batches, so the
    cache then answers every rating the run asks and holds no other. Returns the days played and the
    cache rows computed/reused so far."""
    if not 0 <= part < parts:
        raise ValueError(f"part must be in 0..{parts - 1}, got {part}")
    stats = getattr(getattr(followers, "backend", None), "cache_stats", None)
    t0 = time.perf_counter()

    def tick(day: int) -> None:
        if progress is not None and playing.days % every == 0:
            computed = f", {stats.branch_misses} rating(s) computed" if stats is not None else ""
            progress(f"  prefetch: {playing.days} day(s) (day {day}){computed}, {time.perf_counter() - t0:.0f}s")

    playing = _Part(followers, part, parts, tick)
    options = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    rollout(env, FixedCommitment(alpha=0.5), playing, seed=seed, options=options)
    out = {"days": playing.days}
    if stats is not None:
        out.update(computed=stats.branch_misses, reused=stats.branch_hits)
    return out
