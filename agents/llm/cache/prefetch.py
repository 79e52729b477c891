"""Fill the response cache before a study: every (day, type, persona, stock) rating of an episode,
computed once, optionally split over processes by day.

Why: per-stock ratings are shared by every agent, seed and config (``agents.llm.cache.branches``), but
runs that start at the same time on a process pool all miss the same ratings together and compute
them twice. Warming the cache first (``part k of n`` in each of n processes: days ``k, k + n, ...``,
one torch thread each, no duplicated work) turns every run of the sweep into a cache replay. Each
type rates its whole universe once per day and persona, which is what 8 agents x 20 candidates
draw anyway (~98% of it), so a warmed study costs no more model work than the first seed alone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
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
