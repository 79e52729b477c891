"""Truth and report in the game: views and reports recorded per agent, stock and day; the payment rule is a
registry entry of the game's commitment (``skill`` / ``weighted_skill`` pay exactly what they paid before)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mass_env import MassStackelbergEnv, rollout, scripted_followers
from mass_env.errors import MassError
from mass_env.game import GameConfig
from mass_env.game.reports import ReportLog
from mass_env.scripted import FixedCommitment

WEIGHTS = np.arange(1, 9) / 36.0


def _play(reward: str = "skill", followers=None, days: int = 40):
    env = MassStackelbergEnv(config=GameConfig(follower_reward=reward), max_cycles=days)
    pols = followers(env) if followers else scripted_followers(env, seed=0)
    res = rollout(env, FixedCommitment(WEIGHTS), pols, seed=0, record=True)
    return env, res


@pytest.mark.parametrize("reward", ["skill", "weighted_skill"])
def test_registry_rules_pay_what_the_env_paid_before(reward):
    env, res = _play(reward)
    g, K = env.game, env.game.K
    n = 0
    for tr in res.transitions:
        for p in tr.paid:
            old = np.nan_to_num(p.type_rank_ic) * (K * g.records[p.day - g.start].applied
                                                   if reward == "weighted_skill" else 1.0)
            new = np.array([tr.rewards[f"investor_{k}"] for k in range(K)])
            assert np.array_equal(old, new)
            n += 1
    assert n > 10


def test_scripted_followers_report_their_views_and_the_log_says_so():
    env, res = _play()
    log, g = env.game.report_log, env.game
    assert log.truthful and len(log) == res.steps
    rep = log.reports()
    assert rep.shape == (res.steps, len(g.agent_type), g.panel.n_symbols) and rep.dtype == np.float32
    assert np.array_equal(log.views(), rep, equal_nan=True)
    # the recorded reports are the aggregated signals: the type means rebuild the mechanism's moments
    from mass_env.game.aggregation import TypeMoments
    tm = log.type_means(g.agent_type, g.K, "reports")
    want = np.stack([TypeMoments.from_stacked(r.moments).type_mean() for r in g.records], axis=1)
    np.testing.assert_allclose(tm, want, rtol=1e-6, atol=1e-6, equal_nan=True)
    hist = g.history()
    assert (hist["misreport"] == 0).all()
    assert all(tr.infos[f"investor_{k}"]["misreport"] == 0.0 for tr in res.transitions for k in range(g.K))


class _Shading:
    """Reports half its view: exposes ``last_views`` so the game records both."""

    def __init__(self, inner):
        self.inner, self.last_views = inner, None

    def reset(self, seed=None):
        self.inner.reset(seed)

    def act(self, obs, info):
        v = np.asarray(self.inner.act(obs, info), dtype=np.float64)
        self.last_views = v
        return 0.5 * v


def test_a_follower_that_shades_is_recorded_with_view_and_report(tmp_path):
    def pols(env):
        base = scripted_followers(env, seed=0)
        return {a: (_Shading(p) if a == "investor_2" else p) for a, p in base.items()}

    env, res = _play(followers=pols)
    g, log = env.game, env.game.report_log
    assert not log.truthful
    rep, view = log.reports(), log.views()
    mine = g.agent_type == 2
    np.testing.assert_allclose(rep[:, mine], 0.5 * view[:, mine], rtol=1e-6, equal_nan=True)
    assert np.array_equal(rep[:, ~mine], view[:, ~mine], equal_nan=True)
    assert (g.history()["misreport"] > 0).all()
    gaps = [tr.infos["investor_2"]["misreport"] for tr in res.transitions]
    assert min(gaps) > 0 and all(tr.infos["investor_0"]["misreport"] == 0.0 for tr in res.transitions)
    # stored compactly (a long numeric table as parquet) and read back
    frame = log.to_frame()
    frame.to_parquet(tmp_path / "reports.parquet", index=False)
    back = ReportLog.from_frame(pd.read_parquet(tmp_path / "reports.parquet"), log.n_agents, log.n_stocks)
    assert np.array_equal(back.reports(), rep, equal_nan=True) and np.array_equal(back.views(), view, equal_nan=True)


def test_other_rules_pay_in_the_game_and_bad_names_list_the_valid_ones():
    env, res = _play("consensus:r=0.6")
    assert res.returns["investor_0"] < 0  # a quadratic loss: negative pay
    assert env.payment_rule.option_string() == "consensus:r=0.6"
    with pytest.raises(MassError, match="valid rules: .*weighted_skill"):
        GameConfig(follower_reward="nope")
    with pytest.raises(MassError, match="valid options: r"):
        GameConfig(follower_reward="consensus:q=1")


def test_recording_can_be_switched_off_from_the_env():
    env = MassStackelbergEnv(max_cycles=15, record_reports=False)
    res = rollout(env, FixedCommitment(WEIGHTS), scripted_followers(env, seed=0), seed=0, record=True)
    assert len(env.game.report_log) == 0 and res.steps == 15
    assert env.game.history()["misreport"].isna().all()
    assert all(tr.infos["investor_0"]["misreport"] == 0.0 for tr in res.transitions)
