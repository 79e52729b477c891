"""The SQLite response cache: exact replay with zero backend calls, durability mid-run, modes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from agents.llm import (
    MALFORMED,
    OK,
    TIMEOUT,
    Answer,
    BaseBackend,
    CachedBackend,
    CacheMissError,
    ResponseCache,
    ScriptedBackend,
    cache_key,
    llm_followers,
)
from agents.llm.cache import iter_rows
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals


def play(env, followers, start=25, end=29, seed=0):
    return follower_signals(env, followers, start=start, end=end, seed=seed)


class Counting(BaseBackend):
    def __init__(self, inner=None, fail_agents=(), fail_status=MALFORMED):
        super().__init__()
        self.inner = inner or ScriptedBackend()
        self.fail_agents = set(fail_agents)
        self.fail_status = fail_status
        self.asked = 0

    @property
    def fingerprint(self):
        return self.inner.fingerprint

    def _answer(self, requests, emit):
        self.asked += len(requests)
        good = self.inner.answer(requests)
        for i, r in enumerate(requests):
            emit(i, Answer.failure(self.fail_status, "bad") if r.agent in self.fail_agents else good[i])


class Raising:
    """Same identity as the real backend; any call is a test failure."""

    def __init__(self, fingerprint):
        self.fingerprint = fingerprint

    def answer(self, requests, on_answer=None):
        raise AssertionError(f"backend called for {len(requests)} requests during a replay")


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_wal_mode_and_roundtrip(tmp_path):
    c = ResponseCache(tmp_path / "c.sqlite")
    assert c.journal_mode.lower() == "wal"
    assert len(c) == 0
    c.close()


def test_replay_is_exact_with_zero_calls(small_market, tmp_path):
    env = MassStackelbergEnv(small_market[0], build_types(8, 2), GameConfig(horizon=5))
    db = tmp_path / "cache.sqlite"
    inner = Counting(fail_agents={"investor_3/1"})
    first = llm_followers(env, inner, seed=7, cache=db, n_candidates=5)
    sig1 = play(env, first, seed=7)
    assert inner.asked == 5 * 16
    replay = llm_followers(env, Raising(inner.fingerprint), seed=7, cache=db, cache_mode="replay", n_candidates=5)
    sig2 = play(env, replay, seed=7)
    same(sig1, sig2)
    rep = replay.report()
    assert rep["cache"]["hits"] == 5 * 16 and rep["cache"]["misses"] == 0
    assert rep["cached_answers"] == 5 * 16
    assert rep["by_status"][MALFORMED] == 5 == first.report()["by_status"][MALFORMED]  # bad answers replay too
    # readwrite mode hits as well; a different seed is a different key
    again = Counting()
    sig3 = play(env, llm_followers(env, again, seed=7, cache=db, n_candidates=5), seed=7)
    assert again.asked == 0
    same(sig1, sig3)
    with pytest.raises(CacheMissError):
        play(env, llm_followers(env, Raising(inner.fingerprint), seed=8, cache=db, cache_mode="replay",
                                n_candidates=5), seed=8)


def test_retry_failed_asks_again_only_for_failures(small_market, tmp_path):
    env = MassStackelbergEnv(small_market[0], build_types(2, 2), GameConfig(horizon=5))
    db = tmp_path / "cache.sqlite"
    play(env, llm_followers(env, Counting(fail_agents={"investor_1/0"}), seed=1, cache=db), seed=1)
    again = Counting()
    play(env, llm_followers(env, again, seed=1, cache=db), seed=1)
    assert again.asked == 0  # malformed answers are the model's: replayed without retry_failed
    second = Counting()
    f = llm_followers(env, second, seed=1, cache=db, retry_failed=True)
    play(env, f, seed=1)
    assert second.asked == 5  # only the 5 failed agent-days
    assert f.report()["by_status"][MALFORMED] == 0
    assert ResponseCache(db).status_counts() == {OK: 5 * 4}


def test_unanswered_requests_are_never_stored_and_asked_again(small_market, tmp_path):
    """A timeout is no answer: not cached, so once the server is back the next run asks again."""
    env = MassStackelbergEnv(small_market[0], build_types(2, 2), GameConfig(horizon=5))
    db = tmp_path / "cache.sqlite"
    first = llm_followers(env, Counting(fail_agents={"investor_1/0"}, fail_status=TIMEOUT), seed=1, cache=db)
    play(env, first, seed=1)
    rep = first.report()
    assert rep["unanswered"] == 5 and rep["cache"]["unstored"] == 5 and rep["cache"]["writes"] == 15
    assert ResponseCache(db).status_counts() == {OK: 15}
    second = Counting()
    play(env, llm_followers(env, second, seed=1, cache=db), seed=1)
    assert second.asked == 5


def test_key_depends_on_model_template_seed_agent_day_and_content(small_market):
    env = MassStackelbergEnv(small_market[0], build_types(2, 2), GameConfig(horizon=5))
    f = llm_followers(env, ScriptedBackend(), seed=0, n_candidates=5)
    obs, infos = env.reset(seed=0, options={"start": 25, "end": 26})
    reqs, _, _ = f["investor_1"].requests(obs["investor_1"], infos["investor_1"])
    r = reqs[0]
    fp = {"backend": "x", "model": "m", "weights_sha256": "abc"}
    base = cache_key(fp, r)
    from dataclasses import replace

    variants = [cache_key({**fp, "weights_sha256": "abd"}, r), cache_key({**fp, "temperature": 0.7}, r),
                cache_key(fp, replace(r, template="other")), cache_key(fp, replace(r, seed=1)),
                cache_key(fp, replace(r, agent="investor_1/1")), cache_key(fp, replace(r, day=r.day + 1)),
                cache_key(fp, replace(r, segments=("changed",) + r.segments[1:]))]
    assert len(set(variants + [base])) == len(variants) + 1
    assert cache_key(dict(reversed(list(fp.items()))), r) == base


class Crash(BaseException):
    """Not an Exception: gets past the backend's error handling, like a KeyboardInterrupt."""


class DiesHalfway(BaseBackend):
    fingerprint = {"backend": "dies"}

    def __init__(self):
        super().__init__()
        self.inner = ScriptedBackend()

    def _answer(self, requests, emit):
        good = self.inner.answer(requests)
        for i in range(len(requests) // 2):
            emit(i, good[i])
        raise Crash()


def test_crash_mid_batch_keeps_everything_already_answered(small_market, tmp_path):
    env = MassStackelbergEnv(small_market[0], build_types(1, 6), GameConfig(horizon=5))
    db = tmp_path / "cache.sqlite"
    f = llm_followers(env, DiesHalfway(), seed=0, cache=db)
    obs, infos = env.reset(seed=0, options={"start": 25, "end": 26})
    with pytest.raises(Crash):
        f["investor_0"].act(obs["investor_0"], infos["investor_0"])
    rows = list(iter_rows(db))
    assert len(rows) == 3 and {r["agent"] for r in rows} == {"investor_0/0", "investor_0/1", "investor_0/2"}
    # a restarted run (same backend identity) asks only for what is missing
    again = Counting()
    g = llm_followers(env, CachedBackend(_with_fp(again, DiesHalfway.fingerprint), db), seed=0)
    g["investor_0"].act(obs["investor_0"], infos["investor_0"])
    assert again.asked == 3


def _with_fp(backend, fp):
    class Wrapped:
        fingerprint = fp

        def answer(self, requests, on_answer=None):
            return backend.answer(requests, on_answer)

    return Wrapped()


def test_killed_process_loses_nothing_committed(tmp_path, small_market):
    """A run killed with os._exit in the middle of a day keeps every answer given before it."""
    db = tmp_path / "cache.sqlite"
    code = textwrap.dedent(f"""
        import os
        from agents.llm import BaseBackend, ScriptedBackend, llm_followers
        from mass_env import GameConfig, MassStackelbergEnv, SyntheticConfig, build_types, synthetic_market

        class Dies(BaseBackend):
            fingerprint = {{"backend": "dies"}}
            def _answer(self, requests, emit):
                good = ScriptedBackend().answer(requests)
                for i in range(4):
                    emit(i, good[i])
                os._exit(9)

        panel = synthetic_market(SyntheticConfig(n_days=90, n_symbols=30, n_industries=5), seed=3)[0]
        env = MassStackelbergEnv(panel, build_types(1, 8), GameConfig(horizon=5))
        f = llm_followers(env, Dies(), seed=0, cache={str(db)!r})
        obs, infos = env.reset(seed=0, options={{"start": 25, "end": 26}})
        f["investor_0"].act(obs["investor_0"], infos["investor_0"])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert len(list(iter_rows(db))) == 4


def test_read_and_write_modes(small_market, tmp_path):
    env = MassStackelbergEnv(small_market[0], build_types(1, 2), GameConfig(horizon=5))
    db = tmp_path / "cache.sqlite"
    b1 = Counting()
    play(env, llm_followers(env, b1, seed=0, cache=db, cache_mode="read"), seed=0)
    assert b1.asked == 10 and len(ResponseCache(db)) == 0
    play(env, llm_followers(env, Counting(), seed=0, cache=db), seed=0)
    b3 = Counting()
    play(env, llm_followers(env, b3, seed=0, cache=db, cache_mode="write"), seed=0)
    assert b3.asked == 10 and len(ResponseCache(db)) == 10
    with pytest.raises(ValueError):
        CachedBackend(b3, db, mode="sometimes")
