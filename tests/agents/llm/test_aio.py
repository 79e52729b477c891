"""Request plumbing of the network backends (``agents.llm.backends.aio``) under faults: a misbehaving
OpenAI-compatible server (``llm_fault_server``) on 127.0.0.1. A trickling or dead server meets the total
deadline and the circuit breaker, ``Retry-After`` is honoured, the concurrency asked for is in flight, and
Ctrl-C stops at once keeping every answer. Deadlines are short (0.3-1 s) so the whole file stays fast.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import llm_fault_server as fs
import pytest
from llm_fault_client import FAULT_KEY
from llm_fault_client import fault_backend as backend
from llm_fault_client import fault_request as request
from repo_paths import REPO

from agents.llm import ResponseCache, llm_followers
from agents.llm.backends.base import OK, SERVER_ERROR, TIMEOUT
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals

pytest.importorskip("openai")


SECRET = FAULT_KEY


# ---------------------------------------------------------------------------------- deadlines
def test_trickling_server_hits_the_total_deadline(fault_server, monkeypatch):
    srv = fault_server(lambda body: fs.trickle(0.2))  # every read is quick, the whole answer takes ~80 s
    be = backend(srv, monkeypatch, timeout=0.8, max_retries=0)
    t0 = time.monotonic()
    ans = be.ask(request())
    assert ans.status == TIMEOUT and time.monotonic() - t0 < 3.0  # not ~80 s


def test_dead_server_opens_the_breaker_instead_of_waiting_every_deadline(fault_server, monkeypatch):
    srv = fault_server(lambda body: fs.dead())
    be = backend(srv, monkeypatch, timeout=0.4, max_retries=1, concurrency=2, breaker_after=2, breaker_cooldown=60)
    t0 = time.monotonic()
    answers = be.answer([request(i) for i in range(20)])
    took = time.monotonic() - t0
    assert all(a.status in (TIMEOUT, SERVER_ERROR) for a in answers)
    assert sum("not sent" in a.detail for a in answers) >= 16
    assert took < 3.0, took  # 20 requests x 2 attempts x 0.4 s would be 8 s at concurrency 2
    assert len(srv.requests) <= 4


def test_retry_after_is_honoured_with_jitter(fault_server, monkeypatch):
    seen: dict[int, int] = {}

    def limited(body):
        seen[body["seed"]] = seen.get(body["seed"], 0) + 1
        return fs.status(429, retry_after=0.4) if seen[body["seed"]] == 1 else fs.ok()

    srv = fault_server(limited)
    be = backend(srv, monkeypatch, backoff=0.3, max_retries=2)
    answers = be.answer([request(i) for i in range(4)])
    assert [a.status for a in answers] == [OK] * 4 and all(a.attempts == 2 for a in answers)
    by_seed: dict[int, list[float]] = {}
    for r in srv.requests:
        by_seed.setdefault(r["body"]["seed"], []).append(r["t"])
    gaps = [t[1] - t[0] for t in by_seed.values()]
    assert min(gaps) >= 0.4  # waited as long as the server asked
    retries = sorted(t[1] for t in by_seed.values())
    assert retries[-1] - retries[0] > 0.01  # and not in lockstep

    srv.behaviour = lambda body: fs.status(429, retry_after=3600)
    t0 = time.monotonic()
    ans = be.ask(request(9))
    assert ans.status == SERVER_ERROR and "3600" in ans.detail and time.monotonic() - t0 < 3.0


def test_concurrency_asked_for_is_in_flight(fault_server, monkeypatch, small_market):
    srv = fault_server(lambda body: fs.gather(12, timeout=10.0))
    # a long deadline: on a loaded machine the 12 requests may take seconds to all arrive
    be = backend(srv, monkeypatch, concurrency=12, timeout=15.0)
    assert all(a.ok for a in be.answer([request(i) for i in range(24)]))
    assert srv.max_in_flight == 12
    # followers send a day's requests of all types together: 4 types x 3 agents reach 12 in flight
    srv.max_in_flight = 0
    srv.behaviour = lambda body: fs.gather(12, timeout=10.0)
    env = MassStackelbergEnv(small_market[0], build_types(4, 3), GameConfig(horizon=5))
    follower_signals(env, llm_followers(env, be, seed=0, n_candidates=4), start=25, end=25)
    assert srv.max_in_flight == 12


def test_ctrl_c_stops_at_once_and_keeps_the_answers(fault_server, tmp_path):
    """SIGINT to ``mass ablation`` waiting on a dead server: it exits within seconds, without a
    traceback, and the cache holds every answer received before."""
    count = {"n": 0}

    def first_six(body):
        count["n"] += 1
        return fs.ok() if count["n"] <= 6 else fs.dead()

    srv = fault_server(first_six)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "experiments.cli", "ablation", "--followers", "llm", "--llm-backend", "openai",
           "--llm-model", fs.MODEL, "--llm-base-url", srv.base_url, "--llm-timeout", "60", "--llm-concurrency", "4",
           "--llm-candidates", "3", "--configs", "A", "--seeds", "1", "--days", "45", "--agents", "1",
           "--baselines", "none", "--no-plot", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(srv.requests) < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(srv.requests) == 8  # the first day: 6 answered, 2 held by the dead server
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert took < 4.0, took
    assert ResponseCache(out / "llm-cache.sqlite").status_counts() == {OK: 6}


def test_retry_after_forms_backoff_bounds_and_scrubbing():
    import email.utils
    import random

    from agents.llm.backends.aio import backoff_delay, retry_after_seconds
    from agents.llm.backends.base import scrub

    assert retry_after_seconds({"Retry-After": "2.5"}) == 2.5
    assert retry_after_seconds({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    now = 1_700_000_000.0  # a fixed clock: an HTTP date 10 s ahead of it is a 10 s wait
    assert retry_after_seconds({"Retry-After": email.utils.formatdate(now + 10, usegmt=True)}, now=now) == 10.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None and retry_after_seconds(None) is None
    rng = random.Random(0)
    delays = [backoff_delay(3, 0.5, 1.5, rng) for _ in range(200)]
    assert 0.75 <= min(delays) < max(delays) <= 1.5  # capped, half fixed, half jitter
    assert all(4.0 <= backoff_delay(1, 0.5, 8.0, rng, retry_after=4.0) <= 4.5 for _ in range(50))
    key = "sk-live-ABCDEFGH12345678"
    for leak in (f"bad key {key}", "key ends in EFGH12345678", "Authorization: Bearer abc.def-ghi",
                 '{"api_key": "hunter2hunter2"}'):
        clean = scrub(leak, [key])
        assert "[redacted]" in clean and "12345678" not in clean and "hunter2" not in clean and "abc.def" not in clean
    assert scrub("HTTP 500: CUDA out of memory", [key]) == "HTTP 500: CUDA out of memory"

