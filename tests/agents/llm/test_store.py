"""The SQLite response cache (``agents.llm.cache.store``): exact replay with zero backend calls, durability
mid-run, modes, damaged files and rows (a clear error naming the file, or the answer asked again), caches
from before row digests, and one cache shared by two processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from llm_fault_client import fault_request as request
from repo_paths import REPO

from agents.llm import Answer, BaseBackend, CachedBackend, ResponseCache, llm_followers
from agents.llm.backends.base import MALFORMED, OK, TIMEOUT, ScriptedBackend
from agents.llm.cache.branches import CacheMissError
from agents.llm.cache.store import CacheFileError, cache_key, iter_rows, row_digest
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
        from agents.llm import BaseBackend, llm_followers
        from agents.llm.backends.base import ScriptedBackend
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


# ------------------------------------------------------------------------------ damaged cache
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
    from agents.llm.backends.base import one_hot

    return Answer(OK, tuple(one_hot(3) for _ in range(3)))


def test_edited_or_zeroed_answers_are_detected_and_asked_again(small_market, tmp_path):
    from agents.llm.backends.base import ScriptedBackend

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


ROOT = REPO


WRITER = textwrap.dedent("""
    import sys
    from agents.llm import llm_followers
    from agents.llm.backends.base import ScriptedBackend
    from agents.llm.cache.branches import Branch, branch_key
    from agents.llm.cache.store import ResponseCache
    from experiments.sweep.markets import load_market
    from mass_env import GameConfig, MassStackelbergEnv, build_types
    from mass_env.testing import follower_signals
    db, seed = sys.argv[1], int(sys.argv[2])
    env = MassStackelbergEnv(load_market(None, 0, 60), build_types(4, 2), GameConfig(horizon=5))
    cache = ResponseCache(db, busy_timeout_s=60)
    for k in range(20):  # per-stock rows too, one transaction each, interleaved with the other process
        b = Branch(("d",), f"{seed}/{k}", k, "2022-12-01", seed, 0, f"S{k}", "t", 0.0)
        cache.put_branches({"m": 1}, [(branch_key({"m": 1}, b), b, "ok", (0.2,) * 5, 1.0, "")])
    follower_signals(env, llm_followers(env, ScriptedBackend(), seed=seed, cache=cache, n_candidates=5),
                     start=30, end=33, seed=seed)
""")


def test_two_processes_share_one_cache(tmp_path):
    db = tmp_path / "shared.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(s)], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True) for s in (1, 2)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    import sqlite3

    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM branches").fetchone()[0] == 40
        assert con.execute("SELECT COUNT(DISTINCT seed), COUNT(*) FROM responses").fetchone() == (2, 2 * 8 * 4)

