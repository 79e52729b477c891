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
(``mass_env.game.reports``). Both are read at the close of yesterday and earlier only (point in time).
``rule`` names the rule told (default: the game's); ``report_view`` makes the same followers the untold
control: they ask only the view and report it. Per day each type records how far its reports moved from its
views (``moves``: |report - view| and the move toward the consensus shown), which ``LLMFollowers.report``
pools into a run's record. The answers depend on the game (pay, consensus), so a told follower never recalls
another run's signals (``agents.llm.cache.tables``); the response cache still answers every prompt it has
seen (its keys hold the texts), so a rerun sends no request, and a view, which no rule changes, is asked once
for every rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mass_env.incentives import PaymentRule, make_rule
from mass_env.incentives.ingame import mean_type_pay

from .backends.base import Answer, Backend, Request
from .cache.store import ResponseCache
from .follower import LLMFollowers, follower_backend, shared_backend
from .prompts.told import TOLD_VERSION, VIEW_RULE, consensus_phrases, told_segment
from .type_policy import LLMFollower

VIEW = "view"
#: ``told`` option of the ``llm`` population that makes told followers report their views (the untold control)
TOLD_VIEW = VIEW


@dataclass
class ToldFollower(LLMFollower):
    """An ``LLMFollower`` whose agents are told the game's payment rule, their pay and yesterday's consensus.

    ``env``: the ``MassStackelbergEnv`` it plays in (the game's rule, pay and published consensus are read
    from it at each ``act``); ``pay_days``: how many paid days of pay are shown; ``consensus``: show it;
    ``rule``: the rule told and whose pay is shown (None: the game's ``GameConfig.follower_reward``);
    ``report_view``: ask only the view and report it (the untold control of a told run)."""

    env: Any = None
    pay_days: int = 3
    consensus: bool = True
    rule: str | None = None
    report_view: bool = False
    last_views: npt.NDArray[np.float32] | None = None
    #: per day played: (day, cells rated, sum |report - view|, cells with a consensus shown, sum of the moves
    #: toward it)
    moves: list[tuple[int, int, float, int, float]] = dataclasses.field(default_factory=list)
    _shown: np.ndarray | None = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.env is None:
            raise ValueError("a told follower needs the env it plays in (env=...)")
        if self.pay_days < 0:
            raise ValueError(f"pay_days must be >= 0, got {self.pay_days}")
        if self.rule is not None:
            make_rule(self.rule)  # an unknown rule fails here, naming the valid ones

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.last_views = None
        self.moves = []

    def payment_rule(self) -> PaymentRule:
        """The rule the agents are told and whose pay they are shown."""
        return make_rule(self.rule) if self.rule is not None else self.game.config.payment_rule()

    @property
    def game(self) -> Any:
        return getattr(self.env, "unwrapped", self.env).game

    def pay(self) -> list[float]:
        """The type's pay on the last ``pay_days`` days paid by the close of yesterday, oldest first."""
        game = self.game
        if not self.pay_days:
            return []
        rule = self.payment_rule()
        paid = [rec.paid for rec in game.records if rec.paid is not None][-self.pay_days:]
        return [float(mean_type_pay(game, rule, [p])[self.itype.type_id]) for p in paid]

    def shown_consensus(self) -> np.ndarray:
        """Yesterday's published consensus per stock (NaN where none, or before the first day)."""
        recs = self.game.records
        return np.asarray(recs[-1].consensus, dtype=np.float64) if recs else np.full(self.panel.n_symbols, np.nan)

    def told_requests(self, base: list[Request], cands: list[np.ndarray]) -> list[Request]:
        """Each agent's report request, then each agent's view request, from its plain requests ``base``
        (``report_view``: the view requests only)."""
        view_tail = told_segment(make_rule(VIEW_RULE), None, False)
        views = [dataclasses.replace(req, agent=f"{req.agent}:{VIEW}", segments=(req.segments[0],
                                     req.segments[1] + view_tail), template=TOLD_VERSION) for req in base]
        if self.report_view:
            return views
        pay = self.pay()
        phrases = consensus_phrases(self._shown) if self.consensus and self._shown is not None else None
        report_tail = told_segment(self.payment_rule(), pay, self.consensus)
        reports = []
        for req, cand in zip(base, cands):
            head, typ = req.segments
            items = req.items if phrases is None else tuple(
                dataclasses.replace(it, text=it.text + phrases[i]) for it, i in zip(req.items, cand.tolist()))
            reports.append(dataclasses.replace(req, segments=(head, typ + report_tail), items=items,
                                               template=TOLD_VERSION))
        return reports + views

    def prepare(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> tuple[
            list[Request], list[np.ndarray], list[np.random.Generator]]:
        """The day's report and view requests (always asked: the answers depend on the game)."""
        brief, cands, rngs = self.candidates(int(info["day"]))
        self._shown = self.shown_consensus()
        return self.told_requests(self.build(obs, brief, cands), cands), cands, rngs

    def signals(self, day: int, reqs: list[Request], cands: list[np.ndarray], rngs: list[np.random.Generator],
                answers: list[Answer]) -> npt.NDArray[np.float32]:
        """The reports (returned) and the views (``last_views``) from the day's two answers per agent
        (``report_view``: the one answer is both); the day's moves are recorded."""
        M = self.itype.n_agents
        view_rngs = [np.random.default_rng([self.seed, self.itype.type_id, m, day, 1]) for m in range(M)]
        k = 0 if self.report_view else M
        if not self.report_view:
            report = super().signals(day, reqs[:M], cands, rngs, answers[:M])
        view = super().signals(day, reqs[k:], cands, view_rngs, answers[k:])
        for row in self.log[-M:]:
            row["agent"] += f":{VIEW}"
        if self.report_view:
            report = view
        self.last_views = view
        gap, toward = consensus_moves(report, view, self._shown if self.consensus else None)
        self.moves.append((day, int(np.isfinite(gap).sum()), float(np.nansum(gap)), int(np.isfinite(toward).sum()),
                           float(np.nansum(toward))))
        return report


def consensus_moves(reports: npt.ArrayLike, views: npt.ArrayLike, shown: npt.ArrayLike | None) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per cell (agents x stocks): |report - view|, and sign(consensus shown - view) x (report - view), the
    move toward the consensus (positive) or away from it (negative); NaN where the agent rated nothing or no
    consensus was shown (``shown`` None: none)."""
    rep, view = np.asarray(reports, np.float64), np.asarray(views, np.float64)
    move = rep - view
    if shown is None:
        return np.abs(move), np.full(move.shape, np.nan)
    with np.errstate(invalid="ignore"):
        return np.abs(move), np.sign(np.asarray(shown, np.float64)[None, :] - view) * move


def told_followers(env: Any, backend: str | Backend = "local", *, seed: int = 0,
                   cache: ResponseCache | str | Path | None = None, cache_mode: str = "readwrite",
                   retry_failed: bool = False, pay_days: int = 3, consensus: bool = True, rule: str | None = None,
                   report_view: bool = False, n_candidates: int = 20,
                   anonymize: bool | None = None, backend_options: Mapping[str, Any] | None = None,
                   **options: Any) -> LLMFollowers:
    """One ``ToldFollower`` per investor type of ``env`` (like ``llm_followers``; the same backends, cache and
    options: ``decode``, ``personas``, ``risk``, ``output``, ``draw``). The rule is ``rule``, default the env's
    ``GameConfig.follower_reward``; ``report_view``: the followers report their views (the untold control)."""
    base, be, briefs = follower_backend(env, backend, cache, cache_mode, retry_failed, anonymize, backend_options)
    out = LLMFollowers({
        f"investor_{t.type_id}": ToldFollower(
            t, tuple(base.feature_names[f"investor_{t.type_id}"]), base.panel, be, seed=seed,
            n_candidates=n_candidates, briefs=briefs, env=env, pay_days=pay_days, consensus=consensus,
            rule=rule, report_view=report_view, **options)
        for t in base.types
    })
    out.backend = be
    return out


def told_population(env: Any, seed: int, *, told: str, backend: str | Backend = "local",
                    backend_options: Mapping[str, Any] | None = None, cache: ResponseCache | str | Path | None = None,
                    cache_mode: str = "readwrite", retry_failed: bool = False, **follower_options: Any) -> LLMFollowers:
    """The ``llm`` population with option ``told`` (``agents.populations``): ``told_followers`` told the payment
    rule ``told``, or (``TOLD_VIEW``) reporting their views, on the process's shared backend."""
    be = shared_backend(backend, backend_options=backend_options, cache=cache, cache_mode=cache_mode,
                        retry_failed=retry_failed)
    view = told == TOLD_VIEW
    return told_followers(env, be, seed=seed, rule=None if view else told, report_view=view, **follower_options)
