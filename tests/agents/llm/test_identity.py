"""What determines an LLM backend's answers (``agents.llm.cache.identity``): the server, model revision and
decoding are in it, transport settings and credentials are not, and run keys and cache keys agree."""

from __future__ import annotations

import pytest
from llm_fault_client import fault_request as request

from agents.llm.backends.openai import OpenAIBackend
from agents.llm.cache.identity import answer_identity, normalise_base_url
from agents.llm.cache.store import cache_key
from agents.llm.follower import llm_identity


# ------------------------------------------------------------------------------- identity
def test_identity_covers_server_revision_and_decoding(monkeypatch):
    pytest.importorskip("openai")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    base = {"model": "m", "base_url": "http://a:8000/v1", "concurrency": 4, "timeout": 5}
    ident = answer_identity("openai", base)
    assert ident == dict(OpenAIBackend(**base).fingerprint)  # one function: run keys and cache keys agree
    assert answer_identity("openai", {**base, "concurrency": 64, "timeout": 1}) == ident  # transport only
    for change in ({"base_url": "http://b:8000/v1"}, {"model_revision": "sha-2"}, {"temperature": 0.7},
                   {"response_format": "json_object"}, {"max_tokens": 99}, {"model": "m2"}):
        assert answer_identity("openai", {**base, **change}) != ident, change
        assert llm_identity("openai", {**base, **change}) != llm_identity("openai", base)
    assert answer_identity("openai", {**base, "base_url": "HTTP://user:pw@A:8000/v1/?api-key=zz"}) == ident
    assert normalise_base_url("http://user:pw@A:8000/v1/?x=1&token=zz") == "http://a:8000/v1?x=1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://a:8000/v1")
    assert answer_identity("openai", {"model": "m"}) == ident  # the server the client really talks to
    r = request()
    fp_a, fp_b = OpenAIBackend(**base).fingerprint, OpenAIBackend(**{**base, "base_url": "http://b/v1"}).fingerprint
    assert cache_key(fp_a, r) != cache_key(fp_b, r)

