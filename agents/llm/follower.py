"""LLM investor followers: one policy per investor type, the same interface as ``ScriptedInvestor``.

``LLMInvestor.act(obs, info)`` for day ``d = info["day"]``:

1. renders the day's brief from ``PointInTimeView(panel, d)`` (once per day, shared by all types);
2. gives each agent ``m`` of the type its own random candidates from the day's universe, drawn with
   ``numpy.random.default_rng([run_seed, type_id, m, d])`` (no global RNG, no model RNG);
3. sends one ``Request`` per agent to the backend (batch in), gets per-candidate rating
   distributions back (scores out);
4. turns them into the signal array the game aggregates, ``(n_agents, N)`` float32: by default
   each rating is *sampled* from the model's distribution with the same per-(run, type, agent,
   day) generator, ``score = (rating - 3) / 2`` in [-1, 1] (``decode="expected"`` uses the mean
   rating instead); ``output="select"`` is the MASS style (1 for the agent's ``n_select`` best
   candidates, 0 for its other candidates). Stocks an agent did not see are NaN.

A failed answer (malformed, refused, timeout, server error) makes that agent's whole row NaN for the
day (missing, never zero) and is logged in ``policy.log``; ``LLMFollowers.report()`` and
``failures()`` summarise the log per status, agent and day for experiment records.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from mass_env.data.panel import MarketPanel
from mass_env.game.investors import InvestorType

from .backend import STATUSES, UNANSWERED, Answer, Backend, Item, Request, answer_problem, scrub
from .cache import CachedBackend, ResponseCache
from .identity import answer_identity
from .prompts import PERSONAS, TEMPLATE_VERSION, DayBrief
from .registry import make_backend

Output = Literal["score", "select"]
Decode = Literal["sample", "expected"]
RATING_VALUES = np.arange(1, 6, dtype=np.float64)
#: expected rating by default: on the SSE50 window the local model's sampled rating was 99.7% sampling
#: noise (rating sd 1.49 across draws vs 0.08 across stocks within a day and type; README, "Choosing the
#: model, prompt and decoding"), so sampled "disagreement" between agents would be dice
DEFAULT_DECODE: Decode = "expected"
#: The files that define LLM followers (for resume fingerprints of experiment runners).
SOURCES = tuple(sorted(Path(__file__).resolve().parent.glob("*.py")))


class BriefCache:
    """Day briefs computed once per day and shared by every type's policy (keeps the last few)."""

    def __init__(self, panel: MarketPanel, keep: int = 4, *, anonymize: bool = False) -> None:
        self.panel = panel
        self.keep = keep
        self.anonymize = bool(anonymize)
        self._briefs: OrderedDict[int, DayBrief] = OrderedDict()
        self._texts: dict[tuple[int, int], dict[int, str]] = {}

    def item_texts(self, day: int, itype: InvestorType) -> dict[int, str]:
        """``{stock: text}`` memo for the type's modalities on ``day`` (types seeing the same thing share it)."""
        return self._texts.setdefault((day, int(itype.modalities)), {})

    def get(self, day: int) -> DayBrief:
        b = self._briefs.get(day)
        if b is None:
            b = DayBrief.build(self.panel, day, anonymize=self.anonymize)
            self._briefs[day] = b
            while len(self._briefs) > self.keep:
                gone = self._briefs.popitem(last=False)[0]
                self._texts = {k: v for k, v in self._texts.items() if k[0] != gone}
        return b


@dataclass
class LLMInvestor:
    """Policy of one follower (one investor type) whose agents are answered by an LLM backend."""

    itype: InvestorType
    feature_names: tuple[str, ...]
    panel: MarketPanel
    backend: Backend
    seed: int = 0
    n_candidates: int = 20
    output: Output = "score"
    n_select: int = 5
    decode: Decode = DEFAULT_DECODE
    draw: str = "distinct"
    briefs: BriefCache | None = None
    personas: int = 1
    risk: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.output not in ("score", "select"):
            raise ValueError(f"output must be 'score' or 'select', got {self.output!r}")
        if self.decode not in ("sample", "expected"):
            raise ValueError(f"decode must be 'sample' or 'expected', got {self.decode!r}")
        if self.n_candidates < 1 or self.n_select < 1:
            raise ValueError("n_candidates >= 1 and n_select >= 1 are required")
        if not 1 <= self.personas <= len(PERSONAS):
            raise ValueError(f"personas must be 1..{len(PERSONAS)} (prompt variants per type), got {self.personas}")
        if not np.isfinite(self.risk) or self.risk < 0:
            raise ValueError(f"risk (the spread of risk appetites within a type) must be >= 0, got {self.risk}")
        if self.draw not in ("distinct", "replacement"):
            raise ValueError(f"draw must be 'distinct' or 'replacement' (MASS), got {self.draw!r}")
        if self.briefs is None:
            self.briefs = BriefCache(self.panel)

    @property
    def agent_name(self) -> str:
        return f"investor_{self.itype.type_id}"

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = int(seed)
        self.log = []

    def _rng(self, agent: int, day: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.itype.type_id, agent, day])

    def variant(self, agent: int) -> int:
        """Agent ``agent``'s persona (prompt variant): fixed by its index, not the seed, so the
        ratings of a persona are shared by every seed."""
        return agent % self.personas

    def risk_aversion(self, agent: int) -> float:
        """Agent ``agent``'s aversion to the model's own uncertainty about a stock, evenly spread over
        ``[-risk, risk]`` across the type's agents (negative: seeks uncertain stocks)."""
        M = self.itype.n_agents
        return 0.0 if M < 2 else self.risk * (2.0 * agent / (M - 1) - 1.0)

    def requests(
        self, obs: Mapping[str, Any], info: Mapping[str, Any]
    ) -> tuple[list[Request], list[np.ndarray], list[np.random.Generator]]:
        """The day's requests (one per agent), each agent's candidates and its generator."""
        day = int(info["day"])
        assert self.briefs is not None
        brief = self.briefs.get(day)
        uni_idx = np.flatnonzero(brief.universe)
        feats = np.asarray(obs["features"], dtype=np.float64)
        segments = [(brief.day_text, brief.type_text(self.itype, v)) for v in range(self.personas)]
        symbols = brief.symbols or self.panel.symbols
        made: dict[int, Item] = {}
        texts = self.briefs.item_texts(day, self.itype)

        def item(i: int) -> Item:  # each stock's text once per day, shared by the type's agents
            it = made.get(i)
            if it is None:
                text = texts.get(i)
                if text is None:
                    text = texts[i] = brief.item_text(self.itype, i)
                it = made[i] = Item(symbols[i], text, tuple(feats[i].tolist()))
            return it

        reqs, cands, rngs = [], [], []
        for m in range(self.itype.n_agents):
            rng = self._rng(m, day)
            k = min(self.n_candidates, uni_idx.size)
            if not k:
                cand = np.zeros(0, dtype=int)
            elif self.draw == "distinct":
                cand = np.sort(rng.choice(uni_idx, size=k, replace=False))
            else:  # MASS's selectors: n_candidates draws with replacement, each stock listed once
                cand = np.unique(rng.choice(uni_idx, size=self.n_candidates, replace=True))
            items = tuple([made[i] if i in made else item(i) for i in cand.tolist()])
            reqs.append(Request(
                agent=f"{self.agent_name}/{m}", type_id=self.itype.type_id, agent_index=m, day=day,
                date=brief.date, seed=self.seed, segments=segments[self.variant(m)], items=items,
                style=self.itype.style, modalities=int(self.itype.modalities),
                feature_names=tuple(self.feature_names), template=TEMPLATE_VERSION, variant=self.variant(m)))
            cands.append(cand)
            rngs.append(rng)
        return reqs, cands, rngs

    def _signal(self, probs: np.ndarray, rng: np.random.Generator, aversion: float = 0.0) -> np.ndarray:
        mean = probs @ RATING_VALUES
        if self.decode == "expected":
            rating = mean
        else:
            cdf = np.cumsum(probs, axis=1)
            cdf[:, -1] = 1.0
            u = rng.random(probs.shape[0])
            rating = 1.0 + (u[:, None] > cdf).sum(1)
        if aversion:  # mean-variance on the model's belief: shade down what the model is unsure about
            sd = np.sqrt(np.maximum(probs @ RATING_VALUES**2 - mean**2, 0.0))
            rating = np.clip(rating - aversion * sd, 1.0, 5.0)
        if self.output == "score":
            return (rating - 3.0) / 2.0
        tie = rng.random(rating.size)
        order = np.lexsort((tie, -rating))
        sig = np.zeros(rating.size)
        sig[order[: min(self.n_select, rating.size)]] = 1.0
        return sig

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> npt.NDArray[np.float32]:
        reqs, cands, rngs = self.requests(obs, info)
        return self.signals(int(info["day"]), reqs, cands, rngs, self.backend.answer(reqs))

    def signals(self, day: int, reqs: list[Request], cands: list[np.ndarray], rngs: list[np.random.Generator],
               answers: list[Answer]) -> npt.NDArray[np.float32]:
        """The day's signal array from the agents' answers (a failed or unusable answer: a NaN row), logged."""
        N = self.panel.n_symbols
        out = np.full((self.itype.n_agents, N), np.nan)
        for m, (req, cand, rng, ans) in enumerate(zip(reqs, cands, rngs, answers)):
            problem = answer_problem(ans, len(cand)) if ans.ok else None
            usable = ans.ok and ans.probs is not None and problem is None
            if usable and cand.size:
                probs = np.asarray(ans.probs, dtype=np.float64).reshape(len(cand), 5)
                out[m, cand] = self._signal(probs, rng, self.risk_aversion(m))
            status = ans.status if (usable or not ans.ok) else "malformed"
            self.log.append({
                "day": day, "date": req.date, "type_id": self.itype.type_id, "agent_index": m,
                "agent": req.agent, "status": status, "attempts": ans.attempts, "cached": ans.cached,
                "n_candidates": int(cand.size),
                "rating_mass": float(np.mean(ans.mass)) if ans.mass else np.nan,
                "prompt_tokens": ans.prompt_tokens, "completion_tokens": ans.completion_tokens,
                "detail": scrub(problem or ans.detail),
            })
        return out.astype(np.float32)


class LLMFollowers(dict):
    """``{agent name: LLMInvestor}`` (a plain mapping for the runner) plus run-level reporting."""

    backend: Backend

    def act_many(self, obs: Mapping[str, Any], infos: Mapping[str, Any],
                 names: Any = None) -> dict[str, npt.NDArray[np.float32]]:
        """Every named policy's action for the day from *one* backend call (``mass_env.rollout``
        uses this when present): the day's requests of all types go out together, so a server sees
        up to ``concurrency`` of them at once however few agents a type has. Same signals as ``act``
        per policy (each agent keeps its own generator)."""
        names = list(self.keys() if names is None else names)
        batches = [(a, *self[a].requests(obs[a], infos[a])) for a in names]
        answers = self.backend.answer([r for _, reqs, _, _ in batches for r in reqs])
        out, k = {}, 0
        for a, reqs, cands, rngs in batches:
            out[a] = self[a].signals(int(infos[a]["day"]), reqs, cands, rngs, answers[k:k + len(reqs)])
            k += len(reqs)
        return out

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
        return out


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
    base = getattr(env, "unwrapped", env)
    be = make_backend(backend, **dict(backend_options or {})) if isinstance(backend, str) else backend
    if cache is not None and not isinstance(be, CachedBackend):
        be = CachedBackend(be, cache, mode=cache_mode, retry_failed=retry_failed)
    if anonymize is None:
        anonymize = bool(getattr(getattr(be, "inner", be), "served", False))
    briefs = shared_briefs(be, base.panel, bool(anonymize))
    out = LLMFollowers({
        f"investor_{t.type_id}": LLMInvestor(
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
    return {"backend": answer_identity(backend, backend_options), "follower_options": dict(follower_options),
            "template": TEMPLATE_VERSION}


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
    shared backend. All options are plain values, so a sweep can send them to worker processes."""
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
