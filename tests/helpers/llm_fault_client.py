"""The client side of the fault tests: the OpenAI backend pointed at a fault server (``llm_fault_server``)
with short deadlines, and a small request to send it."""

from __future__ import annotations

import llm_fault_server as fs

#: the API key the fault tests hand the backend; it must never appear in anything stored or shown
FAULT_KEY = "sk-fault-test-0123456789abcdef"


def fault_backend(srv: fs.FaultServer, monkeypatch, **kw):
    """The OpenAI backend pointed at ``srv`` with short deadlines (``kw`` overrides them)."""
    from agents.llm.backends.openai import OpenAIBackend

    monkeypatch.setenv("MASS_FAULT_KEY", FAULT_KEY)
    opts = {"timeout": 1.0, "max_retries": 1, "backoff": 0.01, "backoff_max": 0.05, "concurrency": 4, **kw}
    return OpenAIBackend(fs.MODEL, srv.base_url, api_key_env="MASS_FAULT_KEY", **opts)


def fault_request(i: int = 0, symbols=("S0001", "S0002", "S0003")):
    """One agent-day's request of three stocks."""
    from agents.llm.backends.base import Item, Request

    items = tuple(Item(s, f"{s}: 5 days +1.0%") for s in symbols)
    return Request(agent=f"investor_0/{i}", type_id=0, agent_index=i, day=30, date="2023-01-12", seed=0,
                   segments=("Date 2023-01-12.\n", "You see prices.\n"), items=items, style="balanced",
                   modalities=1, feature_names=(), template="test")
