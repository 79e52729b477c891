"""LLM followers told the payment rule: each agent sees the rule it is paid by, its type's recent pay and
yesterday's consensus, and chooses its report; its view is asked apart.

Why: a rational follower's answer to a rule is a best response (``mass_env.incentives``); an LLM follower's is
whatever the model says once it knows how it is paid. Per agent and day a ``ToldFollower`` sends two requests
for its candidates (``agents.llm.prompts.told``):

* the **report**: the rule of the game (``GameConfig.follower_reward``, part of the commitment followers
  observe), its type's pay on the last ``pay_days`` paid days (what the game paid, ``mass_env.incentives.ingame``)
  and, per stock, yesterday's published consensus;
* the **view**: the same question paid by ``proper``, with neither pay nor consensus shown.

The report is the signal (``act``); the view is ``last_views``, so the game records both
(``mass_env.game.reports``). Both are read at the close of yesterday and earlier only (point in time). The
answers depend on the game (pay, consensus), so a told follower never recalls another run's signals
(``agents.llm.cache.tables``); the response cache still answers every prompt it has seen (its keys hold the
texts), so a rerun sends no request, and a view, which no rule changes, is asked once for every rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mass_env.incentives import make_rule
from mass_env.incentives.ingame import mean_type_pay

from .backends.base import Answer, Backend, Request
from .cache.store import ResponseCache
from .follower import LLMFollowers, follower_backend
from .prompts.told import TOLD_VERSION, VIEW_RULE, consensus_phrases, told_segment
from .type_policy import LLMFollower

VIEW = "view"


@dataclass
class ToldFollower(LLMFollower):
    """An ``LLMFollower`` whose agents are told the game's payment rule, their pay and yesterday's consensus.

    ``env``: the ``MassStackelbergEnv`` it plays in (the game's rule, pay and published consensus are read
    from it at each ``act``); ``pay_days``: how many paid days of pay are shown; ``consensus``: show it."""

    env: Any = None
    pay_days: int = 3
    consensus: bool = True
    last_views: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.env is None:
            raise ValueError("a told follower needs the env it plays in (env=...)")
        if self.pay_days < 0:
            raise ValueError(f"pay_days must be >= 0, got {self.pay_days}")

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.last_views = None

    @property
    def game(self) -> Any:
        return getattr(self.env, "unwrapped", self.env).game

    def pay(self) -> list[float]:
        """The type's pay on the last ``pay_days`` days paid by the close of yesterday, oldest first."""
        game = self.game
        if not self.pay_days:
            return []
        rule = game.config.payment_rule()
        paid = [rec.paid for rec in game.records if rec.paid is not None][-self.pay_days:]
        return [float(mean_type_pay(game, rule, [p])[self.itype.type_id]) for p in paid]

    def shown_consensus(self) -> np.ndarray:
        """Yesterday's published consensus per stock (NaN where none, or before the first day)."""
        recs = self.game.records
        return np.asarray(recs[-1].consensus, dtype=np.float64) if recs else np.full(self.panel.n_symbols, np.nan)

    def told_requests(self, base: list[Request], cands: list[np.ndarray]) -> list[Request]:
        """Each agent's report request, then each agent's view request, from its plain requests ``base``."""
        rule = self.game.config.payment_rule()
        pay = self.pay()
        phrases = consensus_phrases(self.shown_consensus()) if self.consensus else None
        report_tail = told_segment(rule, pay, self.consensus)
        view_tail = told_segment(make_rule(VIEW_RULE), None, False)
        reports, views = [], []
        for req, cand in zip(base, cands):
            head, typ = req.segments
            items = req.items if phrases is None else tuple(
                dataclasses.replace(it, text=it.text + phrases[i]) for it, i in zip(req.items, cand.tolist()))
            reports.append(dataclasses.replace(req, segments=(head, typ + report_tail), items=items,
                                               template=TOLD_VERSION))
            views.append(dataclasses.replace(req, agent=f"{req.agent}:{VIEW}", segments=(head, typ + view_tail),
                                             template=TOLD_VERSION))
        return reports + views

    def prepare(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> tuple[
            list[Request], list[np.ndarray], list[np.random.Generator]]:
        """The day's report and view requests (always asked: the answers depend on the game)."""
        brief, cands, rngs = self.candidates(int(info["day"]))
        return self.told_requests(self.build(obs, brief, cands), cands), cands, rngs

    def signals(self, day: int, reqs: list[Request], cands: list[np.ndarray], rngs: list[np.random.Generator],
                answers: list[Answer]) -> npt.NDArray[np.float32]:
        """The reports (returned) and the views (``last_views``) from the day's two answers per agent."""
        M = self.itype.n_agents
        report = super().signals(day, reqs[:M], cands, rngs, answers[:M])
        view_rngs = [np.random.default_rng([self.seed, self.itype.type_id, m, day, 1]) for m in range(M)]
        view = super().signals(day, reqs[M:], cands, view_rngs, answers[M:])
        for row in self.log[-M:]:
            row["agent"] += f":{VIEW}"
        self.last_views = view
        return report


def told_followers(env: Any, backend: str | Backend = "local", *, seed: int = 0,
                   cache: ResponseCache | str | Path | None = None, cache_mode: str = "readwrite",
                   retry_failed: bool = False, pay_days: int = 3, consensus: bool = True, n_candidates: int = 20,
                   anonymize: bool | None = None, backend_options: Mapping[str, Any] | None = None,
                   **options: Any) -> LLMFollowers:
    """One ``ToldFollower`` per investor type of ``env`` (like ``llm_followers``; the same backends, cache and
    options: ``decode``, ``personas``, ``risk``, ``output``, ``draw``). The rule is the env's
    ``GameConfig.follower_reward``."""
    base, be, briefs = follower_backend(env, backend, cache, cache_mode, retry_failed, anonymize, backend_options)
    out = LLMFollowers({
        f"investor_{t.type_id}": ToldFollower(
            t, tuple(base.feature_names[f"investor_{t.type_id}"]), base.panel, be, seed=seed,
            n_candidates=n_candidates, briefs=briefs, env=env, pay_days=pay_days, consensus=consensus, **options)
        for t in base.types
    })
    out.backend = be
    return out
