"""Answers computed once per thing that determines them, and shared by every agent, seed and config.

A per-stock backend (``TransformersBackend``; any backend with ``per_stock = True`` and
``rate_items``) rates each candidate on its own: the answer for one stock depends on the model
identity, the prompt template, the shared context (the day's market view, the type's view, style
and persona) and the stock's description, and on nothing else: not on the agent who drew it, the
run seed, or the leader. So the response cache stores it once per **branch**, keyed by exactly
that, and every agent of every seed and config of a study that draws the stock on that day reads
the same row. A study of A-F x 3 seeds then costs one model pass over (day, type, persona, stock)
instead of one per agent per seed. The decoding (sampled vs expected rating, risk appetite) is
applied afterwards by the follower with its own RNG, so it never needs a second model call.

Rows also carry what the diagnostics need (``agents.llm.diagnostics``): day, date, type, symbol
and the scripted investor's noise-free view of the same stock for the same type. Failed branches
are recorded with their status but never served from the cache (they are asked again next time).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.base import ERROR, OK, Answer, Request, ScriptedBackend

BRANCH_SCHEMA = 1


class CacheMissError(LookupError, ValueError):
    """A ``replay``-mode cache was asked for an answer it does not hold (a ``ValueError`` too, so the
    CLI reports it as a clear error)."""


BRANCH_TABLE = (
    "CREATE TABLE IF NOT EXISTS branches ("
    " key TEXT PRIMARY KEY, backend TEXT NOT NULL, template TEXT NOT NULL, day INTEGER NOT NULL,"
    " date TEXT NOT NULL, type_id INTEGER NOT NULL, variant INTEGER NOT NULL, symbol TEXT NOT NULL,"
    " status TEXT NOT NULL, probs TEXT, mass REAL, scripted REAL, detail TEXT NOT NULL, created REAL NOT NULL,"
    " digest TEXT NOT NULL)")


@dataclass(frozen=True)
class Branch:
    """One stock rated by one type (and persona) on one day: the unit a per-stock backend computes."""

    segments: tuple[str, ...]
    text: str
    day: int
    date: str
    type_id: int
    variant: int
    symbol: str
    template: str
    scripted: float = float("nan")


@dataclass(frozen=True)
class BranchScores:
    """What a per-stock backend that can fail branch by branch returns from ``rate_branches(pairs)`` (a
    server: one request per branch): ``scores (B, 6)`` (P(1..5) and the mass; NaN where failed) and each
    branch's status (``backend.STATUSES``) and failure detail. ``rate_items`` has all or nothing."""

    scores: np.ndarray
    status: tuple[str, ...]
    detail: tuple[str, ...]


def branch_key(fingerprint: Mapping[str, Any], b: Branch) -> str:
    """sha256 of (model identity, template, day, type, persona, stock, prompt content): no agent, no seed."""
    return _Keys(fingerprint).key(b)


class _Keys:
    """``branch_key`` for many branches: the fingerprint and each distinct shared context are
    serialised and hashed once (a replay is mostly key computation)."""

    def __init__(self, fingerprint: Mapping[str, Any]) -> None:
        self.fp = json.dumps(dict(fingerprint), sort_keys=True, separators=(",", ":"), default=str)
        self._segs: dict[tuple[str, ...], str] = {}
        self._memo: dict[tuple[Any, ...], dict[tuple[str, str], str]] = {}

    def key(self, b: Branch) -> str:
        return self.keys(b.segments, b.day, b.type_id, b.variant, b.template, [(b.symbol, b.text)])[0]

    def keys(self, segments: tuple[str, ...], day: int, type_id: int, variant: int, template: str,
             items: Sequence[Any]) -> list[str]:
        """The keys of one request's stocks (``items``: objects or pairs with ``symbol`` and ``text``)."""
        head = (segments, day, type_id, variant, template)
        memo = self._memo.setdefault(head, {})  # agents of a type share most stocks
        out = []
        for it in items:
            sym, text = (it.symbol, it.text) if hasattr(it, "symbol") else it
            done = memo.get((sym, text))
            if done is None:
                seg = self._segs.get(segments)
                if seg is None:
                    seg = hashlib.sha256(json.dumps(list(segments), ensure_ascii=True).encode()).hexdigest()
                    self._segs[segments] = seg
                content = hashlib.sha256(f"{seg}\n{text}".encode()).hexdigest()
                blob = f"{BRANCH_SCHEMA}|{self.fp}|{template}|{day}|{type_id}|{variant}|{sym}|{content}"
                done = memo[(sym, text)] = hashlib.sha256(blob.encode()).hexdigest()
            out.append(done)
        return out


def scripted_views(request: Request, backend: ScriptedBackend) -> np.ndarray:
    """The scripted investor's noise-free view of each candidate for the request's type (NaN if the
    features do not fit): the reference the diagnostics correlate the LLM's ratings with."""
    if not request.items or not request.feature_names:
        return np.full(len(request.items), np.nan)
    feats = np.array([it.features for it in request.items], dtype=np.float64)
    if feats.shape != (len(request.items), len(request.feature_names)):
        return np.full(len(request.items), np.nan)
    try:
        return np.asarray(backend._policy(request).view(feats), dtype=np.float64)
    except (ValueError, KeyError):
        return np.full(len(request.items), np.nan)


def request_branches(request: Request, scripted: ScriptedBackend | None = None) -> list[Branch]:
    """The request's branches (with the scripted view of each stock when ``scripted`` is given)."""
    views = scripted_views(request, scripted) if scripted is not None else [float("nan")] * len(request.items)
    return [Branch(request.segments, it.text, request.day, request.date, request.type_id, request.variant,
                   it.symbol, request.template, float(v)) for it, v in zip(request.items, views)]


def _process_memo(cached: Any, fp: Mapping[str, Any]) -> tuple[_Keys, dict[str, tuple[tuple[float, ...], float]]]:
    """The key memo and the decoded successful ratings kept on the cached backend for its life.

    Why: a sweep process shares one cached backend by all its runs (``shared_backend``), and a
    replayed run is mostly key computation and row decoding that an earlier run already did. A
    successful row never changes for its key (the key is everything that determines it), so
    keeping it is exact; failures are never kept (they are asked again)."""
    state = getattr(cached, "_branch_memo", None)
    keyer = _Keys(fp)
    if state is None or state[0].fp != keyer.fp:
        state = (keyer, {})
        cached._branch_memo = state
    return state


def answer_per_branch(cached: Any, requests: Sequence[Request], on_answer: Any) -> list[Answer]:
    """``CachedBackend.answer`` for a per-stock inner backend (see the module docstring)."""
    fp = cached.fingerprint
    keyer, memo = _process_memo(cached, fp)
    keys = [keyer.keys(r.segments, r.day, r.type_id, r.variant, r.template, r.items) for r in requests]
    where: dict[str, int] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            where.setdefault(k, i)
    unique: dict[str, Branch] = dict.fromkeys(where)  # type: ignore[arg-type]  # Branches built for misses only
    found: dict[str, tuple[tuple[float, ...], float]] = {}
    damaged = 0
    if cached.mode != "write":
        found = {k: memo[k] for k in unique if k in memo}  # read (and checked) earlier in this process
        if len(found) < len(unique):
            more, damaged = cached.cache.get_branches([k for k in unique if k not in found])
            memo.update(more)
            found.update(more)
    todo = [k for k in unique if k not in found]
    if damaged:
        cached.cache_stats.damaged += damaged
    cached.cache_stats.branch_hits += len(unique) - len(todo)
    cached.cache_stats.branch_misses += len(todo)
    if todo and cached.mode == "replay":
        i = where[todo[0]]
        b = request_branches(requests[i])[keys[i].index(todo[0])]
        raise CacheMissError(f"{len(todo)} stock rating(s) not in {cached.cache.path} "
                             f"(first: type {b.type_id} {b.symbol} day {b.day})")
    failed: dict[str, tuple[str, str]] = {}
    if todo:
        need = set(todo)
        for req, ks in zip(requests, keys):  # the reference view, stored with each new row
            if need.intersection(ks):
                for b, k in zip(request_branches(req, cached.scripted), ks):
                    if k in need:
                        unique[k] = b
        rows: list[tuple[str, Branch, str, tuple[float, ...] | None, float, str]] = []
        try:
            scores, status, details = _rate(cached.inner, [(unique[k].segments, unique[k].text) for k in todo])
            for k, s, st, why in zip(todo, scores, status, details):
                if st != OK:  # a branch the server did not answer (or answered without a rating)
                    failed[k] = (st, why)
                    rows.append((k, unique[k], st, None, float("nan"), why))
                    continue
                found[k] = memo[k] = (tuple(float(x) for x in s[:5]), float(s[5]))
                rows.append((k, unique[k], OK, found[k][0], found[k][1], ""))
        except Exception as exc:  # noqa: BLE001 (a dead model is a counted failure, never a crash)
            detail = f"{type(exc).__name__}: {exc}"[:500]
            for k in todo:
                failed[k] = (ERROR, detail)
                rows.append((k, unique[k], ERROR, None, float("nan"), detail))
        if cached.mode != "read":
            cached.cache.put_branches(fp, rows, overwrite=cached.mode == "write")
            cached.cache_stats.writes += sum(1 for r in rows if r[2] == OK)
            if cached.mode != "write":  # first answer wins: play what the file keeps (``ResponseCache.put``)
                kept, _ = cached.cache.get_branches([r[0] for r in rows if r[2] == OK])
                for k, v in kept.items():
                    if v[0] != found[k][0]:
                        cached.cache_stats.raced += 1
                    found[k] = memo[k] = v
    out: list[Answer] = []
    for i, (req, ks) in enumerate(zip(requests, keys)):
        bad = [failed[k] for k in ks if k in failed]
        if bad:
            ans = Answer.failure(*bad[0])
        else:
            ans = Answer(OK, tuple(found[k][0] for k in ks), tuple(found[k][1] for k in ks),
                         cached=not any(k in todo for k in ks))
        if ans.cached:
            cached.cache_stats.hits += 1
        else:
            cached.cache_stats.misses += 1
            stats = getattr(cached.inner, "stats", None)
            if stats is not None:
                stats.add(ans, len(req.items))
        out.append(ans)
        if on_answer is not None:
            on_answer(i, ans)
    return out


def _rate(inner: Any, pairs: list[tuple[tuple[str, ...], str]]) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Scores, statuses and details of ``pairs`` from ``inner.rate_branches`` (per-branch failures) or
    ``inner.rate_items`` (all or nothing); an OK row that is not a finite distribution is a bug: raised."""
    rate = getattr(inner, "rate_branches", None)
    if rate is not None:
        res = rate(pairs)
        scores, status, details = np.asarray(res.scores, dtype=np.float64), tuple(res.status), tuple(res.detail)
    else:
        scores = np.asarray(inner.rate_items(pairs), dtype=np.float64)
        status, details = (OK,) * len(pairs), ("",) * len(pairs)
    good = np.array([st == OK for st in status], dtype=bool)
    if scores.shape != (len(pairs), 6) or len(status) != len(pairs) or not np.isfinite(scores[good]).all():
        raise ValueError(f"the backend rated {len(pairs)} stocks with scores of shape {scores.shape} "
                         f"and {len(status)} statuses, or non-finite values")
    return scores, status, details
