"""Prompt designs of the local scoring backend: other ways to ask a small model about a stock.

Why: a 135M model rating one stock at a time reacts to the type's prompt, not to the stock
(README, "Choosing the model, prompt and decoding"). Asking differently might help: a comparison
is easier than an absolute judgement, and worked examples show what the scale means. Each design
is a scoring method of ``TransformersBackend`` (one forward per pack of branches on a shared prefix,
no free generation) and gives one score per (day, type, stock), comparable across stocks by rank:

* ``single``: today's per-stock rating prompt; the score is the expected rating E[r].
* ``fewshot``: the same question after ``k`` worked examples of the type's own view: stocks of the
  latest past day whose ``horizon``-day forward return had been realised by the close of the day
  asked, with the quintile of that realised return as their rating (one per quintile, seeded draw).
  The examples sit in the type segment, so they cost one prefix per (day, type).
* ``pairwise``: two stocks, P(the first does better) from the answer tokens ``1``/``2``. Every pair
  is asked in both orders and averaged (``s(a, b) = (p(a, b) + 1 - p(b, a)) / 2``, so
  ``s(a, b) + s(b, a) = 1`` and the position bias cancels); a stock's score is its mean ``s`` over
  ``opponents`` rounds of a seeded random pairing.
* ``ranked``: a numbered list of ``size`` stocks, the probability that each number is the best.
  Each stock is listed ``rounds`` times (seeded shuffles); its score is its mean log-probability minus
  the mean log-probability of the list position it had (small models favour some numbers).

Everything is rendered from ``DayBrief`` (``item_text``, ``type_text``), so the designs follow any
change of the per-stock text. ``experiments.studies.llm_designs`` scores them on days outside the
evaluation window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mass_env.data.returns import ReturnSpec
from mass_env.data.view import PointInTimeView
from mass_env.game.investors import InvestorType

from .templates import (
    DESIGNS_VERSION,
    FEWSHOT_HEAD,
    FEWSHOT_ITEM,
    LABELS,
    PAIR_ITEM,
    PAIR_PROBE,
    PAIR_SYSTEM,
    PAIR_TAIL,
    RANK_ITEM,
    RANK_PROBE,
    RANK_SYSTEM,
    RANK_TAIL,
    TEMPLATE_VERSION,
    BriefCache,
)

if TYPE_CHECKING:
    from ..backends.local import ChatTemplate, TransformersBackend

R = np.arange(1, 6, dtype=np.float64)


@dataclass(frozen=True)
class Case:
    """One (day, type) to score: the stocks (panel indices; the day's universe or an agent's
    candidates) and the type's persona variant."""

    day: int
    itype: InvestorType
    stocks: np.ndarray
    variant: int = 0


@dataclass
class DesignStats:
    """What a design's answers looked like: branches scored, mean probability mass on the answer
    tokens, and (pairwise / ranked) how much the first position was favoured."""

    branches: int = 0
    mass: list[float] = field(default_factory=list)
    first_share: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"branches": self.branches, "answer_mass": float(np.mean(self.mass)) if self.mass else None,
                "first_position": float(np.mean(self.first_share)) if self.first_share else None}


class Design(Protocol):
    """A way of asking: ``score`` gives per case one score per stock (NaN where it has none)."""

    name: str
    version: str
    stats: DesignStats

    def score(self, backend: TransformersBackend, briefs: BriefCache, cases: Sequence[Case]) -> list[np.ndarray]:
        ...


def _ask(backend: TransformersBackend, template: ChatTemplate, segments: Sequence[str], texts: Sequence[str],
         stats: DesignStats) -> np.ndarray:
    """``(B, K)`` answer probabilities (renormalised over the K answer tokens) of each branch text."""
    if not texts:
        return np.zeros((0, len(template.answer_ids)))
    levels, _ = backend.prompt_ids(segments, "", template)
    branches = [backend.prompt_ids(segments, t, template)[1] for t in texts]
    out = backend.score_branches(levels, branches, template.answer_ids)
    stats.branches += len(texts)
    stats.mass.extend(out[:, -1].tolist())
    return out[:, :-1]


def _segments(briefs: BriefCache, case: Case, extra: str = "") -> tuple[str, str]:
    brief = briefs.get(case.day)
    return brief.day_text, brief.type_text(case.itype, case.variant) + extra


@dataclass
class SingleStock:
    """One stock per prompt (the backend's own template): score = E[rating]."""

    name: str = "single"
    version: str = TEMPLATE_VERSION
    stats: DesignStats = field(default_factory=DesignStats)

    def score(self, backend: TransformersBackend, briefs: BriefCache, cases: Sequence[Case]) -> list[np.ndarray]:
        out = []
        for case in cases:
            brief = briefs.get(case.day)
            texts = [brief.item_text(case.itype, int(i)) for i in case.stocks]
            out.append(_ask(backend, backend.template, _segments(briefs, case), texts, self.stats) @ R)
        return out


def realised_quintiles(panel: Any, day: int, horizon: int) -> tuple[int, np.ndarray]:
    """The latest decision day whose ``horizon``-day forward return is realised at the close of
    ``day`` and each stock's quintile (0..4; -1 if unknown or outside that day's universe) of it,
    computed from ``PointInTimeView(panel, day)`` only (nothing after ``day`` is read)."""
    spec = ReturnSpec(horizon=horizon)
    past = day - spec.delay
    q = np.full(panel.n_symbols, -1)
    if past < 0:
        return past, q
    view = PointInTimeView(panel, day)
    ret = view.realised_returns(spec, lookback=spec.delay + 1)[0]
    idx = np.flatnonzero(np.isfinite(ret) & view.universe(past))
    if idx.size >= 5:
        rank = np.empty(idx.size)
        rank[np.argsort(ret[idx], kind="mergesort")] = np.arange(idx.size)
        q[idx] = np.minimum((rank / idx.size * 5).astype(int), 4)
    return past, q


@dataclass
class FewShot:
    """The single-stock question after ``k`` worked examples from the latest fully realised past day."""

    k: int = 5
    horizon: int = 10
    seed: int = 0
    name: str = "fewshot"
    version: str = DESIGNS_VERSION
    stats: DesignStats = field(default_factory=DesignStats)
    missing: int = 0   # cases asked without examples (too early in the panel)

    def examples(self, briefs: BriefCache, day: int, itype: InvestorType) -> str:
        """The worked-examples block of ``itype`` on ``day`` ("" when no past day has realised)."""
        past, q = realised_quintiles(briefs.panel, day, self.horizon)
        if past < 0 or (q < 0).all():
            return ""
        rng = np.random.default_rng([self.seed, day, itype.type_id])
        pool = {b: list(rng.permutation(np.flatnonzero(q == b))) for b in range(5)}
        order = rng.permutation(5)
        lines = []
        brief = briefs.get(past)
        for j in range(self.k):
            b = int(order[j % 5])
            if pool[b]:
                stock = int(pool[b].pop())
                lines.append(FEWSHOT_ITEM.format(item=brief.item_text(itype, stock), rating=b + 1))
        return FEWSHOT_HEAD.format(ago=day - past) + "".join(lines)

    def score(self, backend: TransformersBackend, briefs: BriefCache, cases: Sequence[Case]) -> list[np.ndarray]:
        out = []
        for case in cases:
            block = self.examples(briefs, case.day, case.itype)
            self.missing += not block
            brief = briefs.get(case.day)
            texts = [brief.item_text(case.itype, int(i)) for i in case.stocks]
            out.append(_ask(backend, backend.template, _segments(briefs, case, block), texts, self.stats) @ R)
        return out


def _rounds(rng: np.random.Generator, n: int, size: int, rounds: int) -> np.ndarray:
    """``(groups, size)`` positions 0..n-1: each round a seeded shuffle cut into groups of ``size``;
    a short last group is filled with the round's first positions not in it."""
    groups = []
    for _ in range(rounds):
        perm = rng.permutation(n)
        for s in range(0, n, size):
            g = list(perm[s:s + size])
            g += [p for p in perm if p not in g][:size - len(g)]
            groups.append(g)
    return np.array(groups, dtype=int).reshape(-1, size)


@dataclass
class Pairwise:
    """P(first of two stocks does better), asked in both orders; a stock's score is its mean over
    ``opponents`` rounds of random pairs."""

    opponents: int = 2
    seed: int = 0
    name: str = "pairwise"
    version: str = DESIGNS_VERSION
    stats: DesignStats = field(default_factory=DesignStats)

    def score(self, backend: TransformersBackend, briefs: BriefCache, cases: Sequence[Case]) -> list[np.ndarray]:
        tpl = backend.chat_template(PAIR_SYSTEM, PAIR_TAIL, PAIR_PROBE, LABELS[:2])
        out = []
        for case in cases:
            n = len(case.stocks)
            if n < 2:
                out.append(np.full(n, np.nan))
                continue
            brief = briefs.get(case.day)
            texts = [brief.item_text(case.itype, int(i)) for i in case.stocks]
            pairs = _rounds(np.random.default_rng([self.seed, case.day, case.itype.type_id, case.variant]),
                            n, 2, self.opponents)
            asked = [PAIR_ITEM.format(label=LABELS[0], item=texts[a]) + PAIR_ITEM.format(label=LABELS[1], item=texts[b])
                     for a, b in np.vstack([pairs, pairs[:, ::-1]])]
            p = _ask(backend, tpl, _segments(briefs, case), asked, self.stats)[:, 0]
            self.stats.first_share.append(float(p.mean()))
            s = pair_scores(p[:len(pairs)], p[len(pairs):])
            out.append(stock_means(n, pairs, np.column_stack([s, 1.0 - s])))
        return out


def pair_scores(p_ab: np.ndarray, p_ba: np.ndarray) -> np.ndarray:
    """s(a, b) from P(first better) asked as (a, b) and as (b, a): the position bias cancels and
    s(a, b) + s(b, a) = 1."""
    return 0.5 * (np.asarray(p_ab) + 1.0 - np.asarray(p_ba))


def stock_means(n: int, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of ``values[g, j]`` over the appearances of each position 0..n-1 in ``groups[g, j]``."""
    tot = np.bincount(groups.ravel(), weights=values.ravel(), minlength=n)
    cnt = np.bincount(groups.ravel(), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


@dataclass
class RankedList:
    """P(each number of a short list is the best stock); position-centred mean log-probability."""

    size: int = 5
    rounds: int = 2
    seed: int = 0
    name: str = "ranked"
    version: str = DESIGNS_VERSION
    stats: DesignStats = field(default_factory=DesignStats)

    def __post_init__(self) -> None:
        if not 2 <= self.size <= len(LABELS):
            raise ValueError(f"size (stocks per list) must be 2..{len(LABELS)}, got {self.size}")

    def score(self, backend: TransformersBackend, briefs: BriefCache, cases: Sequence[Case]) -> list[np.ndarray]:
        out = []
        tpls: dict[int, ChatTemplate] = {}
        for case in cases:
            n = len(case.stocks)
            L = min(self.size, n)
            if L < 2:
                out.append(np.full(n, np.nan))
                continue
            tpl = tpls.get(L) or tpls.setdefault(L, backend.chat_template(RANK_SYSTEM, RANK_TAIL, RANK_PROBE,
                                                                           LABELS[:L]))
            brief = briefs.get(case.day)
            texts = [brief.item_text(case.itype, int(i)) for i in case.stocks]
            groups = _rounds(np.random.default_rng([self.seed, case.day, case.itype.type_id, case.variant]),
                             n, L, self.rounds)
            asked = ["".join(RANK_ITEM.format(label=LABELS[j], item=texts[g]) for j, g in enumerate(grp))
                     for grp in groups]
            p = _ask(backend, tpl, _segments(briefs, case), asked, self.stats)
            self.stats.first_share.append(float(p[:, 0].mean()))
            logp = np.log(np.maximum(p, 1e-12))
            out.append(stock_means(n, groups, logp - logp.mean(0, keepdims=True)))
        return out


DESIGNS = ("single", "fewshot", "pairwise", "ranked")


def make_design(name: str, *, seed: int = 0, horizon: int = 10, k: int = 5, opponents: int = 2,
                size: int = 5, rounds: int = 2) -> Design:
    """A design by name (``DESIGNS``) with its options."""
    if name == "single":
        return SingleStock()
    if name == "fewshot":
        return FewShot(k=k, horizon=horizon, seed=seed)
    if name == "pairwise":
        return Pairwise(opponents=opponents, seed=seed)
    if name == "ranked":
        return RankedList(size=size, rounds=rounds, seed=seed)
    raise ValueError(f"unknown prompt design {name!r}; choose from {', '.join(DESIGNS)}")
