"""LLM investor followers as a population: one ``LLMFollower`` (``agents.llm.type_policy``) per investor
type, wired to one backend (and its response cache), with run-level reporting.

``llm_followers(env, backend)`` gives ``{agent name: LLMFollower}`` like ``scripted_followers``;
``LLMFollowers.act_many`` answers every type's day with one backend call; ``report()`` and
``failures()`` summarise the policies' logs per status, agent and day for experiment records.
``shared_backend`` / ``llm_population`` / ``follower_factory`` share one backend (model, cache, rating
tables, day briefs) by every run of a sweep process, which is what makes a study's replay cheap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mass_env.data.panel import MarketPanel

from .backends.base import STATUSES, UNANSWERED, Backend
from .backends.registry import make_backend
from .cache.identity import answer_identity
from .cache.store import CachedBackend, ResponseCache
from .prompts.templates import TEMPLATE_VERSION, BriefCache
from .type_policy import DEFAULT_DECODE, Decode, LLMFollower, Output

__all__ = ["SOURCES", "LLMFollowers", "follower_factory", "llm_followers", "llm_identity",
           "llm_population", "pooled_moves", "shared_backend", "shared_briefs"]

#: The files that define LLM followers, subpackages included (for resume fingerprints of experiment runners).
SOURCES = tuple(sorted(Path(__file__).resolve().parent.rglob("*.py")))


class LLMFollowers(dict):
    """``{agent name: LLMFollower}`` (a plain mapping for the runner) plus run-level reporting."""

    backend: Backend

    def act_many(self, obs: Mapping[str, Any], infos: Mapping[str, Any],
                 names: Any = None) -> dict[str, npt.NDArray[np.float32]]:
        """Every named policy's action for the day from *one* backend call (``mass_env.rollout``
        uses this when present): the day's requests of all types go out together, so a server sees
        up to ``concurrency`` of them at once however few agents a type has. Same signals as ``act``
        per policy (each agent keeps its own generator); a type whose ratings are all known asks nothing."""
        names = list(self.keys() if names is None else names)
        out: dict[str, npt.NDArray[np.float32]] = {}
        batches = []
        for a in names:  # types whose day the rating table holds need no request (``agents.llm.cache.tables``)
            got = self[a].prepare(obs[a], infos[a])
            if isinstance(got, np.ndarray):
                out[a] = got
            else:
                batches.append((a, *got))
        answers = self.backend.answer([r for _, reqs, _, _ in batches for r in reqs]) if batches else []
        k = 0
        for a, reqs, cands, rngs in batches:
            out[a] = self[a].signals(int(infos[a]["day"]), reqs, cands, rngs, answers[k:k + len(reqs)])
            k += len(reqs)
        return {a: out[a] for a in names}

    def log_frame(self) -> pd.DataFrame:
        """One row per (agent, day) answered this episode: status, attempts, cached, tokens."""
        rows = [r for p in self.values() for r in p.log]
        cols = ["day", "date", "type_id", "agent_index", "agent", "status", "attempts", "cached",
                "n_candidates", "rating_mass", "prompt_tokens", "completion_tokens", "detail"]
        return pd.DataFrame(rows, columns=cols).sort_values(["day", "type_id", "agent_index"], kind="mergesort",
                                                            ignore_index=True)

    def failures(self) -> pd.DataFrame:
        """The (agent, day) rows whose answer failed (their signals are NaN, not zero)."""
        df = self.log_frame()
        return df[df["status"] != "ok"].reset_index(drop=True)

    def report(self) -> dict[str, Any]:
        """Counts for an experiment record: per status, failures per day, cache and backend stats."""
        df = self.log_frame()
        counts = {s: int((df["status"] == s).sum()) for s in STATUSES}
        fails = df[df["status"] != "ok"]
        unanswered = int(df["status"].isin(UNANSWERED).sum())
        out: dict[str, Any] = {
            "backend": dict(getattr(self.backend, "fingerprint", {})),
            "template": TEMPLATE_VERSION,
            "agent_days": len(df),
            "by_status": counts,
            "failed_agent_days": len(fails),
            # no answer at all (timeouts, server/client errors): not cached, asked again by the next run,
            # so a stored run with unanswered agent-days is incomplete (experiments.sweep recomputes it)
            "unanswered": unanswered,
            "failures_by_day": {int(d): int(n) for d, n in fails.groupby("day").size().items()},
            "cached_answers": int(df["cached"].sum()) if len(df) else 0,
            "mean_rating_mass": float(df["rating_mass"].mean()) if df["rating_mass"].notna().any() else None,
        }
        stats = getattr(self.backend, "stats", None)
        if stats is not None and hasattr(stats, "as_dict"):
            out["backend_stats"] = stats.as_dict()
        inner = getattr(self.backend, "inner", self.backend)
        scoring = getattr(inner, "scoring", None)
        if scoring is not None:
            out["scoring"] = scoring.as_dict()
        cached: Any = self.backend  # a CachedBackend (or any backend carrying cache_stats and cache)
        cs = getattr(cached, "cache_stats", None)
        if cs is not None:
            out["cache"] = {**cs.as_dict(), "path": str(cached.cache.path)}
        moved = [m for p in self.values() for m in getattr(p, "moves", ())]
        if moved:  # followers told the rule (agents.llm.told): their reports' moves per day, pooled over types
            out["told"] = pooled_moves(moved)
        return out


def pooled_moves(moves: list[tuple[int, int, float, int, float]]) -> dict[str, list[Any]]:
    """Per day, pooled over types: mean |report - view| (``shift``) and mean move toward the consensus shown
    (``toward``, NaN on a day with none) from the types' ``(day, cells, sum, cells shown, sum toward)``."""
    days = sorted({m[0] for m in moves})
    at = {d: i for i, d in enumerate(days)}
    sums = np.zeros((len(days), 4))
    for d, n, s, nt, st in moves:
        sums[at[d]] += (n, s, nt, st)
    with np.errstate(invalid="ignore", divide="ignore"):
        shift, toward = sums[:, 1] / sums[:, 0], sums[:, 3] / sums[:, 2]
    return {"days": days, "shift": [float(x) for x in shift], "toward": [float(x) for x in toward]}


def shared_briefs(backend: Any, panel: MarketPanel, anonymize: bool) -> BriefCache:
    """The day briefs (and stock texts) of ``panel``, kept on ``backend`` for every run that uses it.

    Why: a sweep process shares one backend by all its runs (``shared_backend``) and every run of the
    same market renders the same point-in-time texts; a replayed run would spend most of its time
    rendering them again. Keyed by the panel object itself (held, so its id is never reused)."""
    memo = getattr(backend, "_shared_briefs", None)
    if memo is None:
        memo = {}
        try:
            backend._shared_briefs = memo
        except AttributeError:  # a backend with __slots__: no sharing, same texts
            return BriefCache(panel, anonymize=anonymize)
    hit = memo.get((id(panel), anonymize))
    if hit is None or hit[0] is not panel:
        hit = memo[(id(panel), anonymize)] = (panel, BriefCache(panel, keep=4096, anonymize=anonymize))
    return hit[1]


def follower_backend(env: Any, backend: str | Backend, cache: ResponseCache | str | Path | None, cache_mode: str,
                     retry_failed: bool, anonymize: bool | None, backend_options: Mapping[str, Any] | None
                     ) -> tuple[Any, Backend, Any]:
    """(the env's base, the backend wrapped in the response cache, the day briefs every type shares): what
    every LLM follower population of an env is built on. ``anonymize`` None: on for served models."""
    base = getattr(env, "unwrapped", env)
    be = make_backend(backend, **dict(backend_options or {})) if isinstance(backend, str) else backend
    if cache is not None and not isinstance(be, CachedBackend):
        be = CachedBackend(be, cache, mode=cache_mode, retry_failed=retry_failed)
    if anonymize is None:
        anonymize = bool(getattr(getattr(be, "inner", be), "served", False))
    return base, be, shared_briefs(be, base.panel, bool(anonymize))


def llm_followers(env: Any, backend: str | Backend = "local", *, seed: int = 0,
                  cache: ResponseCache | str | Path | None = None, cache_mode: str = "readwrite",
                  retry_failed: bool = False, n_candidates: int = 20, output: Output = "score",
                  n_select: int = 5, decode: Decode = DEFAULT_DECODE, draw: str = "distinct", personas: int = 1,
                  risk: float = 0.0, anonymize: bool | None = None,
                  backend_options: Mapping[str, Any] | None = None) -> LLMFollowers:
    """One LLM policy per follower agent of a ``MassStackelbergEnv`` (keyed by agent name), like
    ``scripted_followers``. ``backend`` is a backend object or a name for ``make_backend``;
    ``cache`` (a path or ``ResponseCache``) wraps it in the SQLite response cache. ``personas``
    (prompt variants per type) and ``risk`` (spread of risk appetites) make agents of a type differ
    for a reason; ``anonymize`` (default: on for served models, off for local ones) hides tickers,
    sector names and dates from the prompts (``DayBrief.build``)."""
    base, be, briefs = follower_backend(env, backend, cache, cache_mode, retry_failed, anonymize, backend_options)
    out = LLMFollowers({
        f"investor_{t.type_id}": LLMFollower(
            t, tuple(base.feature_names[f"investor_{t.type_id}"]), base.panel, be, seed=seed,
            n_candidates=n_candidates, output=output, n_select=n_select, decode=decode, draw=draw,
            briefs=briefs, personas=personas, risk=risk)
        for t in base.types
    })
    out.backend = be
    return out


def llm_identity(backend: str | Backend = "local", backend_options: Mapping[str, Any] | None = None,
                 **follower_options: Any) -> dict[str, Any]:
    """What determines an LLM population's answers (for run keys and population names): the backend's
    ``answer_identity`` (server, model and revision, decoding, prompt format), the follower options and
    the prompt template version. How answers are fetched or cached is left out."""
    follower_options = {k: v for k, v in follower_options.items()
                        if k not in ("cache", "cache_mode", "retry_failed")}
    out = {"backend": answer_identity(backend, backend_options), "follower_options": dict(follower_options),
           "template": TEMPLATE_VERSION}
    if follower_options.get("told") is not None:
        from .prompts.told import TOLD_VERSION

        out["told"] = TOLD_VERSION
    return out


_SHARED_BACKENDS: dict[str, Backend] = {}


def shared_backend(backend: str | Backend = "local", *, backend_options: Mapping[str, Any] | None = None,
                   cache: ResponseCache | str | Path | None = None, cache_mode: str = "readwrite",
                   retry_failed: bool = False) -> Backend:
    """One backend (and model) per process for the same settings, wrapped in its response cache:
    every run of a sweep in this process (or worker) reuses it instead of loading the model again."""
    if not isinstance(backend, str):
        be: Backend = backend
        return CachedBackend(be, cache, mode=cache_mode, retry_failed=retry_failed) if cache is not None else be
    key = json.dumps([backend, dict(backend_options or {}), str(cache) if cache is not None else None, cache_mode,
                      retry_failed], sort_keys=True, default=str)
    if key not in _SHARED_BACKENDS:
        be = make_backend(backend, **dict(backend_options or {}))
        if cache is not None:
            be = CachedBackend(be, cache, mode=cache_mode, retry_failed=retry_failed)
        _SHARED_BACKENDS[key] = be
    return _SHARED_BACKENDS[key]


def llm_population(env: Any, seed: int, *, backend: str | Backend = "local",
                   backend_options: Mapping[str, Any] | None = None, cache: ResponseCache | str | Path | None = None,
                   cache_mode: str = "readwrite", retry_failed: bool = False, **follower_options: Any) -> LLMFollowers:
    """The ``llm`` follower population (``agents.populations``): ``llm_followers`` on the process's
    shared backend. All options are plain values, so a sweep can send them to worker processes (with
    ``told``, ``agents.populations`` builds ``agents.llm.told.told_population`` instead)."""
    be = shared_backend(backend, backend_options=backend_options, cache=cache, cache_mode=cache_mode,
                        retry_failed=retry_failed)
    return llm_followers(env, be, seed=seed, **follower_options)


llm_population.identity = lambda options: llm_identity(**options)  # type: ignore[attr-defined]


def follower_factory(backend: str | Backend = "local", *, backend_options: Mapping[str, Any] | None = None,
                     cache: ResponseCache | str | Path | None = None, cache_mode: str = "readwrite",
                     retry_failed: bool = False, **follower_options: Any) -> Callable[[Any, int], LLMFollowers]:
    """``factory(env, seed) -> LLMFollowers`` with its own backend (created on first use and shared by
    every run of the factory; every run gets fresh policies seeded by its run seed). The factory
    carries ``.name`` (``llm-<backend>-<hash of the options that change answers>``), ``.identity``
    and ``.sources`` (this package's files, for a resume fingerprint). Sweeps use the registered
    ``llm`` population instead (``agents.populations``), whose options travel to worker processes."""
    state: dict[str, Any] = {}
    identity = llm_identity(backend, backend_options, **follower_options)

    def factory(env: Any, seed: int) -> LLMFollowers:
        if "backend" not in state:
            be = make_backend(backend, **dict(backend_options or {})) if isinstance(backend, str) else backend
            if cache is not None:
                be = CachedBackend(be, cache, mode=cache_mode, retry_failed=retry_failed)
            state["backend"] = be
        return llm_followers(env, state["backend"], seed=seed, **follower_options)

    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
    factory.identity = identity  # type: ignore[attr-defined]
    factory.name = f"llm-{backend if isinstance(backend, str) else 'custom'}-{digest}"  # type: ignore[attr-defined]
    factory.sources = SOURCES  # type: ignore[attr-defined]
    factory.backend = lambda: state.get("backend")  # type: ignore[attr-defined]
    return factory
