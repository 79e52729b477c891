"""What determines an LLM backend's answers, as one plain dict: the single source of run and cache identity.

Two runs may share an answer only if they asked the same model the same way: same backend, same
server (base URL), same model name *and* revision, same decoding (temperature, token budget,
structured-output style, seeding, extra request fields) and the same prompt format. ``answer_identity``
builds that dict from a backend name and its options (without building the backend or calling a
server), so experiment runners can key stored runs on it before anything runs; a backend object's
``fingerprint`` is the same dict (``OpenAIBackend.fingerprint == answer_identity("openai", options)``),
and the response cache keys every answer on it.

Transport settings (timeouts, retries, concurrency, the API key's variable name) change how an answer
is fetched, not what it is, and are left out. The base URL is normalised (scheme and host lower-case,
no trailing slash, no user name, password or key-like query values), so the identity never holds a
secret and ``http://HOST:8000/v1/`` equals ``http://host:8000/v1``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Options of any backend that never change an answer (left out of identities).
TRANSPORT_OPTIONS = frozenset({"concurrency", "timeout", "max_retries", "threads", "api_key_env", "backoff",
                               "backoff_max", "retry_after_max", "breaker_after", "breaker_cooldown"})
_SECRET_QUERY = re.compile(r"(?i)key|token|secret|password|sig")


def normalise_base_url(url: str | None) -> str | None:
    """``url`` in a canonical form without credentials (``None`` stays ``None``)."""
    if url is None or not str(url).strip():
        return None
    parts = urlsplit(str(url).strip())
    host = (parts.hostname or "").lower()
    netloc = host + (f":{parts.port}" if parts.port else "")
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _SECRET_QUERY.search(k)))
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), query, ""))


def resolve_base_url(base_url: str | None) -> str | None:
    """The server an OpenAI-compatible client will talk to: ``base_url``, else ``$OPENAI_BASE_URL``,
    else OpenAI's own API (what the ``openai`` client does), normalised."""
    return normalise_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")


def answer_identity(backend: Any, backend_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything besides the request that determines a backend's answers (see the module docstring).

    ``backend`` is a registered name or a backend object (then its ``fingerprint``). A registered
    backend class or factory with an ``identity(**options)`` callable defines its own (the openai
    backend: server, model, revision, decoding, prompt format); others are named by their options
    minus the transport ones.
    """
    options = dict(backend_options or {})
    if not isinstance(backend, str):
        return dict(getattr(backend, "fingerprint", {}))
    from ..backends.registry import BACKENDS, LazyFactory

    name = BACKENDS.canonical(backend)
    factory: Any = BACKENDS.get(name)
    if isinstance(factory, LazyFactory):
        factory = factory.load()  # imports the backend's module only (heavy libraries load when it is built)
    own = getattr(factory, "identity", None)
    if callable(own):
        return {"backend": name, **own(**options)}
    return {"backend": name, "options": {k: v for k, v in sorted(options.items()) if k not in TRANSPORT_OPTIONS}}
