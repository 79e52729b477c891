"""One investor type's LLM policy (``agents.llm.type_policy.LLMFollower``) with the scripted backend and
fake backends (no model, no network): candidates and missing stocks, per-(run, type, agent, day)
generators, decoding and outputs, persona and risk differences within a type, option checks."""

from __future__ import annotations

import numpy as np
import pytest
from llm_play import Recording, make_env, play

from agents.llm import llm_followers
from agents.llm.backends.base import ScriptedBackend
from agents.llm.prompts.templates import TEMPLATE_VERSION
from agents.llm.type_policy import LLMFollower
from experiments.sweep.markets import load_market
from mass_env import GameConfig, MassStackelbergEnv, build_types


def test_signals_shape_candidates_and_missing(small_market):
    panel = small_market[0]
    env = make_env(panel, 8, 3)
    rec = Recording()
    f = llm_followers(env, rec, seed=1, n_candidates=7, decode="sample")
    sig = play(env, f, 25, 27, seed=1)
    for d, acts in enumerate(sig):
        uni = panel.universe[25 + d]
        for _, x in acts.items():
            assert x.shape == (3, panel.n_symbols) and x.dtype == np.float32
            seen = np.isfinite(x)
            assert (seen.sum(1) == min(7, uni.sum())).all()
            assert not seen[:, ~uni].any()          # only today's universe
            assert (np.abs(x[seen]) <= 1).all()
            assert set(np.unique(x[seen])) <= {-1.0, -0.5, 0.0, 0.5, 1.0}  # sampled ratings
        # agents of a type draw their own candidates
        assert any(not np.array_equal(np.isfinite(x[0]), np.isfinite(x[1])) for x in acts.values())
    assert len(rec.seen) == 3 * 8 * 3
    assert {r.template for r in rec.seen} == {TEMPLATE_VERSION}
    # every agent of a type shares the day's and the type's context (one prefix per type and day)
    day0 = [r for r in rec.seen if r.day == 25]
    assert len({r.segments for r in day0}) == 8
    assert len({r.segments[0] for r in day0}) == 1
    assert len({r.agent for r in rec.seen}) == 24


def test_same_seed_same_signals_other_seed_differs(small_market):
    env = make_env(small_market[0], 4, 2)
    a = play(env, llm_followers(env, ScriptedBackend(), seed=3), seed=3)
    b = play(env, llm_followers(env, ScriptedBackend(), seed=3), seed=3)
    c = play(env, llm_followers(env, ScriptedBackend(), seed=4), seed=4)
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])
    assert any(not np.array_equal(x[k], z[k], equal_nan=True) for x, z in zip(a, c) for k in x)


def test_rng_is_per_run_type_agent_day_not_global(small_market):
    env = make_env(small_market[0], 2, 2)
    f = llm_followers(env, ScriptedBackend(), seed=9)
    obs, infos = env.reset(seed=9, options={"start": 25, "end": 26})
    np.random.seed(0)
    x1 = f["investor_1"].act(obs["investor_1"], infos["investor_1"])
    f["investor_0"].act(obs["investor_0"], infos["investor_0"])  # other calls in between
    np.random.seed(123)
    x2 = f["investor_1"].act(obs["investor_1"], infos["investor_1"])
    np.testing.assert_array_equal(x1, x2)
    rng = np.random.default_rng([9, 1, 0, 25])
    uni = np.flatnonzero(small_market[0].universe[25])
    cand = np.sort(rng.choice(uni, size=min(20, uni.size), replace=False))
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(x1[0])), cand)


def test_expected_decode_and_select_output(small_market):
    env = make_env(small_market[0], 3, 2)
    exp = play(env, llm_followers(env, ScriptedBackend(), seed=0, decode="expected", n_candidates=8), 25, 26)
    x = exp[0]["investor_2"]
    assert len(np.unique(x[np.isfinite(x)])) > 5  # a continuous mean rating, not 5 levels
    sel = play(env, llm_followers(env, ScriptedBackend(), seed=0, output="select", n_select=3, n_candidates=8),
               25, 26)
    for x in sel[0].values():
        fin = np.isfinite(x)
        assert (fin.sum(1) == 8).all() and ((x == 1).sum(1) == 3).all() and ((x == 0).sum(1) == 5).all()


def test_policy_validation(small_market):
    env = make_env(small_market[0], 1, 1)
    t = env.types[0]
    with pytest.raises(ValueError):
        LLMFollower(t, env.feature_names["investor_0"], env.panel, ScriptedBackend(), output="rank")
    with pytest.raises(ValueError):
        LLMFollower(t, env.feature_names["investor_0"], env.panel, ScriptedBackend(), decode="greedy")
    with pytest.raises(ValueError):
        llm_followers(env, "no-such-backend")


@pytest.fixture(scope="module")
def market():
    return load_market(None, 0, 90)  # the CLI's embedded market with --days 90


def test_agents_of_a_type_differ_through_persona_and_risk(market, tmp_path):
    env = MassStackelbergEnv(market, build_types(2, 4), GameConfig(horizon=5))
    obs, infos = env.reset(seed=0, options={"start": 40, "end": 41})
    plain = llm_followers(env, ScriptedBackend(), n_candidates=40, decode="expected")["investor_0"]
    varied = llm_followers(env, ScriptedBackend(), n_candidates=40, decode="expected", personas=2,
                           risk=1.0)["investor_0"]
    a = plain.act(obs["investor_0"], infos["investor_0"])
    b = varied.act(obs["investor_0"], infos["investor_0"])
    both = np.isfinite(a[0]) & np.isfinite(a[3])
    np.testing.assert_array_equal(a[0][both], a[3][both])  # same type, same stock, no traits: same view
    assert not np.allclose(b[0][both], b[3][both])  # opposite risk appetites
    reqs, _, _ = varied.requests(obs["investor_0"], infos["investor_0"])
    assert [r.variant for r in reqs] == [0, 1, 0, 1]
    assert reqs[0].segments != reqs[1].segments and "cautious" in reqs[1].segments[1]
    with pytest.raises(ValueError, match="personas"):
        llm_followers(env, ScriptedBackend(), personas=9)

