"""Fault injection on the LLM path: a misbehaving OpenAI-compatible server (``llm_fault_server``) on
127.0.0.1 and damaged cache files. Every case: a clear error, a counted and visible failure, or a
correct result; never a hang, a leaked key, a lost answer or a failure stored as an answer.
Deadlines are short (0.3-1 s) so the whole file stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from repo_paths import REPO

pytest.importorskip("openai")

import llm_fault_server as fs  # noqa: E402

from agents.llm import (  # noqa: E402
    CLIENT_ERROR,
    ERROR,
    MALFORMED,
    OK,
    SERVER_ERROR,
    TIMEOUT,
    CachedBackend,
    Item,
    Request,
    ResponseCache,
    cache_key,
    llm_followers,
)
from agents.llm.cache import CacheFileError, row_digest  # noqa: E402
from agents.llm.follower import llm_identity  # noqa: E402
from agents.llm.identity import answer_identity, normalise_base_url  # noqa: E402
from agents.llm.openai_backend import OpenAIBackend  # noqa: E402
from mass_env import GameConfig, MassStackelbergEnv, build_types  # noqa: E402
from mass_env.testing import follower_signals  # noqa: E402

SECRET = "sk-fault-test-0123456789abcdef"
REPO = REPO


@pytest.fixture
def server():
    made: list[fs.FaultServer] = []

    def make(behaviour=lambda body: fs.ok()) -> fs.FaultServer:
        made.append(fs.FaultServer(behaviour))
        return made[-1]

    yield make
    for s in made:
        s.close()


def backend(srv: fs.FaultServer, monkeypatch, **kw) -> OpenAIBackend:
    monkeypatch.setenv("MASS_FAULT_KEY", SECRET)
    opts = {"timeout": 1.0, "max_retries": 1, "backoff": 0.01, "backoff_max": 0.05, "concurrency": 4}
    opts.update(kw)
    return OpenAIBackend(fs.MODEL, srv.base_url, api_key_env="MASS_FAULT_KEY", **opts)


def request(i: int = 0, symbols=("S0001", "S0002", "S0003")) -> Request:
    items = tuple(Item(s, f"{s}: 5 days +1.0%") for s in symbols)
    return Request(agent=f"investor_0/{i}", type_id=0, agent_index=i, day=30, date="2023-01-12", seed=0,
                   segments=("Date 2023-01-12.\n", "You see prices.\n"), items=items, style="balanced",
                   modalities=1, feature_names=(), template="test")


# ---------------------------------------------------------------------------------- deadlines (item 4)
def test_trickling_server_hits_the_total_deadline(server, monkeypatch):
    srv = server(lambda body: fs.trickle(0.2))  # every read is quick, the whole answer takes ~80 s
    be = backend(srv, monkeypatch, timeout=0.8, max_retries=0)
    t0 = time.monotonic()
    ans = be.ask(request())
    assert ans.status == TIMEOUT and time.monotonic() - t0 < 3.0  # not ~80 s


def test_dead_server_opens_the_breaker_instead_of_waiting_every_deadline(server, monkeypatch):
    srv = server(lambda body: fs.dead())
    be = backend(srv, monkeypatch, timeout=0.4, max_retries=1, concurrency=2, breaker_after=2, breaker_cooldown=60)
    t0 = time.monotonic()
    answers = be.answer([request(i) for i in range(20)])
    took = time.monotonic() - t0
    assert all(a.status in (TIMEOUT, SERVER_ERROR) for a in answers)
    assert sum("not sent" in a.detail for a in answers) >= 16
    assert took < 3.0, took  # 20 requests x 2 attempts x 0.4 s would be 8 s at concurrency 2
    assert len(srv.requests) <= 4


def test_retry_after_is_honoured_with_jitter(server, monkeypatch):
    seen: dict[int, int] = {}

    def limited(body):
        seen[body["seed"]] = seen.get(body["seed"], 0) + 1
        return fs.status(429, retry_after=0.4) if seen[body["seed"]] == 1 else fs.ok()

    srv = server(limited)
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


def test_concurrency_asked_for_is_in_flight(server, monkeypatch, small_market):
    srv = server(lambda body: fs.gather(12, timeout=10.0))
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


def test_one_bad_answer_fails_only_itself(server, monkeypatch):
    def one_bad(body):
        if body["seed"] == first_seed:
            return fs.content('{"ratings": {"S0001": Infinity, "S0002": NaN, "S0003": 1e999}}')
        return fs.ok()

    for concurrency in (1, 4):
        srv = server(one_bad)
        be = backend(srv, monkeypatch, concurrency=concurrency)
        reqs = [request(i) for i in range(6)]
        first_seed = be.build_body(reqs[2])["seed"]
        answers = be.answer(reqs)
        assert [a.status for a in answers] == [OK, OK, MALFORMED, OK, OK, OK]


def test_wrong_model_and_garbage_are_counted_not_answers(server, monkeypatch):
    srv = server(lambda body: fs.wrong_model())
    ans = backend(srv, monkeypatch).ask(request())
    assert ans.status == CLIENT_ERROR and "some-other-model" in ans.detail and ans.probs is None
    srv.behaviour = lambda body: fs.garbage()
    ans = backend(srv, monkeypatch).ask(request())
    assert ans.status in (ERROR, SERVER_ERROR) and ans.probs is None


# ------------------------------------------------------------------------------- secrets (item 3)
def test_a_server_echoing_the_key_never_gets_it_stored_or_shown(server, monkeypatch, small_market, tmp_path):
    srv = server(lambda body: fs.echo_key())
    be = backend(srv, monkeypatch)
    env = MassStackelbergEnv(small_market[0], build_types(2, 2), GameConfig(horizon=5))
    db = tmp_path / "c.sqlite"
    f = llm_followers(env, be, seed=0, cache=db, n_candidates=4)
    follower_signals(env, f, start=25, end=26)
    fails = f.failures()
    assert len(fails) == 8 and set(fails["status"]) == {CLIENT_ERROR}
    assert "401" in fails["detail"][0] and "[redacted]" in fails["detail"][0]
    text = fails.to_csv() + json.dumps(f.report(), default=str) + repr(be) + db.read_bytes().decode("latin-1")
    assert SECRET not in text and SECRET[8:20] not in text
    assert srv.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"  # the key was sent, only sent


# ------------------------------------------------------------------------------- identity (item 2)
def test_identity_covers_server_revision_and_decoding(monkeypatch):
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


# ------------------------------------------------------------------------------ damaged cache (item 5)
def test_garbage_or_truncated_cache_file_is_refused_naming_it(tmp_path):
    bad = tmp_path / "garbage.sqlite"
    bad.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(CacheFileError, match="garbage.sqlite"):
        ResponseCache(bad)
    assert bad.read_bytes().startswith(b"this is not")  # left as it was
    good = tmp_path / "trunc.sqlite"
    c = ResponseCache(good)
    for i in range(300):
        c.put(f"k{i}", {"b": 1}, request(i), fs_answer())
    c._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheFileError, match="trunc.sqlite"):
        ResponseCache(good)
    with pytest.raises(CacheFileError, match="folder"):
        ResponseCache(tmp_path)


def fs_answer():
    from agents.llm import Answer
    from agents.llm.backend import one_hot

    return Answer(OK, tuple(one_hot(3) for _ in range(3)))


def test_edited_or_zeroed_answers_are_detected_and_asked_again(small_market, tmp_path):
    from agents.llm import ScriptedBackend

    env = MassStackelbergEnv(small_market[0], build_types(1, 3), GameConfig(horizon=5))
    db = tmp_path / "c.sqlite"
    sig1 = follower_signals(env, llm_followers(env, ScriptedBackend(), seed=0, cache=db, n_candidates=4),
                            start=25, end=25)
    with sqlite3.connect(db) as con:
        keys = [k for (k,) in con.execute("SELECT key FROM responses ORDER BY agent")]
        zero = json.dumps({"status": "ok", "probs": [[0.0] * 5] * 4, "mass": None, "attempts": 1, "detail": "",
                           "prompt_tokens": 0, "completion_tokens": 0}, separators=(",", ":"))
        # row 0: probabilities edited by hand (digest no longer matches); row 1: all-zero with a matching digest
        con.execute("UPDATE responses SET answer=replace(answer, '0.', '9.') WHERE key=?", (keys[0],))
        con.execute("UPDATE responses SET answer=?, digest=? WHERE key=?", (zero, row_digest(keys[1], "ok", zero),
                                                                           keys[1]))
    with pytest.raises(CacheFileError, match="c.sqlite"):
        follower_signals(env, llm_followers(env, CachedBackend(ScriptedBackend(), db, mode="replay"), seed=0,
                                            n_candidates=4), start=25, end=25)
    again = llm_followers(env, ScriptedBackend(), seed=0, cache=db, n_candidates=4)
    with pytest.warns(UserWarning, match="c.sqlite.*2 damaged"):
        sig2 = follower_signals(env, again, start=25, end=25)
    for a, b in zip(sig1, sig2):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])  # rebuilt, not read as rating 5
    rep = again.report()
    assert rep["cache"]["damaged"] == 2 and rep["cache"]["writes"] == 2 and rep["by_status"][OK] == 3


# ------------------------------------------------------------------ the CLI end to end (items 1, 3, 4)
def mass(argv: list[str], capsys) -> tuple[int, str, str]:
    from experiments.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_failed_answers_are_counted_exit_non_zero_and_asked_again_after_recovery(server, monkeypatch, capsys,
                                                                                tmp_path):
    srv = server(lambda body: fs.echo_key())
    monkeypatch.setenv("MASS_FAULT_KEY", SECRET)
    out = tmp_path / "out"
    argv = ["ablation", "--followers", "llm", "--llm-backend", "openai", "--llm-model", fs.MODEL,
            "--llm-base-url", srv.base_url, "--llm-api-key-env", "MASS_FAULT_KEY", "--llm-timeout", "10",
            "--llm-retries", "0", "--llm-concurrency", "8", "--llm-candidates", "3", "--configs", "A",
            "--seeds", "1", "--days", "45", "--agents", "1", "--baselines", "none", "--no-plot", "--out", str(out)]
    (tmp_path / "bad.sqlite").write_bytes(b"not sqlite" * 100)
    rc, so, se = mass(argv + ["--llm-cache", str(tmp_path / "bad.sqlite")], capsys)
    assert rc == 2 and "bad.sqlite is not a usable LLM response cache" in se and "Traceback" not in se
    rc, so, se = mass(argv, capsys)
    assert rc == 3, se
    assert "192 failed" in so and "client_error 192" in so and "error:" in se, so
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["follower_answers"]["failed"] == 192 == summary["follower_answers"]["unanswered"]
    assert summary["follower_answers"]["incomplete_runs"] == [["A", 0]]
    every = so + se + "".join(p.read_bytes().decode("latin-1") for p in out.rglob("*") if p.is_file())
    assert SECRET not in every
    assert ResponseCache(out / "llm-cache.sqlite").status_counts() == {}  # failures are not answers

    srv.behaviour = lambda body: fs.ok()  # the server recovers: the stored run is incomplete, asked again
    n = len(srv.requests)
    rc, so, se = mass(argv, capsys)
    assert rc == 0, se
    assert len(srv.requests) - n == 192 and "incomplete" in se and "0 failed" in so
    n = len(srv.requests)
    rc, so, se = mass(argv, capsys)  # complete now: reused, no calls
    assert rc == 0 and len(srv.requests) == n and "1 reused" in so


def test_ctrl_c_stops_at_once_and_keeps_the_answers(server, tmp_path):
    """SIGINT to ``mass ablation`` waiting on a dead server: it exits within seconds, without a
    traceback, and the cache holds every answer received before."""
    count = {"n": 0}

    def first_six(body):
        count["n"] += 1
        return fs.ok() if count["n"] <= 6 else fs.dead()

    srv = server(first_six)
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


def test_a_cache_from_before_digests_is_upgraded_and_its_failures_dropped(tmp_path):
    db = tmp_path / "old.sqlite"
    ok_text, bad_text = fs_answer().to_json(), json.dumps({"status": TIMEOUT, "probs": None, "detail": "slow"})
    with sqlite3.connect(db) as con:  # the table as it was before rows had digests
        con.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, backend TEXT NOT NULL, template TEXT NOT NULL, "
                    "agent TEXT NOT NULL, day INTEGER NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, "
                    "answer TEXT NOT NULL, request TEXT NOT NULL, created REAL NOT NULL)")
        con.executemany("INSERT INTO responses VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [("a", "{}", "t", "x/0", 1, 0, OK, ok_text, "{}", 0.0),
                         ("b", "{}", "t", "x/1", 1, 0, TIMEOUT, bad_text, "{}", 0.0)])
    c = ResponseCache(db)
    assert c.status_counts() == {OK: 1}  # a stored timeout was never an answer
    found, damaged = c.lookup(["a", "b"])
    assert list(found) == ["a"] and not damaged and found["a"].probs == fs_answer().probs


def test_retry_after_forms_backoff_bounds_and_scrubbing():
    import email.utils
    import random

    from agents.llm.aio import backoff_delay, retry_after_seconds
    from agents.llm.backend import scrub

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
