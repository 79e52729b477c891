"""A day's known ratings as arrays: an LLM type's signals without building or answering requests.

Why: every run of a study reads the same per-stock ratings (``agents.llm.cache.branches``: one per (day,
type, persona, stock), shared by every agent, seed and config), yet answering them through
``Backend.answer`` builds a ``Request`` per agent, looks each candidate's key up and validates an
``Answer`` per agent and day: ~20 ms per run-day at 64 agents, nearly all of a replayed study. So a
cached per-stock backend (``CachedBackend`` around a ``per_stock`` model, any mode but ``write``)
keeps here, for all the runs that share it (a sweep process shares one: ``shared_backend``):

* per (briefs, day, type, persona), a **table**: the branch keys of the day's universe and the
  ratings already known, decoded and validated once; an agent's signals are then one gather and the
  policy's own ``_signal`` on the same numbers the request path would give it;
* per (briefs, day, type, seed, follower options), the type's **day**: its signals (compact) and
  what its log rows say, so another run with the same seed (another config of the study: follower
  answers never depend on the leader) copies them instead of drawing every agent's candidates again.

Exact by construction: the keys are the request path's keys (``branches._Keys``), a successful rating
never changes for its key, each agent's generator is drawn in the same order, and anything else (a
rating not in the process memo or the file yet, a damaged or unusable row, ``write`` mode, any other
backend) returns ``None``: the request path then asks, stores, counts and logs as before (a replay
raises there). The cache's counters move as if the requests had been answered (one hit per agent,
one branch hit per distinct stock and persona). Days of a type whose log rows had failures are never
kept (the request path owns them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backends.base import OK
from ..prompts.templates import TEMPLATE_VERSION, DayBrief
from .branches import _process_memo
from .store import CachedBackend

#: The signal entries kept for ``recall`` per cached backend (12 bytes each; the paper's study keeps
#: 64 agents x 20 candidates x 119 days x 3 seeds = 0.46 M): past this, days are computed again, never wrong.
MAX_KEPT_ENTRIES = 8_000_000


@dataclass
class _Table:
    """One (day, type, persona): universe keys, known ratings (P(1..5), mass) and their validity."""

    keys: list[str]
    probs: npt.NDArray[np.float64]   # (n, 5); NaN until known
    mass: npt.NDArray[np.float64]    # (n,)
    known: npt.NDArray[np.bool_]
    valid: npt.NDArray[np.bool_]     # known and a distribution ``answer_problem`` accepts


@dataclass(frozen=True)
class _Day:
    """One type's day for one seed: the signals at flat (agent * N + stock) indices, what each agent's log says."""

    date: str
    flat: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]
    n_candidates: tuple[int, ...]
    rating_mass: tuple[float, ...]
    branch_hits: int


@dataclass
class _Market:
    """What is kept for one ``BriefCache`` (one market's prompts): tables, days, universe positions."""

    briefs: Any
    tables: dict[Any, _Table]
    days: dict[Any, _Day]
    positions: dict[int, np.ndarray]
    kept: int = 0


class _Shared:
    """What one cached backend keeps for the runs that share it, per ``BriefCache`` (held: its id is never
    reused); the 8 most recently added markets (a sweep process shares one per market)."""

    def __init__(self, keyer: Any) -> None:
        self.keyer = keyer
        self.fp: dict[str, Any] = {}
        self.state: Any = None  # the backend's ``_branch_memo`` (key memo, decoded ratings) this belongs to
        self.markets: dict[int, _Market] = {}

    def of(self, briefs: Any) -> _Market:
        hit = self.markets.get(id(briefs))
        if hit is None or hit.briefs is not briefs:
            while len(self.markets) >= 8:
                del self.markets[next(iter(self.markets))]
            hit = self.markets[id(briefs)] = _Market(briefs, {}, {}, {})
        return hit

    def kept(self) -> int:
        return sum(m.kept for m in self.markets.values())


def _state(policy: Any) -> tuple[_Shared, CachedBackend, dict[str, tuple[tuple[float, ...], float]]] | None:
    """The backend's shared state when the policy can use it (else ``None``: the request path)."""
    be = policy.backend
    if not isinstance(be, CachedBackend) or be.mode == "write" or not getattr(be.inner, "per_stock", False):
        return None
    if policy.briefs is None or policy.briefs.panel is not policy.panel:
        return None
    fp = be.fingerprint
    shared = getattr(be, "_tables", None)
    if shared is not None and shared.fp == fp and getattr(be, "_branch_memo", None) is shared.state:
        return shared, be, shared.state[1]  # the common case: no fingerprint serialised again
    keyer, memo = _process_memo(be, fp)
    if shared is None or shared.keyer is not keyer:  # a new fingerprint starts afresh, as the memo does
        shared = be._tables = _Shared(keyer)
    shared.fp, shared.state = dict(fp), be._branch_memo
    return shared, be, memo


def _day_key(policy: Any, day: int) -> tuple[Any, ...]:
    """Everything besides the ratings that a type's day of signals depends on."""
    return (day, policy.itype, policy.seed, policy.personas, TEMPLATE_VERSION, policy.n_candidates, policy.draw,
            policy.decode, policy.output, policy.n_select, float(policy.risk))


def recall(policy: Any, day: int) -> npt.NDArray[np.float32] | None:
    """The type's signals for ``day`` if an earlier run with the same seed and options computed them
    from the same backend's table (logged and counted as that run's were), else ``None``."""
    got = _state(policy)
    if got is None:
        return None
    shared, be, _ = got
    kept = shared.of(policy.briefs).days.get(_day_key(policy, day))
    if kept is None:
        return None
    M, N = policy.itype.n_agents, policy.panel.n_symbols
    out = np.full(M * N, np.nan, dtype=np.float32)
    out[kept.flat] = kept.values
    for m in range(M):
        policy.record(day, kept.date, m, OK, kept.n_candidates[m], kept.rating_mass[m])
    be.cache_stats.branch_hits += kept.branch_hits
    be.cache_stats.hits += M
    return out.reshape(M, N)


def _table(shared: _Shared, policy: Any, brief: DayBrief, variant: int, uni_idx: np.ndarray) -> _Table:
    tables = shared.of(policy.briefs).tables
    key = (brief.day, policy.itype, variant)
    tab = tables.get(key)
    if tab is None:
        texts = policy.briefs.item_texts(brief.day, policy.itype)
        symbols = brief.symbols or policy.panel.symbols
        for i in uni_idx.tolist():
            if i not in texts:
                texts[i] = brief.item_text(policy.itype, i)
        segments = (brief.day_text, brief.type_text(policy.itype, variant))
        keys = shared.keyer.keys(segments, brief.day, policy.itype.type_id, variant, TEMPLATE_VERSION,
                                 [(symbols[i], texts[i]) for i in uni_idx.tolist()])
        n = len(keys)
        tab = tables[key] = _Table(keys, np.full((n, 5), np.nan), np.full(n, np.nan), np.zeros(n, dtype=bool),
                                   np.zeros(n, dtype=bool))
    return tab


def _fill(tab: _Table, pos: np.ndarray, be: CachedBackend, memo: dict[str, Any]) -> bool:
    """Load the ratings at ``pos`` (process memo, then the file); ``False`` if one is missing or damaged."""
    want = {tab.keys[i]: i for i in pos.tolist()}
    rest = [k for k in want if k not in memo]
    if rest:
        more, damaged = be.cache.get_branches(rest)
        memo.update(more)  # what the request path would keep too; damaged rows are left for it to count
        if damaged or len(more) < len(rest):
            return False
    idx = np.fromiter(want.values(), dtype=np.intp, count=len(want))
    tab.probs[idx] = [memo[k][0] for k in want]
    tab.mass[idx] = [memo[k][1] for k in want]
    p = tab.probs[idx]
    with np.errstate(invalid="ignore"):
        tab.valid[idx] = (np.isfinite(p).all(1) & (p >= 0).all(1)) & ~(np.abs(p.sum(axis=1) - 1.0) > 1e-3)
    tab.known[idx] = True
    return True


def from_table(policy: Any, brief: DayBrief, cands: list[np.ndarray],
               rngs: list[np.random.Generator]) -> npt.NDArray[np.float32] | None:
    """The type's signals for the day from the backend's table, when every candidate's rating is known
    and usable (then logged and counted as answered requests, and kept for ``recall``), else ``None``
    with the generators untouched."""
    got = _state(policy)
    if got is None:
        return None
    shared, be, memo = got
    M, N = policy.itype.n_agents, policy.panel.n_symbols
    market = shared.of(policy.briefs)
    positions = market.positions
    pos_of = positions.get(brief.day)
    uni_idx = np.flatnonzero(brief.universe)
    if pos_of is None:
        pos_of = positions[brief.day] = np.full(N, -1, dtype=np.intp)
        pos_of[uni_idx] = np.arange(uni_idx.size)
    variants = [policy.variant(m) for m in range(M)]
    tabs: dict[int, _Table] = {}
    hits = 0
    for v in sorted(set(variants)):
        tab = tabs[v] = _table(shared, policy, brief, v, uni_idx)
        need = np.unique(np.concatenate([pos_of[cands[m]] for m in range(M) if variants[m] == v]))
        if need.size and need[0] < 0:
            return None  # a candidate outside the day's universe: not this path's to explain
        if not tab.known[need].all() and not _fill(tab, need[~tab.known[need]], be, memo):
            return None
        if not tab.valid[need].all():
            return None  # the request path logs the agents' answers as malformed
        hits += int(need.size)
    out = np.full((M, N), np.nan)
    masses = []
    for m, (cand, rng) in enumerate(zip(cands, rngs)):
        tab = tabs[variants[m]]
        if cand.size:
            pos = pos_of[cand]
            out[m, cand] = policy._signal(tab.probs[pos], rng, policy.risk_aversion(m))
            masses.append(float(np.mean(tab.mass[pos])))
        else:
            masses.append(float("nan"))
        policy.record(brief.day, brief.date, m, OK, int(cand.size), masses[m])
    be.cache_stats.branch_hits += hits
    be.cache_stats.hits += M
    res = out.astype(np.float32)
    flat = np.concatenate([m * N + cand for m, cand in enumerate(cands)]).astype(np.int64)
    if shared.kept() + flat.size <= MAX_KEPT_ENTRIES:
        market.kept += flat.size
        market.days[_day_key(policy, brief.day)] = _Day(
            brief.date, flat, res.reshape(-1)[flat], tuple(int(c.size) for c in cands), tuple(masses), hits)
    return res
