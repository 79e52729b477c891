"""The rating-table path (``agents.llm.cache.tables``) gives exactly what the request path gives.

A cached per-stock backend serves a type's day from its table (or recalls it from an earlier run with
the same seed) instead of building and answering requests. Pinned here against the request path on
the same cache: signals (bit for bit), log rows, cache counters, zero model calls; and against the
live run that filled the cache. Small market, a few days: fast.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import agents.llm.type_policy as type_policy
from agents.llm import CachedBackend, llm_followers
from agents.llm.backends.base import MALFORMED
from agents.llm.cache.branches import CacheMissError
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals


class HashRater:
    """A per-stock 'model' whose rating distribution is a fixed function of the prompt (varied, exact)."""

    per_stock = True
    fingerprint = {"backend": "hash-rater", "model": "test"}

    def __init__(self, bad: str | None = None) -> None:
        self.calls = 0
        self.bad = bad  # a symbol whose distribution does not sum to 1 (a buggy model's row)

    def rate_items(self, pairs):
        self.calls += 1
        out = []
        for segments, text in pairs:
            h = hashlib.sha256(("|".join(segments) + text).encode()).digest()
            w = np.frombuffer(h[:5], dtype=np.uint8).astype(np.float64) + 1.0
            p = w / w.sum()
            if self.bad and text.startswith(self.bad):
                p = p * 0.5
            out.append([*p, h[5] / 255.0])
        return np.array(out)


class NoModel:
    per_stock = True
    fingerprint = HashRater.fingerprint

    def rate_items(self, pairs):
        raise AssertionError("the replay called the model")


def _env(panel):
    return MassStackelbergEnv(panel, build_types(4, 3), GameConfig(horizon=5))


def _play(env, followers, seed, start=25, end=28):
    sig = follower_signals(env, followers, start=start, end=end, seed=seed)
    return sig, followers.log_frame(), followers.backend.cache_stats.as_dict()


def _request_path(monkeypatch):
    monkeypatch.setattr(type_policy, "recall", lambda policy, day: None)
    monkeypatch.setattr(type_policy, "from_table", lambda policy, brief, cands, rngs: None)


def _same(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


OPTIONS = [dict(n_candidates=6, decode="expected"), dict(n_candidates=6, decode="sample", personas=2, risk=0.7),
           dict(n_candidates=6, output="select", n_select=2, decode="sample", draw="replacement"),
           dict(n_candidates=40)]


@pytest.mark.parametrize("opts", OPTIONS, ids=["expected", "sample-personas-risk", "select-replacement", "all"])
def test_table_and_recall_equal_the_request_path_and_the_live_run(small_market, tmp_path, monkeypatch, opts):
    env, db = _env(small_market[0]), tmp_path / "c.sqlite"
    model = HashRater()
    live = _play(env, llm_followers(env, CachedBackend(model, db), seed=4, **opts), seed=4)
    _play(env, llm_followers(env, CachedBackend(model, db), seed=5, **opts), seed=5, end=26)
    assert model.calls > 0 and (live[1]["status"] == "ok").all()

    replay = CachedBackend(NoModel(), db, mode="replay")  # one backend shared by runs, as a sweep process
    table = _play(env, llm_followers(env, replay, seed=4, **opts), seed=4)
    before = replay.cache_stats.as_dict()
    recalled = _play(env, llm_followers(env, replay, seed=4, **opts), seed=4)
    assert any(m.days for m in replay._tables.markets.values())  # both paths ran
    with monkeypatch.context() as mp:
        _request_path(mp)
        reference = _play(env, llm_followers(env, CachedBackend(NoModel(), db, mode="replay"), seed=4,
                                             **opts), seed=4)
    for got in (table, recalled):
        _same(got[0], reference[0])
        _same(got[0], live[0])
        pd.testing.assert_frame_equal(got[1], reference[1], check_exact=True)
    assert table[2] == reference[2]
    assert {k: recalled[2][k] - before[k] for k in before} == reference[2]
    assert (reference[1]["status"] == "ok").all() and reference[2]["hits"] == len(reference[1])

    other = _play(env, llm_followers(env, replay, seed=5, **opts), seed=5, end=26)[0]
    with monkeypatch.context() as mp:  # another seed: other draws, not a recall of seed 4's day
        _request_path(mp)
        _same(other, _play(env, llm_followers(env, CachedBackend(NoModel(), db, mode="replay"), seed=5,
                                               **opts), seed=5, end=26)[0])


def test_what_the_table_cannot_serve_goes_the_request_path(small_market, tmp_path, monkeypatch):
    env, db = _env(small_market[0]), tmp_path / "c.sqlite"
    bad = small_market[0].symbols[3]
    shared = CachedBackend(HashRater(bad=bad), db)  # a model row that is not a distribution: malformed
    first = _play(env, llm_followers(env, shared, seed=1, n_candidates=10), seed=1)
    again = _play(env, llm_followers(env, shared, seed=1, n_candidates=10), seed=1)
    with monkeypatch.context() as mp:
        _request_path(mp)
        reference = _play(env, llm_followers(env, CachedBackend(HashRater(bad=bad), tmp_path / "r.sqlite"), seed=1,
                                             n_candidates=10), seed=1)
    assert (first[1]["status"] == MALFORMED).any()
    for got in (first, again):
        _same(got[0], reference[0])
        pd.testing.assert_frame_equal(got[1].drop(columns="cached"), reference[1].drop(columns="cached"),
                                      check_exact=True)

    # the bad rows were stored; read back they fail their check: counted as damaged, and a replay refuses them
    replay = CachedBackend(NoModel(), db, mode="replay")
    with pytest.raises(CacheMissError, match="not in"):
        _play(env, llm_followers(env, replay, seed=1, n_candidates=10), seed=1)
    assert replay.cache_stats.damaged > 0

    # a day the cache does not hold: a replay still refuses it
    good = CachedBackend(HashRater(), tmp_path / "g.sqlite")
    _play(env, llm_followers(env, good, seed=1, n_candidates=10), seed=1)
    replay = CachedBackend(NoModel(), tmp_path / "g.sqlite", mode="replay")
    _play(env, llm_followers(env, replay, seed=1, n_candidates=10), seed=1)
    with pytest.raises(CacheMissError, match="not in"):
        _play(env, llm_followers(env, replay, seed=1, n_candidates=10), seed=1, start=25, end=31)
