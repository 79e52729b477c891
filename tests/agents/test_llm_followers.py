"""LLM followers with the scripted backend and fake backends: no model, no network, fast."""

from __future__ import annotations

import re

import numpy as np
import pytest

from agents.llm import (
    ERROR,
    MALFORMED,
    OK,
    TEMPLATE_VERSION,
    TIMEOUT,
    Answer,
    BaseBackend,
    LLMInvestor,
    ScriptedBackend,
    llm_followers,
    score_to_probs,
)
from agents.llm.prompts import LIST_SYSTEM, PER_STOCK_SYSTEM, DayBrief, release_day
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals, perturb_after


def make_env(panel, n_types=8, agents=2):
    return MassStackelbergEnv(panel, build_types(n_types, agents), GameConfig(horizon=5))


def play(env, followers, start=25, end=30, seed=0):
    return follower_signals(env, followers, start=start, end=end, seed=seed)


class Recording(BaseBackend):
    """Wraps a backend and records every request it is asked."""

    def __init__(self, inner=None):
        super().__init__()
        self.inner = inner or ScriptedBackend()
        self.seen = []

    @property
    def fingerprint(self):
        return self.inner.fingerprint

    def _answer(self, requests, emit):
        self.seen.extend(requests)
        for i, a in enumerate(self.inner.answer(requests)):
            emit(i, a)


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


def test_types_never_merge_even_with_identical_information(small_market):
    """Two types with the same modalities and style are two types: own agents, own streams."""
    from mass_env.data.modalities import Modality
    from mass_env.game.investors import InvestorType

    panel = small_market[0]
    types = (InvestorType(0, Modality.OHLCV, "balanced", 2), InvestorType(1, Modality.OHLCV, "balanced", 2))
    env = MassStackelbergEnv(panel, types, GameConfig(horizon=5))
    f = llm_followers(env, ScriptedBackend(), seed=0, n_candidates=6)
    assert set(f) == {"investor_0", "investor_1"}
    sig = play(env, f, 25, 26)
    assert not np.array_equal(sig[0]["investor_0"], sig[0]["investor_1"], equal_nan=True)


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


def test_scripted_backend_follows_the_scripted_view(small_market):
    """The scripted backend is the scripted investor's opinion: expected ratings track its view."""
    from mass_env import scripted_followers

    panel = small_market[0]
    env = make_env(panel, 8, 1)
    f = llm_followers(env, ScriptedBackend(), seed=0, decode="expected", n_candidates=panel.n_symbols)
    ref = scripted_followers(env, seed=0)
    obs, infos = env.reset(seed=0, options={"start": 30, "end": 31})
    for a in f:
        x = f[a].act(obs[a], infos[a])[0]
        view = ref[a].view(obs[a]["features"])
        fin = np.isfinite(x)
        assert np.corrcoef(x[fin], view[fin])[0, 1] > 0.95


def test_score_to_probs():
    for s in (-1.0, -0.3, 0.0, 0.6, 1.0):
        p = np.array(score_to_probs(s))
        assert p.shape == (5,) and abs(p.sum() - 1) < 1e-12 and (p >= 0).all()
    assert np.argmax(score_to_probs(1.0)) == 4 and np.argmax(score_to_probs(-1.0)) == 0
    assert score_to_probs(0.0, spread=0) == (0.0, 0.0, 1.0, 0.0, 0.0)


class Flaky(BaseBackend):
    """Answers like the scripted backend, but fails some agents in several ways."""

    fingerprint = {"backend": "flaky"}

    def __init__(self):
        super().__init__()
        self.inner = ScriptedBackend()

    def _answer(self, requests, emit):
        good = self.inner.answer(requests)
        for i, r in enumerate(requests):
            if r.agent_index == 0 and r.day % 2 == 0:
                emit(i, Answer.failure(TIMEOUT, "no answer within 1s", attempts=3))
            elif r.agent_index == 1 and r.type_id == 1:
                emit(i, Answer.failure(MALFORMED, "not JSON"))
            elif r.agent_index == 1 and r.type_id == 2:
                emit(i, Answer(OK, good[i].probs[:-1]))  # one candidate short: unusable
            elif r.agent_index == 1 and r.type_id == 3 and r.day == 26:
                raise RuntimeError("backend crashed")  # the rest of this batch becomes 'error'
            else:
                emit(i, good[i])


def test_failures_are_counted_per_agent_and_day_and_are_missing_not_zero(small_market):
    env = make_env(small_market[0], 4, 3)
    f = llm_followers(env, Flaky(), seed=0, n_candidates=6)
    sig = play(env, f, 25, 28)  # 4 days
    log = f.log_frame()
    fails = f.failures()
    rep = f.report()
    assert rep["agent_days"] == 4 * 4 * 3 == len(log)
    assert rep["by_status"][TIMEOUT] == 4 * 2          # agent 0 of every type on days 26, 28
    assert rep["by_status"][MALFORMED] == 4 + 4         # type 1 agent 1, plus the short answers of type 2
    assert rep["by_status"][ERROR] == 2                 # type 3 agents 1, 2 on day 26
    assert rep["failed_agent_days"] == len(fails) == 18
    assert sum(rep["failures_by_day"].values()) == 18
    for _, row in fails.iterrows():
        x = sig[row["day"] - 25][f"investor_{row['type_id']}"][row["agent_index"]]
        assert np.isnan(x).all()                        # missing, never zero
    assert (fails["status"] != OK).all()
    assert fails.loc[fails["status"] == TIMEOUT, "attempts"].eq(3).all()
    ok = log[log["status"] == OK]
    for _, row in ok.iterrows():
        x = sig[row["day"] - 25][f"investor_{row['type_id']}"][row["agent_index"]]
        assert np.isfinite(x).sum() == 6


def test_prompts_are_point_in_time(small_market):
    """Scrambling everything after day t changes no prompt rendered at or before t."""
    panel = small_market[0]
    t = 27
    prompts = []
    for p in (panel, perturb_after(panel, t, seed=1)):
        env = make_env(p, 8, 1)
        rec = Recording()
        play(env, llm_followers(env, rec, seed=0, n_candidates=10), 25, 29)
        prompts.append({(r.agent, r.day): (r.segments, r.items) for r in rec.seen})
    a, b = prompts
    for key in a:
        if key[1] <= t:
            assert a[key] == b[key], key
    assert any(a[k] != b[k] for k in a if k[1] > t)


def test_prompt_content_and_no_example_values(small_market):
    panel = small_market[0]
    brief = DayBrief.build(panel, 40)
    types = build_types(8, 1)
    full, ohlcv = types[7], types[0]
    assert brief.date in brief.day_text
    t_full = brief.type_text(full)
    assert "Sectors" in t_full and "Macro indicators" in t_full and "released" in t_full
    t_ohlcv = brief.type_text(ohlcv)
    assert "Sectors" not in t_ohlcv and "Macro" not in t_ohlcv
    i = int(np.flatnonzero(panel.universe[40])[0])
    item = brief.item_text(full, i)
    assert item.startswith(panel.symbols[i]) and "Valuation" in item and "beta" in item and "sector" in item
    assert "Valuation" not in brief.item_text(ohlcv, i)
    # instructions show the answer format with placeholders only: no example rating values
    for system in (PER_STOCK_SYSTEM, LIST_SYSTEM):
        fmt = system[system.index("JSON"):]
        assert not re.search(r":\s*\d", fmt)
    # macro levels carry their release dates, never after the as-of day
    for d in re.findall(r"released (\d{4}-\d{2}-\d{2})", t_full):
        assert d <= brief.date


def test_release_day():
    assert release_day(np.array([1.0, 1.0, 2.0, 2.0, 2.0])) == 2
    assert release_day(np.array([np.nan, 3.0])) == 1
    assert release_day(np.array([1.0, np.nan])) is None


def test_policy_validation(small_market):
    env = make_env(small_market[0], 1, 1)
    t = env.types[0]
    with pytest.raises(ValueError):
        LLMInvestor(t, env.feature_names["investor_0"], env.panel, ScriptedBackend(), output="rank")
    with pytest.raises(ValueError):
        LLMInvestor(t, env.feature_names["investor_0"], env.panel, ScriptedBackend(), decode="greedy")
    with pytest.raises(ValueError):
        llm_followers(env, "no-such-backend")


def test_follower_factory_and_cli_options(small_market, tmp_path):
    import argparse

    from agents.llm.cli import add_arguments, factory_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    a = p.parse_args(["--llm-backend", "scripted", "--llm-candidates", "5"])
    fac = factory_from_args(a, tmp_path)
    assert fac.name.startswith("llm-scripted-") and all(s.exists() for s in fac.sources)
    other = factory_from_args(p.parse_args(["--llm-backend", "scripted", "--llm-candidates", "6"]), tmp_path)
    assert other.name != fac.name  # options that change answers change the run name
    env = make_env(small_market[0], 2, 2)
    f1, f2 = fac(env, 0), fac(env, 1)
    assert f1.backend is f2.backend  # one backend (one model load) per sweep
    play(env, f1, seed=0)
    assert (tmp_path / "llm-cache.sqlite").exists() and f1.report()["cache"]["writes"] == 6 * 4
    with pytest.raises(ValueError):
        factory_from_args(p.parse_args(["--llm-backend", "openai"]), tmp_path)  # needs --llm-model
