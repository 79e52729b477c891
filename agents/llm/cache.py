"""SQLite response cache (WAL): replaying a finished run makes zero model calls and gives identical
results; a crash mid-run loses nothing already answered.

Key: sha256 of the backend's fingerprint (model id, weights hash, decoding parameters), the prompt
template version, the run seed, the agent, the day, and the hash of the request's full content
(prompt text and features): a changed market, prompt or model never hits a stale answer. Each
answer is committed as soon as the backend produces it (``on_answer``), in WAL mode with
``synchronous=NORMAL``: a killed process keeps every committed answer, and several processes can
share one file (readers never block; writers wait up to ``busy_timeout``).

A backend that rates one stock at a time (``per_stock = True``: the local model) is cached per
stock instead, in the ``branches`` table, keyed by what determines the rating and not by agent or
seed, so every agent, seed and config of a study shares it (``agents.llm.branches``).

Failed answers (timeouts, server errors, malformed output) are cached too, so a replay reproduces
the run exactly, failures included; ``retry_failed=True`` asks the backend again for them instead.
The cache stores the request (for audit) and the answer; it never sees an API key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backend import Answer, OnAnswer, Request, ScriptedBackend
from .branches import BRANCH_TABLE, CacheMissError, answer_per_branch

SCHEMA_VERSION = 1
MODES = ("readwrite", "read", "write", "replay")


def cache_key(fingerprint: Mapping[str, Any], request: Request) -> str:
    payload = {"schema": SCHEMA_VERSION, "fingerprint": dict(fingerprint), "template": request.template,
               "seed": request.seed, "agent": request.agent, "day": request.day,
               "request": request.content_hash()}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """One SQLite file of answers keyed by ``cache_key``; safe to share between threads."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, backend TEXT NOT NULL, template TEXT NOT NULL, agent TEXT NOT NULL,"
            " day INTEGER NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, answer TEXT NOT NULL,"
            " request TEXT NOT NULL, created REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS responses_agent_day ON responses (agent, day)")
        self._db.execute(BRANCH_TABLE)

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def get_many(self, keys: Sequence[str]) -> dict[str, Answer]:
        out: dict[str, Answer] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, text in self._db.execute(f"SELECT key, answer FROM responses WHERE key IN ({marks})", chunk):
                    out[key] = Answer.from_json(text, cached=True)
        return out

    def put(self, key: str, fingerprint: Mapping[str, Any], request: Request, answer: Answer) -> None:
        row = (key, json.dumps(dict(fingerprint), sort_keys=True, default=str), request.template, request.agent,
               request.day, request.seed, answer.status, answer.to_json(),
               json.dumps(request.canonical(), sort_keys=True), time.time())
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?)", row)

    def get_branches(self, keys: Sequence[str]) -> dict[str, tuple[tuple[float, ...], float]]:
        """Successful per-stock ratings by branch key: ``(P(rating 1..5), rating-token mass)``."""
        out: dict[str, tuple[tuple[float, ...], float]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, probs, mass in self._db.execute(
                        f"SELECT key, probs, mass FROM branches WHERE status = 'ok' AND key IN ({marks})", chunk):
                    out[key] = (tuple(float(x) for x in json.loads(probs)), float(mass))
        return out

    def put_branches(self, fingerprint: Mapping[str, Any], rows: Sequence[tuple[str, Any, str, Any, float, str]]
                     ) -> None:
        """Store ``(key, Branch, status, probs, mass, detail)`` rows in one transaction."""
        fp = json.dumps(dict(fingerprint), sort_keys=True, default=str)
        now = time.time()
        data = [(k, fp, b.template, b.day, b.date, b.type_id, b.variant, b.symbol, status,
                 None if probs is None else json.dumps(probs), mass if mass == mass else None,
                 b.scripted if b.scripted == b.scripted else None, detail, now)
                for k, b, status, probs, mass, detail in rows]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO branches VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", data)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def status_counts(self) -> dict[str, int]:
        with self._lock:
            return {s: int(n) for s, n in self._db.execute("SELECT status, COUNT(*) FROM responses GROUP BY status")}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    branch_hits: int = 0
    branch_misses: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes,
                "branch_hits": self.branch_hits, "branch_misses": self.branch_misses}


class CachedBackend:
    """Any backend behind the response cache.

    Modes: ``readwrite`` (default: answer from the cache, ask the backend for the rest and store
    it), ``read`` (never write), ``write`` (always ask, overwrite), ``replay`` (cache only: a miss
    raises ``CacheMissError``; use it to prove a run is fully cached).
    """

    def __init__(self, inner: Any, cache: ResponseCache | str | Path, *, mode: str = "readwrite",
                 retry_failed: bool = False) -> None:
        if mode not in MODES:
            raise ValueError(f"cache mode must be one of {MODES}, got {mode!r}")
        self.inner = inner
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.mode = mode
        self.retry_failed = bool(retry_failed)
        self.cache_stats = CacheStats()
        self.scripted = ScriptedBackend()  # the reference view stored next to each per-stock rating

    @property
    def fingerprint(self) -> Mapping[str, Any]:
        return self.inner.fingerprint

    @property
    def stats(self) -> Any:
        return self.inner.stats

    def answer(self, requests: Sequence[Request], on_answer: OnAnswer | None = None) -> list[Answer]:
        if getattr(self.inner, "per_stock", False):  # one row per (model, prompt, type, stock, day)
            return answer_per_branch(self, requests, on_answer)
        fp = self.fingerprint
        keys = [cache_key(fp, r) for r in requests]
        found = self.cache.get_many(keys) if self.mode != "write" else {}
        out: list[Answer | None] = [None] * len(requests)
        todo: list[int] = []
        for i, k in enumerate(keys):
            hit = found.get(k)
            if hit is not None and (hit.ok or not self.retry_failed):
                out[i] = hit
                self.cache_stats.hits += 1
                if on_answer is not None:
                    on_answer(i, hit)
            else:
                todo.append(i)
        if todo and self.mode == "replay":
            r = requests[todo[0]]
            raise CacheMissError(f"{len(todo)} request(s) not in {self.cache.path} (first: {r.agent} day {r.day})")
        self.cache_stats.misses += len(todo)
        if todo:
            sub = [requests[i] for i in todo]

            def store(j: int, ans: Answer) -> None:
                i = todo[j]
                if self.mode != "read":
                    self.cache.put(keys[i], fp, requests[i], ans)
                    self.cache_stats.writes += 1
                out[i] = ans
                if on_answer is not None:
                    on_answer(i, ans)

            answers = self.inner.answer(sub, on_answer=store)
            for j, ans in enumerate(answers):  # backends that ignore on_answer still get stored
                if out[todo[j]] is None:
                    store(j, ans)
        return [a for a in out if a is not None]


def iter_rows(path: str | Path) -> Iterable[dict[str, Any]]:
    """Every cached row of a cache file (for inspection and reports)."""
    with sqlite3.connect(str(path)) as db:
        for key, backend, template, agent, day, seed, status, answer in db.execute(
                "SELECT key, backend, template, agent, day, seed, status, answer FROM responses ORDER BY day, agent"):
            yield {"key": key, "backend": json.loads(backend), "template": template, "agent": agent,
                   "day": day, "seed": seed, "status": status, "answer": json.loads(answer)}
