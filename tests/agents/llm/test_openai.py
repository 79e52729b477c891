"""The OpenAI-compatible backend (``agents.llm.backends.openai``) against a real HTTP server on loopback
(started by the test).

The server is stdlib ``http.server`` on 127.0.0.1 with an OS-chosen port, serving
``/v1/chat/completions`` like vLLM / llama.cpp would; it is scripted to answer validly, malformed,
refused, with server errors or slowly (``LoopbackServer``), or with the faults of ``llm_fault_server``:
one bad answer among many, a wrong model, garbage, an echoed API key. No network access beyond loopback.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import llm_fault_server as fs
import numpy as np
import pytest
from llm_fault_client import FAULT_KEY, fault_backend, fault_request

from agents.llm import CachedBackend, Request, llm_followers
from agents.llm.backends.base import CLIENT_ERROR, ERROR, MALFORMED, OK, REFUSED, SERVER_ERROR, TIMEOUT, Item
from agents.llm.backends.openai import OpenAIBackend
from mass_env import PRINCIPAL, GameConfig, MassStackelbergEnv, build_types
from mass_env.rollout import follower_actions
from mass_env.testing import follower_signals

pytest.importorskip("openai")


SECRET = "sk-test-do-not-log-0123456789"


Behaviour = Callable[[dict], tuple[int, Any, float]]


def rating_for(symbol: str) -> int:
    return 1 + hashlib.sha256(symbol.encode()).digest()[0] % 5


def completion(content: str | None, refusal: str | None = None, finish: str = "stop") -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal},
                         "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}


def symbols_of(body: dict) -> list[str]:
    return list(body["response_format"]["json_schema"]["schema"]["properties"]["ratings"]["required"])


def valid(body: dict) -> tuple[int, Any, float]:
    ratings = {s: rating_for(s) for s in symbols_of(body)}
    return 200, completion(json.dumps({"ratings": ratings})), 0.0


class LoopbackServer(fs.FaultServer):
    """The fault server (``tests/llm_fault_server.py``) answering ``behaviour(body) -> (code, payload, delay)``
    verbatim on ``/v1/chat/completions`` (404 elsewhere); ``headers`` are each request's headers, lower-cased."""

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(behaviour)  # type: ignore[arg-type]  # wrapped by the setter below

    @property  # type: ignore[override]
    def behaviour(self) -> Callable[[dict], fs.Reply]:
        return self._reply

    @behaviour.setter
    def behaviour(self, script: Behaviour) -> None:  # tests swap the script mid-run
        self._reply = lambda body: fs.raw(*script(body))

    @property
    def headers(self) -> list[dict]:
        return [r["headers"] for r in self.requests]


@pytest.fixture
def server_factory():
    servers: list[LoopbackServer] = []

    def make(behaviour: Behaviour) -> LoopbackServer:
        s = LoopbackServer(behaviour)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def make_request(symbols=("S0001", "S0002", "S0003"), agent="investor_0/0", day=30, seed=0) -> Request:
    items = tuple(Item(s, f"{s}: 5 days +1.0% (high), 20 days -2.0% (low), volatility middle.") for s in symbols)
    return Request(agent=agent, type_id=0, agent_index=0, day=day, date="2023-01-12", seed=seed,
                   segments=("Date 2023-01-12. Average stock: today +0.1%.\n", "You see prices and volumes.\n"),
                   items=items, style="balanced", modalities=1, feature_names=(), template="test")


def backend(server: LoopbackServer, monkeypatch, **kw: Any) -> OpenAIBackend:
    monkeypatch.setenv("MASS_TEST_KEY", SECRET)
    opts = {"timeout": 2.0, "max_retries": 2, "backoff": 0.01, "backoff_max": 0.05, "concurrency": 1}
    opts.update(kw)
    return OpenAIBackend("test-model", server.base_url, api_key_env="MASS_TEST_KEY", **opts)


def test_valid_answer_uses_schema_key_and_seed(server_factory, monkeypatch):
    srv = server_factory(valid)
    be = backend(srv, monkeypatch)
    req = make_request()
    ans = be.ask(req)
    assert ans.status == OK and ans.attempts == 1
    assert [int(np.argmax(p)) + 1 for p in ans.probs] == [rating_for(s) for s in req.symbols]
    assert ans.prompt_tokens == 11 and ans.completion_tokens == 7
    body = srv.requests[0]["body"]
    assert srv.requests[0]["path"] == "/v1/chat/completions"
    assert body["model"] == "test-model" and body["temperature"] == 0.0
    assert body["response_format"]["type"] == "json_schema"
    assert symbols_of(body) == list(req.symbols)
    assert isinstance(body["seed"], int)
    assert srv.headers[0].get("authorization") == f"Bearer {SECRET}"
    assert SECRET not in repr(be) and SECRET not in json.dumps(be.fingerprint)
    user = body["messages"][1]["content"]
    assert all(s in user for s in req.symbols) and "Candidates:" in user


def test_malformed_and_refused_answers_are_counted_not_retried(server_factory, monkeypatch):
    script = iter([
        (200, completion("I think S0001 is great"), 0.0),                          # not JSON
        (200, completion(json.dumps({"ratings": {"S0001": 4, "S0002": 9, "S0003": 1}})), 0.0),  # off scale
        (200, completion(json.dumps({"ratings": {"S0001": 4}})), 0.0),             # candidates missing
        (200, completion(None, refusal="I can't rate stocks."), 0.0),               # refusal
    ])
    srv = server_factory(lambda body: next(script))
    be = backend(srv, monkeypatch)
    statuses = [be.ask(make_request()) for _ in range(4)]
    assert [a.status for a in statuses] == [MALFORMED, MALFORMED, MALFORMED, REFUSED]
    assert all(a.attempts == 1 and a.probs is None for a in statuses)
    assert len(srv.requests) == 4


def test_server_errors_are_retried_with_backoff_then_succeed(server_factory, monkeypatch):
    calls = {"n": 0}

    def flaky(body: dict) -> tuple[int, Any, float]:
        calls["n"] += 1
        if calls["n"] <= 2:
            return 500, {"error": {"message": "CUDA out of memory"}}, 0.0
        return valid(body)

    srv = server_factory(flaky)
    be = backend(srv, monkeypatch, max_retries=3)
    ans = be.ask(make_request())
    assert ans.status == OK and ans.attempts == 3 and len(srv.requests) == 3


def test_persistent_server_error_gives_up_after_bounded_retries(server_factory, monkeypatch):
    srv = server_factory(lambda body: (500, {"error": {"message": "boom"}}, 0.0))
    be = backend(srv, monkeypatch, max_retries=2)
    ans = be.ask(make_request())
    assert ans.status == SERVER_ERROR and ans.attempts == 3 and len(srv.requests) == 3
    assert "500" in ans.detail and SECRET not in ans.detail


def test_client_error_is_not_retried(server_factory, monkeypatch):
    srv = server_factory(lambda body: (404, {"error": {"message": "model 'test-model' not found"}}, 0.0))
    be = backend(srv, monkeypatch, max_retries=3)
    ans = be.ask(make_request())
    assert ans.status == CLIENT_ERROR and ans.attempts == 1 and len(srv.requests) == 1


def test_timeout_trips_the_client_and_is_retried_a_bounded_number_of_times(server_factory, monkeypatch):
    srv = server_factory(lambda body: (*valid(body)[:2], 1.5))  # answers after 1.5 s
    be = backend(srv, monkeypatch, timeout=0.3, max_retries=1)
    t0 = time.perf_counter()
    ans = be.ask(make_request())
    took = time.perf_counter() - t0
    assert ans.status == TIMEOUT and ans.attempts == 2
    assert len(srv.requests) == 2
    assert took < 1.4  # gave up on the client side, did not wait for the server


def test_episode_through_http_counts_failures_and_replays_from_cache(server_factory, monkeypatch, small_market,
                                                                    tmp_path):
    """A short episode against the loopback server (concurrent requests): failures become NaN rows
    and are counted per agent and day; a replay from the cache makes zero HTTP calls and is exact."""

    def mixed(body: dict) -> tuple[int, Any, float]:
        seed = body["seed"]
        if seed % 7 == 0:
            return 200, completion("not json at all"), 0.0
        if seed % 11 == 0:
            return 503, {"error": {"message": "overloaded"}}, 0.0
        return valid(body)

    srv = server_factory(mixed)
    be = backend(srv, monkeypatch, concurrency=4, max_retries=1)
    env = MassStackelbergEnv(small_market[0], build_types(4, 3), GameConfig(horizon=5))
    db = tmp_path / "http-cache.sqlite"

    def play(followers) -> list[dict[str, np.ndarray]]:
        obs, infos = env.reset(seed=0, options={"start": 25, "end": 29})
        for p in followers.values():
            p.reset(5)
        out = []
        while env.agents:
            acts = follower_actions(followers, obs, infos, env.agents)
            out.append(acts)
            acts = dict(acts)
            acts[PRINCIPAL] = np.r_[np.ones(4), 0.5, 0.0]
            obs, _, _, _, infos = env.step(acts)
        return out

    first = llm_followers(env, be, seed=5, cache=db, n_candidates=6)
    sig1 = play(first)
    rep = first.report()
    fails = first.failures()
    assert rep["agent_days"] == 5 * 4 * 3
    assert rep["by_status"][MALFORMED] > 0 and rep["by_status"][SERVER_ERROR] > 0
    assert rep["failed_agent_days"] == len(fails) == rep["agent_days"] - rep["by_status"][OK]
    assert set(fails.columns) >= {"day", "agent", "status", "attempts"}
    for _, row in fails.iterrows():  # a failed agent-day is missing, not zero
        assert np.isnan(sig1[row["day"] - 25][f"investor_{row['type_id']}"][row["agent_index"]]).all()
    ok_rows = [a[row] for acts in sig1 for a in acts.values() for row in range(a.shape[0])
               if np.isfinite(a[row]).any()]
    assert all(np.isfinite(r).sum() == 6 for r in ok_rows)
    http_calls = len(srv.requests)
    assert http_calls == be.http_calls
    assert rep["unanswered"] == rep["by_status"][SERVER_ERROR]

    # the server recovers: a rerun asks again exactly for the unanswered agent-days (a 503 is no answer and
    # was not cached); the malformed answers were the model's and replay as they were
    srv.behaviour = lambda body: valid(body) if body["seed"] % 7 else mixed(body)
    second = llm_followers(env, be, seed=5, cache=db, n_candidates=6)
    sig2 = play(second)
    assert len(srv.requests) - http_calls == rep["by_status"][SERVER_ERROR]
    rep2 = second.report()
    assert rep2["by_status"][SERVER_ERROR] == 0 and rep2["by_status"][MALFORMED] == rep["by_status"][MALFORMED]
    http_calls = len(srv.requests)

    class NoCalls:
        fingerprint = be.fingerprint
        served = True  # the same backend's stand-in: prompts anonymized by default, like the first run

        def answer(self, requests, on_answer=None):
            raise AssertionError(f"the replay asked the backend for {len(requests)} answers")

    replay = llm_followers(env, CachedBackend(NoCalls(), db, mode="replay"), seed=5, n_candidates=6)
    sig3 = play(replay)
    assert len(srv.requests) == http_calls
    for a, b in zip(sig2, sig3):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    for a, b in zip(sig1, sig2):  # what was answered the first time did not change
        for k in a:
            ok1 = np.isfinite(a[k]).any(axis=1)
            np.testing.assert_array_equal(a[k][ok1], b[k][ok1])
    assert replay.report()["by_status"] == rep2["by_status"]
    with sqlite3.connect(db) as con:
        dump = "\n".join(str(r) for r in con.execute("SELECT * FROM responses"))
    assert SECRET not in dump and "test-model" in dump


# ------------------------------------------------------------------ faults of a misbehaving server
FAULT_SECRET = FAULT_KEY


def test_one_bad_answer_fails_only_itself(fault_server, monkeypatch):
    def one_bad(body):
        if body["seed"] == first_seed:
            return fs.content('{"ratings": {"S0001": Infinity, "S0002": NaN, "S0003": 1e999}}')
        return fs.ok()

    for concurrency in (1, 4):
        srv = fault_server(one_bad)
        be = fault_backend(srv, monkeypatch, concurrency=concurrency)
        reqs = [fault_request(i) for i in range(6)]
        first_seed = be.build_body(reqs[2])["seed"]
        answers = be.answer(reqs)
        assert [a.status for a in answers] == [OK, OK, MALFORMED, OK, OK, OK]


def test_wrong_model_and_garbage_are_counted_not_answers(fault_server, monkeypatch):
    srv = fault_server(lambda body: fs.wrong_model())
    ans = fault_backend(srv, monkeypatch).ask(fault_request())
    assert ans.status == CLIENT_ERROR and "some-other-model" in ans.detail and ans.probs is None
    srv.behaviour = lambda body: fs.garbage()
    ans = fault_backend(srv, monkeypatch).ask(fault_request())
    assert ans.status in (ERROR, SERVER_ERROR) and ans.probs is None


# ------------------------------------------------------------------------------- secrets
def test_a_server_echoing_the_key_never_gets_it_stored_or_shown(fault_server, monkeypatch, small_market, tmp_path):
    srv = fault_server(lambda body: fs.echo_key())
    be = fault_backend(srv, monkeypatch)
    env = MassStackelbergEnv(small_market[0], build_types(2, 2), GameConfig(horizon=5))
    db = tmp_path / "c.sqlite"
    f = llm_followers(env, be, seed=0, cache=db, n_candidates=4)
    follower_signals(env, f, start=25, end=26)
    fails = f.failures()
    assert len(fails) == 8 and set(fails["status"]) == {CLIENT_ERROR}
    assert "401" in fails["detail"][0] and "[redacted]" in fails["detail"][0]
    text = fails.to_csv() + json.dumps(f.report(), default=str) + repr(be) + db.read_bytes().decode("latin-1")
    assert FAULT_SECRET not in text and FAULT_SECRET[8:20] not in text
    assert srv.requests[0]["headers"]["authorization"] == f"Bearer {FAULT_SECRET}"  # the key was sent, only sent
