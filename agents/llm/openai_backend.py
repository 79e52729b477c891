"""OpenAI-compatible endpoint backend: vLLM, llama.cpp ``llama-server``, Ollama, hosted APIs.

One chat completion per agent and day in the *list* format (``agents.llm.prompts.LIST_SYSTEM``):
the shared context, the agent's candidates one per line, and a JSON answer
``{"ratings": {SYMBOL: R}}`` constrained by a JSON schema where the server supports it
(``response_format="json_schema"``; ``"json_object"`` for servers that only take that, ``"none"``
to send no constraint). Requests run concurrently (``concurrency`` threads) so the server can batch
them; put the shared context first so a server with prefix caching (vLLM
``--enable-prefix-caching``) reuses it.

Robustness: every request has a client timeout; timeouts, connection failures, HTTP 429 and 5xx are
retried ``max_retries`` times with exponential backoff (``backoff * 2**attempt``, capped at
``backoff_max``); other 4xx are not retried. An answer that does not parse, misses a candidate or
leaves the 1..5 scale is ``malformed``; a refusal (``refusal`` field, ``content_filter``) is
``refused``. Nothing raises: the follower counts the status and leaves the agent's stocks missing.

The API key is read from the environment variable named by ``api_key_env`` (default
``OPENAI_API_KEY``; a placeholder is sent when it is unset, which local servers accept). It is never
part of the fingerprint, the cache, a log line or an error detail. ``openai`` is imported lazily.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from .backend import (
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
)
from .prompts import LIST_SYSTEM, list_json_schema, list_user_message

LIST_FORMAT_VERSION = "list-json/1"
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def request_seed(req: Request) -> int:
    """A per-(run, agent, day) integer seed for servers that honour ``seed`` (best effort)."""
    h = hashlib.sha256(f"{req.seed}|{req.agent}|{req.day}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def parse_ratings(text: str | None, symbols: Sequence[str]) -> tuple[dict[str, int] | None, str]:
    """Ratings for every symbol from an answer text, or ``(None, why)``."""
    if text is None or not text.strip():
        return None, "empty answer"
    body = _FENCE.sub("", text.strip())
    try:
        data = json.loads(body)
    except ValueError as exc:
        return None, f"not JSON: {exc.msg}"
    if isinstance(data, dict) and isinstance(data.get("ratings"), dict):
        data = data["ratings"]
    if not isinstance(data, dict):
        return None, "JSON is not an object of ratings"
    out: dict[str, int] = {}
    missing, bad = [], []
    for s in symbols:
        v = data.get(s)
        if v is None:
            missing.append(s)
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v) or not 1 <= int(v) <= 5:
            bad.append(s)
        else:
            out[s] = int(v)
    if missing or bad:
        return None, f"{len(missing)} candidate(s) missing, {len(bad)} rating(s) off the 1..5 scale"
    return out, ""


class OpenAIBackend(BaseBackend):
    """Any OpenAI-compatible chat-completions server through the ``openai`` client.

    Args:
        model: the served model name (part of the cache key; pass ``model_revision`` too if the name
            does not pin the weights).
        base_url: e.g. ``http://gpu-host:8000/v1`` (vLLM), ``http://127.0.0.1:8080/v1`` (llama.cpp),
            ``http://127.0.0.1:11434/v1`` (Ollama); default ``$OPENAI_BASE_URL`` or OpenAI's.
        api_key_env: name of the environment variable holding the key.
        concurrency, timeout, max_retries, backoff, backoff_max: see the module docstring.
        temperature, max_tokens, response_format, extra_body: decoding parameters (all part of the
            fingerprint); ``max_tokens`` defaults to ``16 * candidates + 32``.
    """

    #: a served model may have been trained on what happened next: followers anonymize its prompts by default
    served = True

    def __init__(self, model: str, base_url: str | None = None, *, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 3, backoff: float = 0.5,
                 backoff_max: float = 8.0, temperature: float = 0.0, max_tokens: int | None = None,
                 response_format: str = "json_schema", model_revision: str | None = None,
                 extra_body: Mapping[str, Any] | None = None, send_seed: bool = True) -> None:
        super().__init__()
        if response_format not in RESPONSE_FORMATS:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}, got {response_format!r}")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        import openai  # lazy: only this backend needs it

        self._openai = openai
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.response_format = response_format
        self.model_revision = model_revision
        self.extra_body = dict(extra_body or {})
        self.send_seed = bool(send_seed)
        self.http_calls = 0
        self._count_lock = threading.Lock()
        key = os.environ.get(api_key_env) or "EMPTY"
        self._client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=0)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def fingerprint(self) -> Mapping[str, Any]:
        return {"backend": "openai-compatible", "model": self.model, "model_revision": self.model_revision,
                "format": LIST_FORMAT_VERSION, "response_format": self.response_format,
                "temperature": self.temperature, "max_tokens": self.max_tokens,
                "extra_body": self.extra_body, "seeded": self.send_seed}

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

    def _once(self, body: Mapping[str, Any], symbols: Sequence[str]) -> tuple[Answer, bool]:
        """One HTTP call: ``(answer, retryable)``."""
        oa = self._openai
        kw = dict(body)
        extra = dict(self.extra_body)
        try:
            with self._count_lock:
                self.http_calls += 1
            resp = self._client.chat.completions.create(**kw, extra_body=extra or None)
        except oa.APITimeoutError:
            return Answer.failure(TIMEOUT, f"no answer within {self.timeout:g}s"), True
        except oa.APIConnectionError as exc:
            return Answer.failure(SERVER_ERROR, f"connection failed: {type(exc).__name__}"), True
        except oa.APIStatusError as exc:
            code = int(getattr(exc, "status_code", 0) or 0)
            status = SERVER_ERROR if code >= 500 or code == 429 else CLIENT_ERROR
            return Answer.failure(status, f"HTTP {code}: {_short(exc)}"), status == SERVER_ERROR
        except Exception as exc:  # response validation, bad JSON envelope, client bugs
            return Answer.failure(ERROR, f"{type(exc).__name__}: {_short(exc)}"), False
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        choices = getattr(resp, "choices", None) or []
        if not choices:
            return Answer(MALFORMED, detail="no choices in the response", prompt_tokens=pt, completion_tokens=ct), False
        choice = choices[0]
        msg = choice.message
        refusal = getattr(msg, "refusal", None)
        if refusal or getattr(choice, "finish_reason", None) == "content_filter":
            return Answer(REFUSED, detail=str(refusal or "content_filter")[:200], prompt_tokens=pt,
                          completion_tokens=ct), False
        ratings, why = parse_ratings(msg.content, symbols)
        if ratings is None:
            return Answer(MALFORMED, detail=why, prompt_tokens=pt, completion_tokens=ct), False
        probs = tuple(one_hot(ratings[s]) for s in symbols)
        return Answer(OK, probs, prompt_tokens=pt, completion_tokens=ct), False

    def ask(self, req: Request) -> Answer:
        """Answer one request with bounded retries and exponential backoff."""
        if not req.items:
            return Answer(OK, ())
        body = self.build_body(req)
        attempt = 0
        while True:
            ans, retry = self._once(body, req.symbols)
            attempt += 1
            if not retry or attempt > self.max_retries:
                return Answer(ans.status, ans.probs, ans.mass, attempt, ans.detail, ans.prompt_tokens,
                              ans.completion_tokens)
            time.sleep(min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))

    # ------------------------------------------------------------------ batch
    def _answer(self, requests: Sequence[Request], emit: OnAnswer) -> None:
        if self.concurrency == 1 or len(requests) == 1:
            for i, r in enumerate(requests):
                emit(i, self.ask(r))
            return
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests)),
                                thread_name_prefix="mass-llm") as pool:
            futures = {pool.submit(self.ask, r): i for i, r in enumerate(requests)}
            for fut in as_completed(futures):  # emitted here, in the calling thread
                i = futures[fut]
                try:
                    emit(i, fut.result())
                except Exception as exc:
                    emit(i, Answer.failure(ERROR, f"{type(exc).__name__}: {_short(exc)}"))


def _short(exc: BaseException, n: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text[:n]
