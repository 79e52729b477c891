"""OpenAI-compatible endpoint backend: vLLM, llama.cpp ``llama-server``, Ollama, hosted APIs.

One chat completion per agent and day in the *list* format (``agents.llm.prompts.LIST_SYSTEM``):
the shared context, the agent's candidates one per line, and a JSON answer
``{"ratings": {SYMBOL: R}}`` constrained by a JSON schema where the server supports it
(``response_format="json_schema"``; ``"json_object"`` for servers that only take that, ``"none"``
to send no constraint). Requests run concurrently (``concurrency`` threads) so the server can batch
them; put the shared context first so a server with prefix caching (vLLM
``--enable-prefix-caching``) reuses it.

``rating="logprobs"`` instead rates one stock per request from the rating token's log-probabilities,
like the local backend (``agents.llm.backends.served_rating``: ``/v1/completions`` with ``logprobs``, which vLLM
and llama.cpp serve): ``per_stock`` then, so the response cache shares each (day, type, persona, stock)
answer across agents, seeds and configs (``agents.llm.cache.branches``).

Robustness (``agents.llm.backends.aio``): requests run as coroutines on the backend's own event loop, at most
``concurrency`` in flight whatever the batch size (a day's requests of every type go out together).
Every attempt has a *total* deadline of ``timeout`` seconds (not per read: a server trickling bytes
cannot hold it). Timeouts, connection failures, HTTP 429 and 5xx are retried ``max_retries`` times
after a jittered exponential backoff (``backoff * 2**attempt`` capped at ``backoff_max``), or after
the server's ``Retry-After`` when it sends one (a wait longer than ``retry_after_max`` gives up
instead); other 4xx are not retried. After ``breaker_after`` failed attempts in a row the server is
taken for down and requests fail at once ("not sent") until a probe every ``breaker_cooldown``
seconds succeeds. Ctrl-C cancels what is in flight at once; answers already received are kept
(the cache has committed them). An answer that does not parse, misses a candidate or leaves the
1..5 scale is ``malformed``; a refusal (``refusal`` field, ``content_filter``) is ``refused``; an
answer from another model than the one asked (``model`` of the response) is a ``client_error``; an
HTTP 200 that is no completion (an HTML page, an error envelope, no ``choices``, an event stream) or a
body over ``max_response_bytes`` (inflated size; ``agents.llm.backends.transport``) is a ``server_error``
(never cached). ``timeout`` is bounded by ``MAX_TIMEOUT``. One
request's failure never touches another's. Nothing raises: the follower counts the status and leaves
the agent's stocks missing.

The API key is read from the environment variable named by ``api_key_env`` (default
``OPENAI_API_KEY``; a placeholder is sent when it is unset, which local servers accept). It is never
part of the fingerprint, the cache, a log line or an error detail (every detail is scrubbed of it,
``backend.scrub``, as servers echo keys in error bodies). ``openai`` is imported lazily.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..cache.branches import BranchScores
from ..cache.identity import normalise_base_url, resolve_base_url
from ..prompts.templates import LIST_SYSTEM, TEMPLATE_VERSION, list_json_schema, list_user_message
from .aio import CircuitBreaker, EventLoopThread, backoff_delay, retry_after_seconds
from .base import (
    CLIENT_ERROR,
    ERROR,
    MALFORMED,
    OK,
    REFUSED,
    SERVER_ERROR,
    TIMEOUT,
    Answer,
    BaseBackend,
    OnAnswer,
    Request,
    one_hot,
    scrub,
    url_secrets,
)
from .list_answers import LIST_FORMAT_VERSION, parse_ratings
from .served_rating import (
    LOGPROB_FORMAT_VERSION,
    RATING_MODES,
    all_or_nothing,
    branch_scores,
    completion_body,
    emit_per_request,
    load_template,
    read_logprobs,
    template_identity,
)
from .transport import MAX_RESPONSE_BYTES, ResponseTooLarge, bounded_http_client, client_url, not_a_completion

RESPONSE_FORMATS = ("json_schema", "json_object", "none")
#: Longest total deadline of one attempt, in seconds (``timeout``; an unbounded one lets a silent server
#: hold a run forever).
MAX_TIMEOUT = 3600.0


def request_seed(req: Request) -> int:
    """A per-(run, agent, day) integer seed for servers that honour ``seed`` (best effort)."""
    h = hashlib.sha256(f"{req.seed}|{req.agent}|{req.day}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


class OpenAIBackend(BaseBackend):
    """Any OpenAI-compatible chat-completions server through the ``openai`` client.

    Args:
        model: the served model name (part of the identity; pass ``model_revision`` too if the name
            does not pin the weights).
        base_url: e.g. ``http://gpu-host:8000/v1`` (vLLM), ``http://127.0.0.1:8080/v1`` (llama.cpp),
            ``http://127.0.0.1:11434/v1`` (Ollama); default ``$OPENAI_BASE_URL`` or OpenAI's. Part of
            the identity: the same model name on another server is another model.
        api_key_env: name of the environment variable holding the key.
        concurrency, timeout, max_retries, backoff, backoff_max, retry_after_max, breaker_after,
            breaker_cooldown: see the module docstring (``timeout`` is the total seconds per attempt).
        temperature, max_tokens, response_format, extra_body, send_seed: decoding (all part of the
            identity); ``max_tokens`` defaults to ``16 * candidates + 32``.
        rating: ``"list"`` (one JSON answer per agent-day) or ``"logprobs"`` (per stock, from the rating
            token's log-probabilities: ``agents.llm.backends.served_rating``); ``chat_template`` (``"chatml"`` or
            a local tokenizer folder) and ``top_logprobs`` apply to the latter.
    """

    #: a served model may have been trained on what happened next: followers anonymize its prompts by default
    served = True
    #: rates one stock per request (``rating="logprobs"``): set per instance
    per_stock = False

    def __init__(self, model: str, base_url: str | None = None, *, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 3, backoff: float = 0.5,
                 backoff_max: float = 8.0, retry_after_max: float = 60.0, breaker_after: int = 32,
                 breaker_cooldown: float = 30.0, temperature: float = 0.0, max_tokens: int | None = None,
                 response_format: str = "json_schema", model_revision: str | None = None,
                 extra_body: Mapping[str, Any] | None = None, send_seed: bool = True, rating: str = "list",
                 chat_template: str = "chatml", top_logprobs: int = 20,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        super().__init__()
        if rating not in RATING_MODES:
            raise ValueError(f"rating must be one of {RATING_MODES}, got {rating!r}")
        if not 5 <= int(top_logprobs) <= 20:
            raise ValueError(f"top_logprobs must be 5..20 (servers cap it at 20), got {top_logprobs}")
        if response_format not in RESPONSE_FORMATS:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}, got {response_format!r}")
        if (concurrency < 1 or max_retries < 0 or not 0 < timeout <= MAX_TIMEOUT or backoff < 0
                or not 0 <= retry_after_max <= MAX_TIMEOUT or not max_response_bytes >= 1):
            raise ValueError(f"concurrency >= 1, max_retries >= 0, 0 < timeout <= {MAX_TIMEOUT:g}, backoff >= 0, "
                             f"0 <= retry_after_max <= {MAX_TIMEOUT:g} and max_response_bytes >= 1 are required (got "
                             f"{concurrency}, {max_retries}, {timeout}, {backoff}, {retry_after_max}, "
                             f"{max_response_bytes})")
        if not model or not str(model).strip():
            raise ValueError("the openai backend needs a model name (the server's served model name)")
        import openai  # lazy: only this backend needs it

        self._openai = openai
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.max_response_bytes = int(max_response_bytes)
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.response_format = response_format
        self.model_revision = model_revision
        self.extra_body = dict(extra_body or {})
        self.send_seed = bool(send_seed)
        self.rating = rating
        self.per_stock = rating == "logprobs"
        self.chat_template = chat_template
        self.top_logprobs = int(top_logprobs)
        self.template = load_template(chat_template) if self.per_stock else None
        self.http_calls = 0
        self.breaker = CircuitBreaker(breaker_after, breaker_cooldown)
        key = os.environ.get(api_key_env) or "EMPTY"
        self.secrets = ((key,) if key != "EMPTY" else ()) + url_secrets(self.base_url)
        self._key = key
        self._jitter = random.Random()  # retry timing only; never touches results
        self._loop = EventLoopThread("mass-llm-http")
        self._clients: dict[int, Any] = {}  # one async client per event loop

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(model={self.model!r}, base_url={normalise_base_url(self.base_url)!r})"

    @staticmethod
    def identity(model: str | None = None, base_url: str | None = None, *, model_revision: str | None = None,
                 temperature: float = 0.0, max_tokens: int | None = None, response_format: str = "json_schema",
                 extra_body: Mapping[str, Any] | None = None, send_seed: bool = True, rating: str = "list",
                 chat_template: str = "chatml", top_logprobs: int = 20, **transport: Any) -> dict[str, Any]:
        """What determines this backend's answers (``agents.llm.cache.identity.answer_identity``); the
        transport options (timeouts, retries, concurrency, key variable) are accepted and left out.
        The log-prob rating names its format, chat template and top-N (no JSON or seed options)."""
        if rating == "logprobs":
            return {"backend": "openai", "base_url": resolve_base_url(base_url), "model": model,
                    "model_revision": model_revision, "format": LOGPROB_FORMAT_VERSION, "rating": rating,
                    "prompts": TEMPLATE_VERSION, "chat_template": template_identity(chat_template),
                    "top_logprobs": int(top_logprobs), "extra_body": dict(extra_body or {})}
        return {"backend": "openai", "base_url": resolve_base_url(base_url), "model": model,
                "model_revision": model_revision, "format": LIST_FORMAT_VERSION, "prompts": TEMPLATE_VERSION,
                "response_format": response_format, "temperature": float(temperature), "max_tokens": max_tokens,
                "extra_body": dict(extra_body or {}), "seeded": bool(send_seed)}

    @property
    def fingerprint(self) -> Mapping[str, Any]:
        return self.identity(self.model, self.base_url, model_revision=self.model_revision,
                             temperature=self.temperature, max_tokens=self.max_tokens,
                             response_format=self.response_format, extra_body=self.extra_body,
                             send_seed=self.send_seed, rating=self.rating, chat_template=self.chat_template,
                             top_logprobs=self.top_logprobs)

    # ------------------------------------------------------------------ one request
    def build_body(self, req: Request) -> dict[str, Any]:
        symbols = req.symbols
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": LIST_SYSTEM},
                         {"role": "user", "content": list_user_message(req.segments,
                                                                       [(it.symbol, it.text) for it in req.items])}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens or 16 * len(symbols) + 32,
        }
        if self.send_seed:
            body["seed"] = request_seed(req)
        if self.response_format == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "ratings", "strict": True, "schema": list_json_schema(symbols)}}
        elif self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _client(self) -> Any:
        """The async client of the running loop (made there, so its connections belong to it)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None:
            url, query = client_url(self.base_url)
            client = self._openai.AsyncOpenAI(base_url=url, api_key=self._key, timeout=self.timeout,
                                              default_query=query, max_retries=0, http_client=bounded_http_client(
                                                  self._openai, self.timeout, self.max_response_bytes))
            self._clients = {id(loop): client}
        return client

    def _fail(self, status: str, detail: str) -> Answer:
        return Answer.failure(status, scrub(detail, self.secrets))

    async def _once(self, body: Mapping[str, Any], symbols: Sequence[str] | None
                    ) -> tuple[Answer, bool, float | None]:
        """One HTTP call within the total deadline: ``(answer, retryable, Retry-After seconds or None)``;
        ``symbols`` ``None``: a ``/v1/completions`` call of the log-prob rating (one stock)."""
        oa = self._openai
        self.http_calls += 1  # the loop is one thread: no lock needed
        client = self._client()
        create = client.chat.completions.create if symbols is not None else client.completions.create
        try:
            resp = await asyncio.wait_for(create(**body, extra_body=self.extra_body or None), self.timeout)
        except (asyncio.TimeoutError, oa.APITimeoutError):
            self.breaker.record(False, "timeout")
            return self._fail(TIMEOUT, f"no complete answer within {self.timeout:g}s"), True, None
        except (oa.APIConnectionError, ResponseTooLarge) as exc:
            big = exc if isinstance(exc, ResponseTooLarge) else exc.__cause__
            if isinstance(big, ResponseTooLarge):  # refused before it filled memory; never cached
                self.breaker.record(False, "response too large")
                return self._fail(SERVER_ERROR, f"response refused: {big}"), False, None
            self.breaker.record(False, "connection failed")
            return self._fail(SERVER_ERROR, f"connection failed: {type(exc).__name__}"), True, None
        except oa.APIStatusError as exc:
            code = int(getattr(exc, "status_code", 0) or 0)
            wait = retry_after_seconds(getattr(getattr(exc, "response", None), "headers", None))
            if code >= 500:
                self.breaker.record(False, f"HTTP {code}")
            status = SERVER_ERROR if code >= 500 or code == 429 else CLIENT_ERROR
            return self._fail(status, f"HTTP {code}: {_short(exc)}"), status == SERVER_ERROR, wait
        except Exception as exc:  # response validation, bad JSON envelope, client bugs
            self.breaker.record(True)  # the server answered, badly
            return self._fail(ERROR, f"{type(exc).__name__}: {_short(exc)}"), False, None
        why = not_a_completion(resp)
        if why is not None:  # the transport failed (proxy page, error envelope): retried, never cached
            self.breaker.record(False, "not a completion")
            return self._fail(SERVER_ERROR, why), True, None
        self.breaker.record(True)
        served = str(getattr(resp, "model", "") or "")
        if served and not same_model(self.model, served):
            return self._fail(CLIENT_ERROR, f"the server answered as model {served[:80]!r}, not {self.model!r} "
                                            "(check --llm-model and --llm-base-url)"), False, None
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        choice = resp.choices[0]
        if symbols is None:
            return read_logprobs(choice, pt, ct), False, None
        msg = choice.message
        refusal = getattr(msg, "refusal", None)
        if refusal or getattr(choice, "finish_reason", None) == "content_filter":
            return Answer(REFUSED, detail=scrub(str(refusal or "content_filter")[:200], self.secrets),
                          prompt_tokens=pt, completion_tokens=ct), False, None
        ratings, why = parse_ratings(msg.content, symbols)
        if ratings is None:
            return Answer(MALFORMED, detail=why, prompt_tokens=pt, completion_tokens=ct), False, None
        probs = tuple(one_hot(ratings[s]) for s in symbols)
        return Answer(OK, probs, prompt_tokens=pt, completion_tokens=ct), False, None

    async def _ask(self, req: Request, slots: asyncio.Semaphore) -> Answer:
        """One request: at most ``concurrency`` in flight (``slots``), bounded retries, jittered backoff."""
        if not req.items:
            return Answer(OK, ())
        return await self._send(self.build_body(req), req.symbols, slots)

    async def _send(self, body: Mapping[str, Any], symbols: Sequence[str] | None, slots: asyncio.Semaphore
                    ) -> Answer:
        attempt = 0
        while True:
            async with slots:  # the breaker is asked once a slot is free: a queued request sees the latest news
                if not self.breaker.allow():
                    return Answer.failure(SERVER_ERROR, f"not sent: {self.breaker.reason}", attempt)
                ans, retry, wait = await self._once(body, symbols)
            attempt += 1
            if retry and attempt <= self.max_retries and wait is not None and wait > self.retry_after_max:
                return Answer.failure(ans.status, f"{ans.detail} (the server asked to wait {wait:g}s, more than "
                                                  f"retry_after_max={self.retry_after_max:g}s)", attempt)
            if not retry or attempt > self.max_retries:
                return Answer(ans.status, ans.probs, ans.mass, attempt, ans.detail, ans.prompt_tokens,
                              ans.completion_tokens)
            await asyncio.sleep(backoff_delay(attempt, self.backoff, self.backoff_max, self._jitter, wait))

    async def _guarded(self, req: Request | str, slots: asyncio.Semaphore) -> Answer:
        """One request (a ``Request``, or a log-prob branch's prompt text) that never raises."""
        try:
            if isinstance(req, str):
                return await self._send(completion_body(self.model, req, self.top_logprobs), None, slots)
            return await self._ask(req, slots)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (one bad answer fails only itself)
            return self._fail(ERROR, f"{type(exc).__name__}: {_short(exc)}")

    def ask(self, req: Request) -> Answer:
        """Answer one request (bounded retries, total deadline per attempt)."""
        out: list[Answer] = []
        self._answer([req], lambda i, a: out.append(a))
        return out[0]

    # ------------------------------------------------------------------ batch
    def _run(self, jobs: Sequence[Request | str], emit: OnAnswer) -> None:
        async def batch_slots() -> asyncio.Semaphore:
            return asyncio.Semaphore(self.concurrency)

        slots = self._loop.run(batch_slots())
        self._loop.run_all([self._guarded(r, slots) for r in jobs], emit)

    def _answer(self, requests: Sequence[Request], emit: OnAnswer) -> None:
        if not self.per_stock:
            self._run(requests, emit)
            return
        emit_per_request(requests, self.rate_branches([(r.segments, it.text) for r in requests for it in r.items]),
                         emit)

    def rate_branches(self, pairs: Sequence[tuple[Sequence[str], str]]) -> BranchScores:
        """Rate each ``(segments, stock text)`` branch by one ``/v1/completions`` request (each distinct
        prompt once, grouped by shared context so a prefix-caching server reuses it; at most
        ``concurrency`` in flight); a branch the server fails is that branch's status, not the batch's."""
        if self.template is None:
            raise ValueError("rate_branches needs rating='logprobs'")
        prompts = [self.template.render(segs, text) for segs, text in pairs]
        distinct = sorted(set(prompts))  # the shared context first in every prompt: sorting groups it
        got: dict[str, Answer] = {}
        self._run(distinct, lambda i, a: got.__setitem__(distinct[i], a))
        return branch_scores(prompts, got, self.stats)

    def rate_items(self, pairs: Sequence[tuple[Sequence[str], str]]) -> np.ndarray:
        """``(B, 6)`` P(rating 1..5) and mass per branch (the local backend's interface); raises when a
        branch failed (``rate_branches`` reports failures branch by branch instead)."""
        return all_or_nothing(self.rate_branches(pairs))

    def close(self) -> None:
        """Close the HTTP connections and stop the event loop (a later call starts them again)."""
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            try:
                self._loop.run(c.close(), timeout=2.0)
            except Exception:  # noqa: BLE001 (closing is best effort)
                pass
        self._loop.close()


def same_model(asked: str, served: str) -> bool:
    """Is ``served`` (a response's ``model``) the model that was ``asked`` for? Equal, or the asked name
    with a version suffix (OpenAI ``gpt-4o`` -> ``gpt-4o-2024-08-06``, Ollama ``llama3`` -> ``llama3:latest``)
    or a path ending in it."""
    a, s = asked.strip().lower(), served.strip().lower()
    return s == a or s.startswith((a + "-", a + ":", a + "@")) or s.endswith("/" + a) or a.endswith("/" + s)


def _short(exc: BaseException, n: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text[:n]
