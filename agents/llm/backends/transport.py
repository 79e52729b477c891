"""What a served backend accepts from the wire: bodies of bounded size, and only real completions.

Why: an HTTP 200 is not an answer. A proxy's HTML login page, an ``{"error": ...}`` envelope, a
completion without ``choices`` or an event stream sent to a request that asked for none are the
transport failing, not the model answering: taken as the model's malformed answer they would be
cached and replayed forever, after the server has recovered. ``not_a_completion`` names them, and
the backend counts them as ``server_error`` (retried, never cached).

A body is read under a size bound before anything parses it (``BoundedTransport``): a response
whose ``Content-Length``, raw bytes or *inflated* bytes (a small gzip body that inflates to
gigabytes) pass ``max_bytes`` is refused (``ResponseTooLarge``) without growing in memory, so many
concurrent requests to a hostile or broken server cannot exhaust the machine. The transport
inflates gzip/deflate itself, with the bound, and asks servers for nothing else.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

#: Largest response body accepted, after decompression (a completion of 20 ratings is ~1 kB).
MAX_RESPONSE_BYTES = 8 << 20


class ResponseTooLarge(Exception):
    """A response body over the bound (raised inside the HTTP client; the backend reports it)."""


def client_url(base_url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """``base_url`` split into the URL the client joins paths onto and its query (sent with every request).

    Why: some gateways take their key as ``?api_key=...``; left in the base URL, the client would append
    ``/chat/completions`` after the query and the server would see neither the path nor the key."""
    if not base_url:
        return base_url, None
    parts = urlsplit(base_url)
    if not parts.query:
        return base_url, None
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment)), query


def http_module(openai_module: Any) -> Any:
    """The HTTP library (``httpx`` or its successor) the installed ``openai`` client is built on."""
    base = openai_module.DefaultAsyncHttpxClient.__mro__[1]
    return importlib.import_module(base.__module__.split(".")[0])


def bounded_http_client(openai_module: Any, timeout: float, max_bytes: int = MAX_RESPONSE_BYTES) -> Any:
    """An async HTTP client for ``openai.AsyncOpenAI(http_client=...)`` whose bodies are bounded."""
    httpx = http_module(openai_module)

    class BoundedTransport(httpx.AsyncBaseTransport):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: Any) -> Any:
            request.headers["Accept-Encoding"] = "gzip, deflate"
            resp = await self.inner.handle_async_request(request)
            try:
                declared = int(resp.headers.get("content-length") or 0)
            except ValueError:
                declared = 0
            body = bytearray()
            try:
                if declared > max_bytes:
                    raise ResponseTooLarge(f"the response declares {declared} bytes, over the {max_bytes} accepted")
                async for chunk in resp.stream:
                    body += chunk
                    if len(body) > max_bytes:
                        raise ResponseTooLarge(f"the response body passed the {max_bytes} bytes accepted")
            finally:
                await resp.aclose()
            data = inflate(bytes(body), resp.headers.get("content-encoding", ""), max_bytes)
            headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in ("content-encoding",
                                                                                     "content-length",
                                                                                     "transfer-encoding")]
            return httpx.Response(resp.status_code, headers=headers + [("content-length", str(len(data)))],
                                  content=data, request=request, extensions=resp.extensions)

    return openai_module.DefaultAsyncHttpxClient(transport=BoundedTransport(), timeout=timeout)


def inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """``body`` decoded by its ``Content-Encoding`` (gzip, deflate or none), never past ``max_bytes``."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
    for coding in reversed(codings):
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ResponseTooLarge(f"the response is {coding}-encoded, which was not asked for")
        d = zlib.decompressobj(47)  # 32 + 15: a gzip or zlib header, detected
        try:
            out = d.decompress(body, max_bytes + 1)
        except zlib.error as exc:
            raise ResponseTooLarge(f"the {coding} body does not inflate ({exc})") from None
        if len(out) > max_bytes or d.unconsumed_tail:
            raise ResponseTooLarge(f"the {coding} body inflates past the {max_bytes} bytes accepted")
        body = out
    return body


def not_a_completion(resp: Any) -> str | None:
    """Why an HTTP 200 ``resp`` is no completion (``None`` when it is one): a text body (an HTML page,
    an event stream), an error envelope, or no ``choices``."""
    if isinstance(resp, (str, bytes)):
        text = resp if isinstance(resp, str) else resp.decode("utf-8", "replace")
        head = " ".join(text.split())[:80]
        if text.lstrip().startswith(("data:", "event:")):
            return f"HTTP 200 with an event stream where none was asked for, not a completion ({head!r})"
        return f"HTTP 200 with a text body, not a completion ({head!r}; a proxy or login page in the way?)"
    extra = getattr(resp, "model_extra", None) or {}
    err = extra.get("error") if isinstance(extra, dict) else None
    if err is None:
        err = getattr(resp, "error", None)
    if err:
        msg = err.get("message", err) if isinstance(err, dict) else err
        return f"HTTP 200 with an error envelope, not a completion: {' '.join(str(msg).split())[:200]}"
    if not getattr(resp, "choices", None):
        return "HTTP 200 with no choices, not a completion"
    return None
