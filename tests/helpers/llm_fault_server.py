"""A misbehaving OpenAI-compatible server on 127.0.0.1 for fault-injection tests.

Real servers cannot be made to fail on demand; this one fails exactly as told, per request. It is
stdlib ``http.server`` (a thread per connection) on an OS-chosen port, serving
``/v1/chat/completions`` (and ``/v1/completions`` for ``raw`` replies). ``behaviour(body) -> Reply``
decides each answer:

* ``ok()``: a valid answer (a deterministic rating per symbol), optionally after ``delay`` seconds;
* ``gather(n)``: a valid answer once ``n`` requests are in flight at once (or after a timeout);
* ``status(code, retry_after=...)``: an HTTP error (500, 503, 429 with ``Retry-After``...);
* ``echo_key()``: 401 whose body repeats the ``Authorization`` header (a key-leaking server);
* ``trickle(interval)``: a valid answer sent one byte every ``interval`` seconds;
* ``dead()``: reads the request and never answers (until the server closes);
* ``wrong_model()``: a valid answer that says it came from another model;
* ``garbage()``: HTTP 200 with a body that is not JSON;
* ``content(text)``: a well-formed completion whose message is ``text``;
* ``raw(code, payload, content_type=...)``: exactly this status and body (a dict is sent as JSON);
* ``random_answer()``: a valid answer with random ratings (a model that is not bit-deterministic);
* ``bomb(size)``: a small gzip body that inflates to ``size`` bytes.

It records every request (body, headers, arrival time) and the most requests it had in flight at once.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "test-model"


@dataclass
class Reply:
    kind: str = "ok"  # ok | status | echo_key | trickle | dead | wrong_model | garbage | content | raw
    code: int = 200
    delay: float = 0.0
    interval: float = 1.0
    gather: int = 0                     # hold the answer until this many requests are in flight (or ``delay``)
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    gzip_size: int = 0                  # ``bomb``: the size the gzip body inflates to


def ok(delay: float = 0.0) -> Reply:
    return Reply("ok", delay=delay)


def gather(n: int, timeout: float = 3.0) -> Reply:
    """A valid answer once ``n`` requests are in flight together (or after ``timeout`` seconds): shows
    how many a client really sends at once, however slow the machine running the test."""
    return Reply("ok", gather=n, delay=timeout)


def status(code: int, retry_after: float | None = None, delay: float = 0.0) -> Reply:
    return Reply("status", code=code, delay=delay,
                 headers={} if retry_after is None else {"Retry-After": f"{retry_after:g}"})


def echo_key() -> Reply:
    return Reply("echo_key", code=401)


def trickle(interval: float = 1.0) -> Reply:
    return Reply("trickle", interval=interval)


def dead() -> Reply:
    return Reply("dead")


def wrong_model() -> Reply:
    return Reply("wrong_model")


def garbage() -> Reply:
    return Reply("garbage")


def content(text: str) -> Reply:
    return Reply("content", text=text)


def raw(code: int, payload: Any, delay: float = 0.0, content_type: str = "application/json") -> Reply:
    return Reply("raw", code=code, delay=delay, text=payload if isinstance(payload, str) else json.dumps(payload),
                 content_type=content_type)


def bomb(size: int) -> Reply:
    """HTTP 200 with a ``Content-Encoding: gzip`` body of zeros that inflates to ``size`` bytes."""
    return Reply("bomb", gzip_size=size)


def random_answer() -> Reply:
    """A valid answer with a random rating per symbol (a served model that is not bit-deterministic)."""
    return Reply("random")


def _gzip_zeros(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    chunk = bytes(1 << 20)
    parts = [z.compress(chunk[:min(len(chunk), size - i)]) for i in range(0, size, len(chunk))]
    return b"".join(parts) + z.flush()


def rating_for(symbol: str) -> int:
    return 1 + hashlib.sha256(symbol.encode()).digest()[0] % 5


def symbols_of(body: dict) -> list[str]:
    rf = body.get("response_format") or {}
    try:
        return list(rf["json_schema"]["schema"]["properties"]["ratings"]["required"])
    except (KeyError, TypeError):
        return []


def completion(text: str | None, model: str = MODEL) -> bytes:
    return json.dumps({"id": "chatcmpl-fault", "object": "chat.completion", "created": 1, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                                    "finish_reason": "stop", "logprobs": None}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode()


def valid_text(body: dict) -> str:
    return json.dumps({"ratings": {s: rating_for(s) for s in symbols_of(body)}})


class FaultServer:
    """The server (see the module docstring); ``close()`` stops it and releases every held request."""

    def __init__(self, behaviour: Callable[[dict], Reply] = lambda body: ok()) -> None:
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                with outer.lock:
                    outer.requests.append({"body": body, "t": time.monotonic(), "path": self.path,
                                           "headers": {k.lower(): v for k, v in self.headers.items()}})
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    raw, interval = outer._plan(self, body)  # waits as told (delay, gather, dead)
                finally:
                    with outer.lock:  # answered (or given up) once the reply starts: the client may ask again
                        outer.in_flight -= 1
                try:
                    outer._send(self, raw, interval)
                except OSError:
                    pass  # the client gave up and closed the connection

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _plan(self, h: BaseHTTPRequestHandler, body: dict) -> tuple[bytes, float]:
        """The raw reply to send (empty: none) and the seconds between its bytes (0: all at once)."""
        path = h.path.split("?")[0].rstrip("/")
        r = self.behaviour(body) if path in ("/v1/chat/completions", "/v1/completions") else status(404)
        if r.gather:
            end = time.monotonic() + r.delay
            while self.in_flight < r.gather and time.monotonic() < end and not self.closed.wait(0.01):
                pass
        elif r.delay and self.closed.wait(r.delay):
            return b"", 0.0
        if r.kind == "dead":
            self.closed.wait()
            return b"", 0.0
        code, headers, data = r.code, dict(r.headers), b""
        if r.kind in ("ok", "trickle"):
            code, data = 200, completion(valid_text(body))
        elif r.kind == "random":
            ratings = {s: random.randint(1, 5) for s in symbols_of(body)}
            code, data = 200, completion(json.dumps({"ratings": ratings}))
        elif r.kind == "bomb":
            code, data = 200, _gzip_zeros(r.gzip_size)
            headers["Content-Encoding"] = "gzip"
        elif r.kind == "wrong_model":
            code, data = 200, completion(valid_text(body), model="some-other-model")
        elif r.kind == "content":
            code, data = 200, completion(r.text)
        elif r.kind == "raw":
            data = r.text.encode()
        elif r.kind == "garbage":
            code, data = 200, b"<html>502 upstream \x00\xff not json"
        elif r.kind == "echo_key":
            data = json.dumps({"error": {"message": f"invalid key: {h.headers.get('Authorization')}",
                                         "type": "invalid_request_error"}}).encode()
        else:
            data = json.dumps({"error": {"message": f"HTTP {code} from the fault server"}}).encode()
        head = [f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}", f"Content-Type: {r.content_type}",
                f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        return raw, (r.interval if r.kind == "trickle" else 0.0)

    def _send(self, h: BaseHTTPRequestHandler, raw: bytes, interval: float) -> None:
        if not interval:
            h.wfile.write(raw)
            h.wfile.flush()
            return
        for i in range(len(raw)):  # one byte per interval: every single read is fast, the whole is not
            if self.closed.wait(interval):
                return
            h.wfile.write(raw[i:i + 1])
            h.wfile.flush()

    def close(self) -> None:
        self.closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()

