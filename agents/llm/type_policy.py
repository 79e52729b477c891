"""One LLM investor type's policy (``LLMFollower``): the day's requests in, the agents' signals out.

Same interface as a scripted follower (``mass_env.scripted``); ``agents.llm.follower`` wires one per type into a
population.

``LLMFollower.act(obs, info)`` for day ``d = info["day"]``:

1. renders the day's brief from ``PointInTimeView(panel, d)`` (once per day, shared by all types);
2. gives each agent ``m`` of the type its own random candidates from the day's universe, drawn with
   ``numpy.random.default_rng([run_seed, type_id, m, d])`` (no global RNG, no model RNG);
3. sends one ``Request`` per agent to the backend (batch in), gets per-candidate rating
   distributions back (scores out);
4. turns them into the signal array the game aggregates, ``(n_agents, N)`` float32: the expected
   rating by default, ``score = (rating - 3) / 2`` in [-1, 1] (``decode="sample"`` samples each
   rating from the model's distribution with the same per-(run, type, agent, day) generator
   instead); ``output="select"`` is the MASS style (1 for the agent's ``n_select`` best
   candidates, 0 for its other candidates). Stocks an agent did not see are NaN.

A failed answer (malformed, refused, timeout, server error) makes that agent's whole row NaN for the
day (missing, never zero) and is logged in ``policy.log``; ``LLMFollowers.report()`` and
``failures()`` summarise the log per status, agent and day for experiment records.

A cached per-stock backend whose ratings for the day are already known skips the requests: the
signals come from the day's rating table (``agents.llm.cache.tables``), bit-identical and much cheaper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mass_env.data.panel import MarketPanel
from mass_env.game.investors import InvestorType

from .backends.base import Answer, Backend, Item, Request, answer_problem, scrub
from .cache.tables import from_table, recall
from .prompts.templates import PERSONAS, TEMPLATE_VERSION, BriefCache, DayBrief

Output = Literal["score", "select"]
Decode = Literal["sample", "expected"]
RATING_VALUES = np.arange(1, 6, dtype=np.float64)
#: expected rating by default: on the SSE50 window the local model's sampled rating was 99.7% sampling
#: noise (rating sd 1.49 across draws vs 0.08 across stocks within a day and type; README, "Choosing the
#: model, prompt and decoding"), so sampled "disagreement" between agents would be dice
DEFAULT_DECODE: Decode = "expected"


@dataclass
class LLMFollower:
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

    def candidates(self, day: int) -> tuple[DayBrief, list[np.ndarray], list[np.random.Generator]]:
        """The day's brief, each agent's sorted candidates (universe indices) and its generator after the draw."""
        assert self.briefs is not None
        brief = self.briefs.get(day)
        uni_idx = np.flatnonzero(brief.universe)
        k = min(self.n_candidates, uni_idx.size)
        cands, rngs = [], []
        for m in range(self.itype.n_agents):
            rng = self._rng(m, day)
            if not k:
                cand = np.zeros(0, dtype=int)
            elif self.draw == "distinct":
                cand = np.sort(rng.choice(uni_idx, size=k, replace=False))
            else:  # MASS's selectors: n_candidates draws with replacement, each stock listed once
                cand = np.unique(rng.choice(uni_idx, size=self.n_candidates, replace=True))
            cands.append(cand)
            rngs.append(rng)
        return brief, cands, rngs

    def build(self, obs: Mapping[str, Any], brief: DayBrief, cands: list[np.ndarray]) -> list[Request]:
        """One ``Request`` per agent for its candidates ``cands[m]``."""
        assert self.briefs is not None
        day = brief.day
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

        reqs = []
        for m, cand in enumerate(cands):
            items = tuple([made[i] if i in made else item(i) for i in cand.tolist()])
            reqs.append(Request(
                agent=f"{self.agent_name}/{m}", type_id=self.itype.type_id, agent_index=m, day=day,
                date=brief.date, seed=self.seed, segments=segments[self.variant(m)], items=items,
                style=self.itype.style, modalities=int(self.itype.modalities),
                feature_names=tuple(self.feature_names), template=TEMPLATE_VERSION, variant=self.variant(m)))
        return reqs

    def requests(
        self, obs: Mapping[str, Any], info: Mapping[str, Any]
    ) -> tuple[list[Request], list[np.ndarray], list[np.random.Generator]]:
        """The day's requests (one per agent), each agent's candidates and its generator."""
        brief, cands, rngs = self.candidates(int(info["day"]))
        return self.build(obs, brief, cands), cands, rngs

    def prepare(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> npt.NDArray[np.float32] | tuple[
            list[Request], list[np.ndarray], list[np.random.Generator]]:
        """The day's signals when the backend's rating table already holds them (``agents.llm.cache.tables``:
        no request built, nothing asked), else the day's requests, candidates and generators."""
        day = int(info["day"])
        done = recall(self, day)
        if done is not None:
            return done
        brief, cands, rngs = self.candidates(day)
        done = from_table(self, brief, cands, rngs)
        if done is not None:
            return done
        return self.build(obs, brief, cands), cands, rngs

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
        got = self.prepare(obs, info)
        if isinstance(got, np.ndarray):
            return got
        reqs, cands, rngs = got
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
            mass = float(np.mean(ans.mass)) if ans.mass else np.nan
            self.record(day, req.date, m, status, int(cand.size), mass, ans.attempts, ans.cached, ans.prompt_tokens,
                        ans.completion_tokens, scrub(problem or ans.detail))
        return out.astype(np.float32)

    def record(self, day: int, date: str, m: int, status: str, n_candidates: int, rating_mass: float,
               attempts: int = 1, cached: bool = True, prompt_tokens: int = 0, completion_tokens: int = 0,
               detail: str = "") -> None:
        """Log agent ``m``'s answer for ``day`` (defaults: a cached rating, as ``agents.llm.cache.tables`` serves)."""
        self.log.append({
            "day": day, "date": date, "type_id": self.itype.type_id, "agent_index": m,
            "agent": f"{self.agent_name}/{m}", "status": status, "attempts": attempts, "cached": cached,
            "n_candidates": n_candidates, "rating_mass": rating_mass, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "detail": detail,
        })
