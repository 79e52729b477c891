"""One interface for every way an LLM investor can be asked: a batch of requests in, ratings out.

A ``Request`` is one agent's question on one day: the shared context (the day's market view, the
type's view and style: identical for every agent of a type on a day, so a backend can compute it
once) and the agent's candidate stocks, each with a compact description rendered
from the point-in-time view. An ``Answer`` carries, per candidate, a probability distribution over
the ratings 1..5 (a local model's rating-token probabilities, a server's one-hot JSON answer, or
the scripted investor's smoothed opinion), or a failure status. Backends never raise for a bad
answer: malformed or refused answers, timeouts and server errors come back as statuses, which the
follower counts and turns into missing (NaN) signals, never into zeros.

Backends: ``ScriptedBackend`` (here), ``TransformersBackend`` (``agents.llm.backends.local``),
``OpenAIBackend`` (``agents.llm.backends.openai``); ``CachedBackend`` (``agents.llm.cache.store``) wraps
any of them. They are made by name through ``agents.llm.backends.registry`` (``make_backend``); a new one
subclasses ``BaseBackend`` and is registered there with ``register_backend``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mass_env.data.modalities import Modality
from mass_env.game.investors import InvestorType

#: The rating scale every backend answers on (1 = much worse than the market, 5 = much better).
RATINGS = (1, 2, 3, 4, 5)

OK = "ok"
MALFORMED = "malformed"          # unparsable / out of scale / stocks missing
REFUSED = "refused"              # the model declined (refusal field, content filter)
TIMEOUT = "timeout"              # no answer within the client timeout, after retries
SERVER_ERROR = "server_error"    # HTTP 5xx / 429 / connection failure, after retries
CLIENT_ERROR = "client_error"    # HTTP 4xx other than 429 (bad model name, bad request): not retried
ERROR = "error"                  # anything else raised inside a backend
STATUSES = (OK, MALFORMED, REFUSED, TIMEOUT, SERVER_ERROR, CLIENT_ERROR, ERROR)
#: What the model said (kept in the response cache and replayed): an answer, a bad answer, a refusal.
ANSWERED = (OK, MALFORMED, REFUSED)
#: No answer from the model (transport, server, client or backend failure): never stored as an answer,
#: asked again on the next run.
UNANSWERED = (TIMEOUT, SERVER_ERROR, CLIENT_ERROR, ERROR)


@dataclass(frozen=True)
class Item:
    """One candidate stock of a request: its symbol, its description, and the type's numeric
    features for it (what the scripted backend reads; a language model reads ``text``)."""

    symbol: str
    text: str
    features: tuple[float, ...] = ()


@dataclass(frozen=True)
class Request:
    """One agent's question on one day (the instructions are the backend's versioned template,
    ``agents.llm.prompts.templates``; ``template`` names the version).

    ``segments`` is the shared context, outermost first (the day's market view, then the type's
    view and style): every agent of a type gets the same segments on a day, which is what lets a
    backend compute that prefix once and reuse it. ``items`` are the agent's candidates.
    """

    agent: str
    type_id: int
    agent_index: int
    day: int
    date: str
    seed: int
    segments: tuple[str, ...]
    items: tuple[Item, ...]
    style: str
    modalities: int
    feature_names: tuple[str, ...]
    template: str
    variant: int = 0   # the agent's persona (prompt variant) within its type; 0 = the type's plain prompt

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(it.symbol for it in self.items)

    def canonical(self) -> dict[str, Any]:
        """Everything the answer may depend on, as plain JSON (hashed into the cache key)."""
        return {"agent": self.agent, "type_id": self.type_id, "agent_index": self.agent_index,
                "day": self.day, "date": self.date, "seed": self.seed, "template": self.template,
                "segments": list(self.segments), "style": self.style,
                "modalities": self.modalities, "feature_names": list(self.feature_names),
                "items": [[it.symbol, it.text, [float(f"{x:.6g}") for x in it.features]] for it in self.items],
                **({"variant": self.variant} if self.variant else {})}

    def content_hash(self) -> str:
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    """A backend's answer to one request.

    ``probs[i]`` is P(rating = 1..5) for ``request.items[i]`` (sums to 1); ``None`` unless ``ok``.
    ``mass[i]`` (local models) is the probability the model put on the five rating tokens before
    renormalising: a diagnostic of how much it wanted to answer on the scale at all.
    """

    status: str
    probs: tuple[tuple[float, ...], ...] | None = None
    mass: tuple[float, ...] | None = None
    attempts: int = 1
    detail: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown answer status {self.status!r}")
        if (self.status == OK) != (self.probs is not None):
            raise ValueError("an ok answer carries probs and a failed one does not")

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_json(self) -> str:
        return json.dumps({"status": self.status, "probs": self.probs, "mass": self.mass,
                           "attempts": self.attempts, "detail": self.detail,
                           "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, *, cached: bool = False) -> Answer:
        d = json.loads(text)
        probs = None if d["probs"] is None else tuple(tuple(float(x) for x in p) for p in d["probs"])
        mass = None if d.get("mass") is None else tuple(float(x) for x in d["mass"])
        return cls(d["status"], probs, mass, int(d.get("attempts", 1)), d.get("detail", ""),
                   int(d.get("prompt_tokens", 0)), int(d.get("completion_tokens", 0)), cached)

    @classmethod
    def failure(cls, status: str, detail: str = "", attempts: int = 1) -> Answer:
        return cls(status, None, None, attempts, detail[:500])


OnAnswer = Callable[[int, Answer], None]

REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_KEYLIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}")
_ASSIGNED = re.compile(r"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password|authorization)[\"']?\s*[:=]\s*"
                       r"[\"']?)[^\s\"',;}&]{4,}")
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{8,}")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")  # scheme://user:password@host
_QUERY_SECRET = re.compile(r"(?i)([?&][^=&\s#]*(?:key|token|secret|password|passwd|sig|auth)[^=&\s#]*=)[^&\s#\"']+")


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with every secret removed: each of ``secrets`` (and any 8+ character piece of one, as
    servers often echo a key partly), bearer tokens, ``sk-...`` keys and ``api_key=...`` values.
    Every error text a backend stores or shows passes through here (a server may echo the key)."""
    if not text:
        return text
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, REDACTED)
    keys = [s for s in secrets if s and len(s) >= 8]
    if keys:
        text = _TOKEN.sub(lambda m: REDACTED if any(m.group(0) in k for k in keys) else m.group(0), text)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _KEYLIKE.sub(REDACTED, text)
    return _ASSIGNED.sub(lambda m: m.group(1) + REDACTED, text)


def scrub_tree(obj: Any, secrets: Sequence[str] = ()) -> Any:
    """``obj`` (dicts, lists, tuples, strings) with every string scrubbed (``scrub``): applied to every
    file a run writes (its spec, command line, options), as URLs and flags can carry credentials."""
    if isinstance(obj, str):
        return scrub(obj, secrets)
    if isinstance(obj, Mapping):
        return {scrub(str(k), secrets) if isinstance(k, str) else k: scrub_tree(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_tree(v, secrets) for v in obj]
    return obj


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The credentials inside a URL (user name, password, key-like query values), to scrub from texts."""
    if not url:
        return ()
    from urllib.parse import parse_qsl, urlsplit

    try:
        parts = urlsplit(str(url))
        found = [parts.password or "", parts.username or "" if parts.password else ""]
        found += [v for k, v in parse_qsl(parts.query) if _QUERY_SECRET.match("?" + k + "=x")]
    except ValueError:
        return ()
    return tuple(x for x in found if len(x) >= 4)


def answer_problem(answer: Answer, n_items: int | None = None) -> str | None:
    """Why an ``ok`` answer cannot be used (``None`` when it can): a rating distribution per candidate,
    five finite non-negative probabilities summing to 1. Guards against damaged or edited cache rows
    and buggy backends (all-zero probabilities would otherwise read as rating 5)."""
    if not answer.ok or answer.probs is None:
        return None
    if n_items is not None and len(answer.probs) != n_items:
        return f"{len(answer.probs)} rating distributions for {n_items} candidates"
    if not answer.probs:
        return None
    try:
        p = np.asarray(answer.probs, dtype=np.float64)
    except (TypeError, ValueError):
        return "rating distributions are not numbers"
    if p.ndim != 2 or p.shape[1] != len(RATINGS):
        return f"rating distributions of shape {p.shape}, expected (candidates, {len(RATINGS)})"
    if not np.isfinite(p).all() or (p < 0).any():
        return "rating probabilities are negative or not finite"
    bad = np.abs(p.sum(axis=1) - 1.0) > 1e-3
    if bad.any():
        return f"{int(bad.sum())} rating distribution(s) do not sum to 1 (e.g. {float(p.sum(axis=1)[bad][0]):g})"
    return None


@runtime_checkable
class Backend(Protocol):
    """Batch of requests in, one answer per request out (same order), never raising for a bad answer.

    ``fingerprint`` names everything the answers depend on besides the request (model id, weights
    hash, decoding parameters; never an API key): it is part of the response-cache key.
    ``on_answer(i, answer)``, when given, is called in the calling thread as soon as answer ``i``
    is known (the cache commits it then, so a crash loses nothing already answered).
    """

    @property
    def fingerprint(self) -> Mapping[str, Any]: ...

    def answer(self, requests: Sequence[Request], on_answer: OnAnswer | None = None) -> list[Answer]: ...


@dataclass
class BackendStats:
    """Counters a backend keeps (``backend.stats``)."""

    batches: int = 0
    requests: int = 0
    items: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, answer: Answer, n_items: int) -> None:
        self.requests += 1
        self.items += n_items
        self.prompt_tokens += answer.prompt_tokens
        self.completion_tokens += answer.completion_tokens
        self.by_status[answer.status] = self.by_status.get(answer.status, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "requests": self.requests, "items": self.items,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "seconds": round(self.seconds, 3), "by_status": dict(self.by_status)}


class BaseBackend(ABC):
    """Shared plumbing: counters, a lock (a backend may be shared by threads), ``on_answer``.

    Subclasses provide ``fingerprint`` (what the answers depend on) and ``_answer`` (the model call).
    """

    #: Strings never to be stored or shown (an API key); every answer's ``detail`` is scrubbed of them.
    secrets: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.stats = BackendStats()
        self._lock = threading.RLock()

    @property
    @abstractmethod
    def fingerprint(self) -> Mapping[str, Any]:
        """Model id, weights hash, decoding parameters: everything besides the request."""

    @abstractmethod
    def _answer(self, requests: Sequence[Request], emit: OnAnswer) -> None:
        """Answer ``requests``, calling ``emit(index, answer)`` for each as soon as it exists."""

    def answer(self, requests: Sequence[Request], on_answer: OnAnswer | None = None) -> list[Answer]:
        import time

        out: list[Answer | None] = [None] * len(requests)
        if not requests:
            return []

        def emit(i: int, ans: Answer) -> None:
            if ans.detail:
                clean = scrub(ans.detail, self.secrets)
                if clean != ans.detail:
                    ans = dataclasses.replace(ans, detail=clean)
            out[i] = ans
            self.stats.add(ans, len(requests[i].items))
            if on_answer is not None:
                on_answer(i, ans)

        with self._lock:
            t0 = time.perf_counter()
            self.stats.batches += 1
            try:
                self._answer(requests, emit)
            except Exception as exc:  # noqa: BLE001 (a backend bug or a dead model must not crash the run)
                for i, a in enumerate(out):
                    if a is None:
                        emit(i, Answer.failure(ERROR, f"{type(exc).__name__}: {exc}"))
            for i, a in enumerate(out):
                if a is None:
                    emit(i, Answer.failure(ERROR, "backend returned no answer"))
            self.stats.seconds += time.perf_counter() - t0
        return [a for a in out if a is not None]


# ------------------------------------------------------------------------------------ rating helpers
def score_to_probs(score: float, spread: float = 0.75) -> tuple[float, ...]:
    """A distribution over the ratings 1..5 centred on ``3 + 2 * score`` (``score`` in [-1, 1]):
    a discretised normal of standard deviation ``spread`` rating points."""
    centre = 3.0 + 2.0 * float(np.clip(score, -1.0, 1.0))
    r = np.asarray(RATINGS, dtype=np.float64)
    if spread <= 0:
        p = np.zeros(5)
        p[int(np.clip(round(centre), 1, 5)) - 1] = 1.0
    else:
        logit = -0.5 * ((r - centre) / spread) ** 2
        p = np.exp(logit - logit.max())
        p /= p.sum()
    return tuple(float(x) for x in p)


def one_hot(rating: int) -> tuple[float, ...]:
    return tuple(1.0 if r == rating else 0.0 for r in RATINGS)


class ScriptedBackend(BaseBackend):
    """The deterministic scripted follower (``mass_env.scripted``) behind the LLM
    interface: the type's noise-free style view of each candidate, ``tanh(view / 2)``, becomes a
    rating distribution centred on ``3 + 2 * score`` (``spread`` rating points wide). The follower
    samples from it with the simulation's RNG like from any model's distribution. No model, no
    network, ~microseconds per request: the CI default and the reference for the LLM backends."""

    def __init__(self, spread: float = 0.75) -> None:
        super().__init__()
        self.spread = float(spread)
        self._policies: dict[tuple[int, str, tuple[str, ...]], Any] = {}

    @property
    def fingerprint(self) -> Mapping[str, Any]:
        # the model's name is part of every cached answer's key: kept as first written, so stored caches stay valid
        return {"backend": "scripted", "model": "agents.scripted.ScriptedInvestor", "spread": self.spread}

    def _policy(self, req: Request) -> Any:
        from mass_env.scripted import ScriptedFollower

        key = (req.modalities, req.style, req.feature_names)
        if key not in self._policies:
            itype = InvestorType(req.type_id, Modality(req.modalities), req.style, 1)
            self._policies[key] = ScriptedFollower(itype, req.feature_names)
        return self._policies[key]

    def _answer(self, requests: Sequence[Request], emit: OnAnswer) -> None:
        for i, req in enumerate(requests):
            if not req.items:
                emit(i, Answer(OK, ()))
                continue
            feats = np.array([it.features for it in req.items], dtype=np.float64)
            if feats.shape != (len(req.items), len(req.feature_names)):
                emit(i, Answer.failure(MALFORMED, f"features shape {feats.shape} does not match the feature names"))
                continue
            view = self._policy(req).view(feats)
            emit(i, Answer(OK, tuple(score_to_probs(np.tanh(v / 2.0), self.spread) for v in view)))
