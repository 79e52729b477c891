"""The served log-prob rating (``OpenAIBackend(rating="logprobs")``, ``agents.llm.backends.served_rating``)
against the loopback fault server: what reaches ``/v1/completions``, how a distribution is read from
both log-probability forms servers send, that the per-stock cache shares a branch across agents, and
that a server without log-probabilities (or without a rating digit in its top tokens) is a counted
failure naming the fix, never a NaN table. The real llama.cpp server: ``tests/test_llm_llamacpp.py``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

pytest.importorskip("openai")

import llm_fault_server as fs  # noqa: E402

from agents.llm import CachedBackend  # noqa: E402
from agents.llm.backends.base import MALFORMED, OK, SERVER_ERROR, Item, Request  # noqa: E402  # noqa: E402
from agents.llm.backends.openai import OpenAIBackend  # noqa: E402
from agents.llm.backends.served_rating import NO_LOGPROBS, rating_distribution, top_logprobs_of  # noqa: E402
from agents.llm.cache.identity import answer_identity  # noqa: E402
from agents.llm.options import add_arguments, backend_options  # noqa: E402
from agents.llm.prompts.templates import PER_STOCK_PROBE, PER_STOCK_SYSTEM, PER_STOCK_TAIL  # noqa: E402

#: log-probabilities of the next token: most on "4", some on "3", a non-digit, "5" missing from the top
TOP = {"4": math.log(0.6), "3": math.log(0.2), "\n": math.log(0.1), "1": math.log(0.05), "2": math.log(0.05)}


def completion(logprobs: Any, model: str = fs.MODEL) -> dict:
    return {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": model,
            "choices": [{"index": 0, "text": "4", "finish_reason": "length", "logprobs": logprobs}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51}}


def legacy(top: dict[str, float]) -> dict:
    return {"tokens": ["4"], "token_logprobs": [top.get("4", -9.0)], "top_logprobs": [top], "text_offset": [0]}


@pytest.fixture
def server():
    made: list[fs.FaultServer] = []

    def make(reply: Any) -> fs.FaultServer:
        s = fs.FaultServer(lambda body: fs.raw(200, reply(body) if callable(reply) else reply))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def request(agent: str, symbols: tuple[str, ...], day: int = 30) -> Request:
    items = tuple(Item(s, f"{s}: 5 days +1.0% (high), 20 days -2.0% (low), volatility middle.") for s in symbols)
    return Request(agent=agent, type_id=0, agent_index=0, day=day, date="2023-01-12", seed=0,
                   segments=("Trading day 30. Average stock: today +0.1%.\n", "You see prices and volumes.\n"),
                   items=items, style="balanced", modalities=1, feature_names=(), template="test")


def make_backend(srv: fs.FaultServer, **kw: Any) -> OpenAIBackend:
    opts: dict[str, Any] = {"timeout": 2.0, "max_retries": 1, "backoff": 0.01, "backoff_max": 0.02,
                            "concurrency": 2, "rating": "logprobs"}
    opts.update(kw)
    return OpenAIBackend(fs.MODEL, srv.base_url, **opts)


def test_one_completion_per_stock_with_the_local_prompt_and_a_renormalised_distribution(server):
    srv = server(completion(legacy(TOP)))
    be = make_backend(srv)
    ans = be.ask(request("investor_0/0", ("S1", "S2")))
    assert ans.status == OK and len(ans.probs) == 2 and be.per_stock
    p = np.array(ans.probs[0])
    assert np.allclose(p, np.array([0.05, 0.05, 0.2, 0.6, 0.0]) / 0.9) and ans.mass[0] == pytest.approx(0.9)
    assert {r["path"] for r in srv.requests} == {"/v1/completions"} and len(srv.requests) == 2
    body = next(r["body"] for r in srv.requests if "S1:" in r["body"]["prompt"])
    assert body["max_tokens"] == 1 and body["temperature"] == 0.0 and body["logprobs"] == 20
    prompt = body["prompt"]
    assert prompt.startswith(f"<|im_start|>system\n{PER_STOCK_SYSTEM}<|im_end|>\n<|im_start|>user\nTrading day 30.")
    assert prompt.endswith(f"{PER_STOCK_TAIL}S1: 5 days +1.0% (high), 20 days -2.0% (low), volatility middle."
                           f"<|im_end|>\n<|im_start|>assistant\n{PER_STOCK_PROBE}")


def test_the_per_stock_cache_asks_each_branch_once_for_every_agent(server, tmp_path):
    srv = server(completion(legacy(TOP)))
    be = CachedBackend(make_backend(srv), tmp_path / "c.sqlite")
    a = be.answer([request("investor_0/0", ("S1", "S2")), request("investor_1/0", ("S2", "S3"))])
    assert [x.status for x in a] == [OK, OK] and len(srv.requests) == 3  # S2 once for both agents
    assert a[0].probs[1] == a[1].probs[0]
    again = be.answer([request("investor_7/2", ("S3", "S1"))])  # another agent (seed) later: all cached
    assert again[0].cached and len(srv.requests) == 3


def test_chat_form_logprobs_of_llama_server_are_read_too():
    chat = {"content": [{"token": "4", "logprob": -0.5, "top_logprobs": [
        {"token": t, "logprob": v} for t, v in TOP.items()]}]}
    assert top_logprobs_of(chat) == top_logprobs_of(legacy(TOP)) == TOP
    p, mass, why = rating_distribution({"a": -0.1, "b": -3.0})
    assert p is None and mass == 0.0 and "no rating digit" in why


@pytest.mark.parametrize("logprobs", [None, {"tokens": ["4"], "top_logprobs": None}])
def test_a_server_without_logprobs_is_a_counted_malformed_answer_naming_the_fix(server, tmp_path, logprobs):
    srv = server(completion(logprobs))
    be = CachedBackend(make_backend(srv), tmp_path / "c.sqlite")
    ans = be.answer([request("investor_0/0", ("S1", "S2"))])[0]
    assert ans.status == MALFORMED and ans.probs is None and NO_LOGPROBS in ans.detail
    assert len(srv.requests) == 2  # answered (not retried) and counted; the next run asks again


def test_one_failed_branch_fails_its_requests_only(tmp_path):
    srv = fs.FaultServer(lambda body: fs.raw(500, {"error": {"message": "boom"}}) if "S2:" in body["prompt"]
                         else fs.raw(200, completion(legacy(TOP))))
    try:
        be = CachedBackend(make_backend(srv), tmp_path / "c.sqlite")
        a = be.answer([request("investor_0/0", ("S1", "S2")), request("investor_1/0", ("S1", "S3"))])
        assert a[0].status == SERVER_ERROR and "boom" in a[0].detail and a[1].status == OK
        assert sum("S2:" in r["body"]["prompt"] for r in srv.requests) == 2  # retried once, then counted
    finally:
        srv.close()


def test_identity_names_the_rating_mode_and_the_cli_wires_it():
    import argparse

    lst = answer_identity("openai", {"model": "m", "base_url": "http://h:1/v1"})
    lp = answer_identity("openai", {"model": "m", "base_url": "http://h:1/v1", "rating": "logprobs"})
    assert lst["format"] == "list-json/1" and "rating" not in lst  # list-mode caches keep their keys
    assert lp["rating"] == "logprobs" and lp["chat_template"] == "chatml/1" and lp != lst
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--llm-backend", "openai", "--llm-model", "m", "--llm-rating", "logprobs"])
    assert backend_options(args)["rating"] == "logprobs"
    assert "rating" not in backend_options(parser.parse_args(["--llm-backend", "openai", "--llm-model", "m"]))
    with pytest.raises(ValueError, match="rating must be one of"):
        OpenAIBackend("m", "http://127.0.0.1:9/v1", rating="json")
