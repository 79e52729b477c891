"""Served backends against a hostile server (``llm_fault_server``): answers that depend on timing, HTTP 200s
that are no completion, bodies that inflate to gigabytes.

Principles tested: the same key gives the same answer to every run of a study (a per-key claim, first
answer wins, in the shared cache), an answer is cached only if a model gave it, and no body is read
past a bound.
"""

from __future__ import annotations

import threading
from typing import Any

import llm_fault_server as fs
import numpy as np
import pytest

from agents.llm import CachedBackend, Request
from agents.llm.backends.base import OK, SERVER_ERROR, Item
from agents.llm.backends.openai import OpenAIBackend

pytest.importorskip("openai")


def request(day: int = 30, symbols: tuple[str, ...] = ("S0001", "S0002", "S0003", "S0004")) -> Request:
    items = tuple(Item(s, f"{s}: 5 days +1.0%, volatility middle.") for s in symbols)
    return Request(agent="investor_0/0", type_id=0, agent_index=0, day=day, date="2023-01-12", seed=0,
                   segments=("Average stock: today +0.1%.\n",), items=items, style="balanced", modalities=1,
                   feature_names=(), template="test")


def openai_backend(srv: fs.FaultServer, **kw: Any) -> OpenAIBackend:
    opts: dict[str, Any] = {"timeout": 5.0, "max_retries": 0, "backoff": 0.01, "concurrency": 4}
    opts.update(kw)
    return OpenAIBackend(fs.MODEL, srv.base_url, **opts)


def test_runs_that_ask_the_same_key_together_play_the_one_answer_the_cache_keeps(fault_server, tmp_path):
    """Two runs (two processes' backends on one cache file) miss the same keys at the same moment and a
    server answering at random gives each its own ratings: both must play the same answer per key, and
    a replay of the cache must give exactly what they played."""
    srv = fault_server(lambda body: fs.Reply("random", gather=2, delay=3.0))  # both requests in flight together
    path = tmp_path / "llm-cache.sqlite"
    runs = [CachedBackend(openai_backend(srv), path) for _ in range(2)]
    reqs = [request(day) for day in (30, 31, 32)]
    played: list[list[Any]] = [[], []]

    def play(k: int) -> None:
        for r in reqs:
            played[k].append(runs[k].answer([r])[0])

    threads = [threading.Thread(target=play, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(srv.requests) >= 4  # the race happened: both asked
    replay = CachedBackend(openai_backend(srv), path, mode="replay")
    for i, r in enumerate(reqs):
        a, b = played[0][i], played[1][i]
        assert a.status == b.status == OK
        assert a.probs == b.probs, "two runs of a study played different answers for one key"
        assert replay.answer([r])[0].probs == a.probs, "the cache does not replay what the runs played"
    assert sum(be.cache_stats.raced for be in runs) >= 1


@pytest.mark.parametrize("reply", [
    fs.raw(200, "<html><body><form>Please log in</form></body></html>", content_type="text/html"),
    fs.raw(200, {"error": {"message": "the model is loading"}}),
    fs.raw(200, {"id": "x", "object": "chat.completion", "created": 1, "model": fs.MODEL, "choices": []}),
    fs.raw(200, 'data: {"id":"x","choices":[{"delta":{"content":"{}"}}]}\n\ndata: [DONE]\n\n',
           content_type="text/event-stream"),
], ids=["html-login-page", "error-envelope", "empty-choices", "event-stream"])
def test_an_http_200_that_is_no_completion_is_a_transport_failure_asked_again(reply, fault_server, tmp_path):
    state = {"broken": True}
    srv = fault_server(lambda body: reply if state["broken"] else fs.ok())
    path = tmp_path / "c.sqlite"
    be = CachedBackend(openai_backend(srv, max_retries=1), path)
    ans = be.answer([request()])[0]
    assert ans.status == SERVER_ERROR and "not a completion" in ans.detail
    assert be.cache_stats.writes == 0 and be.cache_stats.unstored == 1  # never cached
    assert len(srv.requests) == 2  # retried like a 5xx
    state["broken"] = False  # the server recovers: the rerun asks again and gets the answer
    again = CachedBackend(openai_backend(srv), path)
    assert again.answer([request()])[0].status == OK
    assert len(srv.requests) == 3


def test_a_gzip_bomb_is_refused_before_it_inflates(fault_server):
    srv = fault_server(lambda body: fs.bomb(64 << 20))  # ~64 kB on the wire, 64 MB inflated
    be = openai_backend(srv, max_response_bytes=1 << 20)
    ans = be.ask(request())
    assert ans.status == SERVER_ERROR and "inflates past" in ans.detail
    ok_srv = fault_server(lambda body: fs.ok())  # a normal answer still passes the bounded transport
    assert openai_backend(ok_srv, max_response_bytes=1 << 20).ask(request()).status == OK


@pytest.mark.parametrize("timeout", [float("inf"), 1e9, float("nan"), 0.0])
def test_an_unbounded_timeout_is_refused(timeout, fault_server):
    srv = fault_server(lambda body: fs.ok())
    with pytest.raises(ValueError, match="timeout"):
        openai_backend(srv, timeout=timeout)


class RandomPerStock:
    """A per-stock backend whose ratings are random: two runs that rate the same stocks together (the
    barrier holds both until each has its own ratings) disagree unless the cache settles it."""

    per_stock = True
    fingerprint = {"backend": "random-per-stock"}
    stats = None

    def __init__(self, barrier: threading.Barrier, seed: int) -> None:
        self.barrier = barrier
        self.rng = np.random.default_rng(seed)

    def rate_items(self, pairs: Any) -> np.ndarray:
        p = self.rng.dirichlet(np.ones(5), size=len(pairs))
        self.barrier.wait(10)
        return np.hstack([p, np.ones((len(pairs), 1))])


def test_per_stock_ratings_computed_together_are_settled_by_the_first_stored(tmp_path):
    barrier = threading.Barrier(2)
    path = tmp_path / "c.sqlite"
    runs = [CachedBackend(RandomPerStock(barrier, seed), path) for seed in (1, 2)]
    out: list[Any] = [None, None]

    def play(k: int) -> None:
        out[k] = runs[k].answer([request()])[0]

    threads = [threading.Thread(target=play, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert out[0].probs == out[1].probs
    replay = CachedBackend(RandomPerStock(threading.Barrier(1), 3), path, mode="replay")
    assert replay.answer([request()])[0].probs == out[0].probs
