"""SQLite response cache (WAL): replaying a finished run makes zero model calls and gives identical
results; a crash mid-run loses nothing already answered.

Key: sha256 of the backend's fingerprint (model id, weights hash, decoding parameters), the prompt
template version, the run seed, the agent, the day, and the hash of the request's full content
(prompt text and features): a changed market, prompt or model never hits a stale answer. Each
answer is committed as soon as the backend produces it (``on_answer``), in WAL mode with
``synchronous=NORMAL``: a killed process keeps every committed answer, and several processes can
share one file (readers never block; writers wait up to ``busy_timeout``).

Only what the model said is stored: answers, malformed answers and refusals (``backend.ANSWERED``;
a replay reproduces them exactly, and ``retry_failed=True`` asks the backend again for the last two).
No answer at all (a timeout, a server or client error, a backend failure: ``backend.UNANSWERED``) is
never stored, so the next run asks again once the server has recovered.

Integrity: every row carries a sha256 of its key and answer, and every answer read back is checked
(the digest, then ``backend.answer_problem``: one rating distribution per candidate summing to 1).
A damaged or hand-edited row is not used: it is counted (``cache_stats.damaged``), warned about with
the file's name and asked again (a ``replay`` refuses instead). A file that is not a readable SQLite
cache (garbage, truncated) raises ``CacheFileError`` naming the file; it is never overwritten.
The cache stores the request (for audit) and the answer, error texts scrubbed of secrets; it never
sees an API key. Caches written before the digest existed are checked and given digests when opened.

A backend that rates one stock at a time (``per_stock = True``: the local model) is cached per
stock instead, in the ``branches`` table, keyed by what determines the rating and not by agent or
seed, so every agent, seed and config of a study shares it (``agents.llm.cache.branches``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..backends.base import ANSWERED, Answer, OnAnswer, Request, ScriptedBackend, answer_problem, scrub
from .branches import BRANCH_TABLE, CacheMissError, answer_per_branch

SCHEMA_VERSION = 1
MODES = ("readwrite", "read", "write", "replay")


class CacheFileError(ValueError):
    """The cache file cannot be used (not SQLite, truncated, damaged, unreadable); names the file."""


def row_digest(key: str, status: str, answer: str) -> str:
    """The integrity hash stored with each row (a hand-edited or damaged row no longer matches it)."""
    return hashlib.sha256(f"{key}\n{status}\n{answer}".encode()).hexdigest()


def _damage(path: Path, exc: BaseException) -> CacheFileError:
    return CacheFileError(f"{path} is not a usable LLM response cache ({exc}); it was left as it is: move it "
                          "aside or delete it (its answers are lost), or pass another --llm-cache")


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
        if self.path.is_dir():
            raise CacheFileError(f"{self.path} is a folder; the LLM response cache is a file (e.g. "
                                 f"{self.path / 'llm-cache.sqlite'})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False,
                                       isolation_level=None)
        except sqlite3.Error as exc:
            raise CacheFileError(f"cannot open the LLM response cache {self.path}: {exc}") from None
        with self._guard():
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check[0] if check else 'no answer'}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, backend TEXT NOT NULL, template TEXT NOT NULL, agent TEXT NOT NULL,"
                " day INTEGER NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, answer TEXT NOT NULL,"
                " request TEXT NOT NULL, created REAL NOT NULL, digest TEXT)")
            self._db.execute("CREATE INDEX IF NOT EXISTS responses_agent_day ON responses (agent, day)")
            self._db.execute(BRANCH_TABLE)
            self._upgrade()
            self._upgrade_branches()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """sqlite's corruption errors as ``CacheFileError`` naming the file (a busy database is not damage)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "malformed" not in str(exc):
                raise CacheFileError(f"LLM response cache {self.path}: {exc}") from None
            raise _damage(self.path, exc) from None

    def _upgrade_branches(self) -> None:
        """Per-stock tables written before rows had digests: add the column and the digests."""
        if "digest" in {r[1] for r in self._db.execute("PRAGMA table_info(branches)")}:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("ALTER TABLE branches ADD COLUMN digest TEXT")
            for key, status, probs in self._db.execute("SELECT key, status, probs FROM branches").fetchall():
                digest = row_digest(key, status, probs or "")
                self._db.execute("UPDATE branches SET digest=? WHERE key=?", (digest, key))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _upgrade(self) -> None:
        """Caches written before rows had digests: add the column, drop what no longer belongs in a cache
        (unanswered requests, unusable answers), give the other rows their digests."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(responses)")}
        if "digest" not in cols:
            self._db.execute("ALTER TABLE responses ADD COLUMN digest TEXT")
        rows = self._db.execute("SELECT key, status, answer FROM responses WHERE digest IS NULL").fetchall()
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for key, status, text in rows:
                if status in ANSWERED and _parse(text) is not None:
                    self._db.execute("UPDATE responses SET digest=? WHERE key=?", (row_digest(key, status, text), key))
                else:
                    self._db.execute("DELETE FROM responses WHERE key=?", (key,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    @property
    def journal_mode(self) -> str:
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def lookup(self, keys: Sequence[str]) -> tuple[dict[str, Answer], dict[str, str]]:
        """``(answers, damaged)`` for ``keys``: the stored answers whose digest holds, and why each
        other stored row was rejected (keys absent from the file are in neither)."""
        out: dict[str, Answer] = {}
        damaged: dict[str, str] = {}
        with self._lock, self._guard():
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, status, text, digest in self._db.execute(
                        f"SELECT key, status, answer, digest FROM responses WHERE key IN ({marks})", chunk):
                    ans = _parse(text)
                    if digest != row_digest(key, status, text):
                        damaged[key] = "its integrity hash does not match (edited or damaged)"
                    elif ans is None or ans.status != status:
                        damaged[key] = "the stored answer does not parse"
                    else:
                        out[key] = ans
        return out, damaged

    def get_many(self, keys: Sequence[str]) -> dict[str, Answer]:
        return self.lookup(keys)[0]

    def put(self, key: str, fingerprint: Mapping[str, Any], request: Request, answer: Answer, *,
            overwrite: bool = True) -> Answer:
        """Store ``answer`` under ``key`` and return the answer the file now holds for it.

        ``overwrite=False`` is a per-key claim, first answer wins: a key already holding a model's
        answer keeps it (a malformed or refused one gives way only to an ``ok`` one), and the stored
        answer is returned in one transaction. Why: runs of a study in several processes that miss
        the same key together each ask the server, and a served model is not bit-deterministic; every
        run must then play the one answer the cache keeps, so each run sees the same answer for a key
        and the stored table is what a replay of its cache gives."""
        if answer.detail:
            answer = replace(answer, detail=scrub(answer.detail))
        text = answer.to_json()
        row = (key, json.dumps(dict(fingerprint), sort_keys=True, default=str), request.template, request.agent,
               request.day, request.seed, answer.status, text,
               json.dumps(request.canonical(), sort_keys=True), time.time(), row_digest(key, answer.status, text))
        with self._lock, self._guard():
            if overwrite:
                self._db.execute("INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
                return answer
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO responses VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                    "status=excluded.status, answer=excluded.answer, request=excluded.request, "
                    "created=excluded.created, digest=excluded.digest "
                    "WHERE excluded.status = 'ok' AND responses.status != 'ok'", row)
                got = self._db.execute("SELECT status, answer, digest FROM responses WHERE key=?", (key,)).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if got is None or got[1] == text:
            return answer
        stored = _parse(got[1])
        if stored is None or got[2] != row_digest(key, got[0], got[1]):
            return answer  # a damaged row (counted when read): this run keeps its own answer
        return replace(stored, cached=True)

    def get_branches(self, keys: Sequence[str]) -> tuple[dict[str, tuple[tuple[float, ...], float]], int]:
        """Successful per-stock ratings by branch key, ``(P(rating 1..5), rating-token mass)``, and the
        number of rows found damaged (digest mismatch or unusable probabilities; asked again)."""
        out: dict[str, tuple[tuple[float, ...], float]] = {}
        damaged = 0
        with self._lock, self._guard():
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, probs, mass, digest in self._db.execute(
                        f"SELECT key, probs, mass, digest FROM branches WHERE status = 'ok' AND key IN ({marks})",
                        chunk):
                    try:
                        p = tuple(float(x) for x in json.loads(probs))
                        good = (digest == row_digest(key, "ok", probs) and len(p) == 5
                                and abs(sum(p) - 1.0) < 1e-6 and min(p) >= 0.0)
                    except (TypeError, ValueError):
                        good = False
                    if good:
                        out[key] = (p, float("nan") if mass is None else float(mass))
                    else:
                        damaged += 1
        return out, damaged

    def put_branches(self, fingerprint: Mapping[str, Any], rows: Sequence[tuple[str, Any, str, Any, float, str]],
                     *, overwrite: bool = True) -> None:
        """Store ``(key, Branch, status, probs, mass, detail)`` rows in one transaction (failed rows are
        a record for the diagnostics' failure rate; they are never served). ``overwrite=False``: first
        ``ok`` answer wins (a failed row never replaces an ``ok`` one, an ``ok`` one replaces a failed
        one); read the kept ratings back with ``get_branches`` (see ``put``)."""
        fp = json.dumps(dict(fingerprint), sort_keys=True, default=str)
        now = time.time()
        data = []
        for k, b, status, probs, mass, detail in rows:
            text = None if probs is None else json.dumps(list(probs))
            data.append((k, fp, b.template, b.day, b.date, b.type_id, b.variant, b.symbol, status, text,
                         mass if mass == mass else None, b.scripted if b.scripted == b.scripted else None,
                         scrub(detail), now, row_digest(k, status, text or "")))
        with self._lock, self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if overwrite:
                    self._db.executemany("INSERT OR REPLACE INTO branches VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                         data)
                else:
                    self._db.executemany(
                        "INSERT INTO branches VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                        "status=excluded.status, probs=excluded.probs, mass=excluded.mass, detail=excluded.detail, "
                        "created=excluded.created, digest=excluded.digest WHERE branches.status != 'ok'",
                        data)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock, self._guard():
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def status_counts(self) -> dict[str, int]:
        with self._lock, self._guard():
            return {s: int(n) for s, n in self._db.execute("SELECT status, COUNT(*) FROM responses GROUP BY status")}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(text: str) -> Answer | None:
    """A stored answer, or ``None`` when the row does not hold a usable one."""
    try:
        ans = Answer.from_json(text, cached=True)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return ans if ans.status in ANSWERED and answer_problem(ans) is None else None


@dataclass
class CacheStats:
    """``unstored``: answers not kept because nothing was answered (asked again next run);
    ``damaged``: rows read back that failed their integrity check (asked again); ``raced``: answers
    received while another process stored its answer for the same key first (that one is played)."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    unstored: int = 0
    damaged: int = 0
    branch_hits: int = 0
    branch_misses: int = 0
    raced: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes, "unstored": self.unstored,
                "damaged": self.damaged, "branch_hits": self.branch_hits, "branch_misses": self.branch_misses,
                "raced": self.raced}


class CachedBackend:
    """Any backend behind the response cache.

    Modes: ``readwrite`` (default: answer from the cache, ask the backend for the rest and store
    it), ``read`` (never write), ``write`` (always ask, overwrite), ``replay`` (cache only: a miss
    raises ``CacheMissError``, a damaged row ``CacheFileError``; use it to prove a run is fully cached).
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
        found, damaged = self.cache.lookup(keys) if self.mode != "write" else ({}, {})
        out: list[Answer | None] = [None] * len(requests)
        todo: list[int] = []
        for i, k in enumerate(keys):
            hit = found.get(k)
            why = answer_problem(hit, len(requests[i].items)) if hit is not None else None
            if why is not None:
                damaged[k], hit = why, None
            if hit is not None and (hit.ok or not self.retry_failed):
                out[i] = hit
                self.cache_stats.hits += 1
                if on_answer is not None:
                    on_answer(i, hit)
            else:
                todo.append(i)
        if damaged:
            self.cache_stats.damaged += len(damaged)
            why = next(iter(damaged.values()))
            if self.mode == "replay":
                raise CacheFileError(f"{self.cache.path}: {len(damaged)} stored answer(s) damaged ({why}); "
                                     "a replay cannot use them (rerun without --llm-replay to ask again)")
            warnings.warn(f"{self.cache.path}: {len(damaged)} damaged answer(s) ignored and asked again ({why})",
                          stacklevel=2)
        if todo and self.mode == "replay":
            r = requests[todo[0]]
            raise CacheMissError(f"{len(todo)} request(s) not in {self.cache.path} (first: {r.agent} day {r.day}); "
                                 "the run is not fully cached: run it without --llm-replay to ask the model")
        self.cache_stats.misses += len(todo)
        if todo:
            sub = [requests[i] for i in todo]

            def store(j: int, ans: Answer) -> None:
                i = todo[j]
                if ans.status not in ANSWERED:
                    self.cache_stats.unstored += 1  # nothing was answered: ask again next time
                elif self.mode != "read":  # first answer wins (``put``): every run plays what the file keeps
                    kept = self.cache.put(keys[i], fp, requests[i], ans, overwrite=self.mode == "write")
                    if kept is ans:
                        self.cache_stats.writes += 1
                    else:
                        self.cache_stats.raced += 1
                        ans = kept
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
