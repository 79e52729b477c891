import gymnasium
import numpy as np
import pytest
from env_play import adaptive_leader, make_env
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test

import mass_env
from mass_env import PRINCIPAL, ActionError, GameConfig, MassStackelbergEnv, build_types, scripted_followers
from mass_env.data.returns import ReturnSpec, forward_returns
from mass_env.game.metrics import rank_ic
from mass_env.observation import PrincipalObsLayout
from mass_env.rollout import follower_actions, paid_of
from mass_env.testing import first_divergence, record_trajectory
from mass_env.testing.lookahead import _equal


def test_pettingzoo_parallel_and_aec_api(small_market):
    parallel_api_test(make_env(small_market[0]), num_cycles=100)
    api_test(mass_env.env(panel=small_market[0], types=build_types(3, 2)), num_cycles=20)


def test_gymnasium_principal_view_passes_check_env():
    env = gymnasium.make("mass_env/Principal-v0")
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    obs, r, term, trunc, info = env.step(env.action_space.sample())
    assert isinstance(r, float) and not term


def test_spaces_are_the_same_object(small_market):
    env = make_env(small_market[0])
    for a in env.possible_agents:
        assert env.observation_space(a) is env.observation_space(a)
        assert env.action_space(a) is env.action_space(a)
    assert len(env.possible_agents) == 9 and env.possible_agents[0] == PRINCIPAL


def test_full_episode_determinism(small_market):
    p = small_market[0]
    runs = []
    for _ in range(2):
        env = make_env(p)
        runs.append(record_trajectory(env, scripted_followers(env, seed=5), adaptive_leader(env.layout), seed=5))
    assert first_divergence(*runs) is None
    env = make_env(p)
    other = record_trajectory(env, scripted_followers(env, seed=6), adaptive_leader(env.layout), seed=6)
    assert first_divergence(runs[0], other) is not None  # a different seed changes the followers


def test_rewards_are_paid_only_when_realised(small_market):
    p = small_market[0]
    env = make_env(p, horizon=5)
    pol = scripted_followers(env, seed=2)
    obs, infos = env.reset(seed=2)
    delay = ReturnSpec(5, 1).delay
    R = forward_returns(p, ReturnSpec(5, 1))
    steps = 0
    while env.agents:
        acts = follower_actions(pol, obs, infos, env.agents)
        acts[PRINCIPAL] = np.full(10, 0.5, np.float32)
        day = env.game.t
        obs, rew, term, trunc, infos = env.step(acts)
        paid = paid_of(infos)
        if day - env.game.start < delay:
            assert paid == () and rew[PRINCIPAL] == 0.0 and infos[PRINCIPAL]["n_paid"] == 0
        else:
            (pay,) = paid
            assert pay.day == day - delay and pay.paid_on == day
            rec = env.game.records[pay.day - env.game.start]
            assert _equal(pay, rec.paid)  # rebuilt exactly from the numeric infos
            want = rank_ic(rec.signal, R[pay.day])
            assert pay.rank_ic == pytest.approx(want, abs=1e-12)
            assert rew[PRINCIPAL] == pytest.approx(want)
        steps += 1
    assert steps == env.game.n_steps and env.agents == []
    hist = env.game.history()
    assert (~hist["paid"].iloc[-delay:]).all() and hist["paid"].iloc[:-delay].all()


def test_stability_penalty_and_lambda_inertia(small_market):
    p = small_market[0]
    env = make_env(p, turnover_penalty=0.5, horizon=1)
    obs, infos = env.reset(seed=0)
    pol = scripted_followers(env, seed=0)
    flip = [mass_env.PrincipalAction(np.eye(8)[0], 0.5, 0.0), mass_env.PrincipalAction(np.eye(8)[1], 0.5, 1.0)]
    for i in range(6):
        acts = follower_actions(pol, obs, infos, env.agents)
        acts[PRINCIPAL] = flip[i % 2]
        obs, rew, *_ = env.step(acts)
    recs = env.game.records
    # day 2 applies [0,1,...] with lambda=1 on top of day 1's [1,0,...]: halfway
    np.testing.assert_allclose(recs[2].applied[:2], [0.5, 0.5])
    assert recs[2].turnover == pytest.approx(0.5)
    paid = [r.paid for r in recs if r.paid]
    assert paid and all(x.payoff == pytest.approx((x.rank_ic if x.valid else 0) - 0.5 * x.turnover) for x in paid)


def test_bad_actions_raise_clear_errors(small_market):
    env = make_env(small_market[0])
    obs, infos = env.reset(seed=0)
    pol = scripted_followers(env, seed=0)
    acts = follower_actions(pol, obs, infos, env.agents)
    with pytest.raises(ActionError, match="missing"):
        env.step(acts)
    with pytest.raises(ActionError, match="unknown agents"):
        env.step({**acts, PRINCIPAL: np.zeros(10), "investor_99": np.zeros((4, 30))})
    for bad in (np.full(10, np.nan), np.ones(7)):
        with pytest.raises(ActionError):
            env.step({**acts, PRINCIPAL: bad})
    with pytest.raises(ActionError, match="shape"):
        env.step({**acts, PRINCIPAL: np.zeros(10), "investor_0": np.zeros((3, 30))})
    with pytest.raises(ActionError, match="inf"):
        env.step({**acts, PRINCIPAL: np.zeros(10), "investor_0": np.full((4, 30), np.inf)})
    with pytest.raises(ActionError):
        env.step({**acts, PRINCIPAL: mass_env.PrincipalAction(np.ones(8), 0.5, inertia=5.0)})
    assert env.game.t == env.game.start  # nothing above played a day


def test_out_of_range_actions_are_clipped_and_counted_or_rejected_in_strict_mode(small_market):
    """One policy for the leader and the followers: clip and count in infos, or an error (strict)."""
    env = make_env(small_market[0])
    obs, infos = env.reset(seed=0)
    assert infos[PRINCIPAL]["clipped_values"] == 0 and infos["investor_0"]["clipped_values"] == 0
    acts = follower_actions(scripted_followers(env, seed=0), obs, infos, env.agents)
    loud = np.where(np.isfinite(acts["investor_0"]), 3.0, np.nan)  # NaN = did not look: never counted
    obs, _, _, _, infos = env.step({**acts, PRINCIPAL: np.r_[7.0, np.zeros(7), 1.7, 0.0], "investor_0": loud})
    assert infos[PRINCIPAL]["clipped_values"] == 2  # d_1 = 7 and alpha = 1.7
    assert infos["investor_0"]["clipped_values"] == int(np.isfinite(loud).sum())
    assert infos["investor_1"]["clipped_values"] == 0
    assert infos[PRINCIPAL]["alpha"] == 1.0  # clipped to the box edge, alpha = (1 + 1) / 2
    assert env.game.records[0].signal[np.isfinite(env.game.records[0].signal)].size > 0
    _, infos = env.reset(seed=0)
    assert infos[PRINCIPAL]["clipped_values"] == 0 and infos["investor_0"]["clipped_values"] == 0  # per episode

    strict = MassStackelbergEnv(small_market[0], build_types(8, 4), GameConfig(warmup_days=20, obs_window=8),
                                strict_actions=True)
    obs, infos = strict.reset(seed=0)
    acts = follower_actions(scripted_followers(strict, seed=0), obs, infos, strict.agents)
    with pytest.raises(ActionError, match="strict"):
        strict.step({**acts, PRINCIPAL: np.r_[7.0, np.zeros(9)]})
    with pytest.raises(ActionError, match="strict"):
        strict.step({**acts, PRINCIPAL: np.zeros(10), "investor_0": loud})


def test_simplex_encoding_zero_weight_fallback_is_counted_per_episode(small_market):
    env = MassStackelbergEnv(small_market[0], build_types(8, 4), GameConfig(warmup_days=20, obs_window=8),
                             action_encoding="simplex")
    assert env.action_space(PRINCIPAL).low.min() == 0.0
    pol = scripted_followers(env, seed=0)
    for _ in range(2):
        obs, infos = env.reset(seed=0)
        acts = follower_actions(pol, obs, infos, env.agents)
        obs, rew, *_, infos = env.step({**acts, PRINCIPAL: np.zeros(10)})  # all-zero d: uniform, counted
        assert infos[PRINCIPAL]["zero_weight_fallbacks"] == 1
        np.testing.assert_allclose(infos[PRINCIPAL]["applied_weights"], np.full(8, 1 / 8))


def test_populations_are_one_argument_away():
    assert sum(t.n_agents for t in build_types(8, 8)) == 64
    types = build_types(32, 16)
    assert sum(t.n_agents for t in types) == 512
    assert len({(t.modalities, t.style) for t in types}) == 32  # no two types share information + style
    env = MassStackelbergEnv(n_types=32, agents_per_type=16)
    assert len(env.possible_agents) == 33


def test_principal_observation_layout(small_market):
    env = make_env(small_market[0])
    lay = env.layout
    assert isinstance(lay, PrincipalObsLayout)
    assert env.observation_space(PRINCIPAL).shape == (lay.size,)
    obs, _ = env.reset(seed=0)
    parts = lay.unpack(obs[PRINCIPAL])
    np.testing.assert_allclose(parts["applied"][:8], np.full(8, 1 / 8), atol=1e-7)
    assert parts["paid_mask"].sum() == 0  # nothing realised yet


def test_kept_day_features_give_the_same_observations_and_never_leak_between_episodes(small_market):
    """The env keeps each day's features across episodes (a replayed study plays the same days again):
    a fresh env and a reused one observe the same, and a policy that writes into its observation does
    not change what the next episode sees."""
    reused, fresh = make_env(small_market[0]), make_env(small_market[0])
    first, _ = reused.reset(seed=1, options={"start": 30, "end": 33})
    first["investor_0"]["features"][:] = 9.0  # a careless policy
    again, infos = reused.reset(seed=1, options={"start": 30, "end": 33})
    other, other_infos = fresh.reset(seed=1, options={"start": 30, "end": 33})
    for a in other:
        if a != PRINCIPAL:
            np.testing.assert_array_equal(again[a]["features"], other[a]["features"])
            assert infos[a]["missing_features"] == other_infos[a]["missing_features"]
    assert not np.array_equal(first["investor_0"]["features"], again["investor_0"]["features"])
