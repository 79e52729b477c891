"""The information market's followers-only env: paid by the rule, the rule observed, seeded, point in time,
clear errors; and its SB3 adapter (every (follower, stock) pair a sample)."""

import dataclasses

import numpy as np
import pytest

from mass_env.errors import ActionError, MassError
from mass_env.incentives import InformationMarket, PayContext, UnknownRuleError, make_rule
from mass_env.incentives.market_env import SIGNALS, MarketFollowersEnv, rule_columns

MARKET = InformationMarket(n_followers=4, n_stocks=12, n_days=5, prior_precision=1.0)


def test_parallel_api_and_the_rule_in_observation_and_infos():
    from pettingzoo.test import parallel_api_test

    parallel_api_test(MarketFollowersEnv(MARKET, "consensus:r=0.5"), num_cycles=20)
    env = MarketFollowersEnv(MARKET, "consensus:r=0.5")
    obs, infos = env.reset(seed=0)
    assert env.possible_agents == [f"investor_{i}" for i in range(4)]
    assert env.columns[:4] == SIGNALS and env.columns[4:] == rule_columns()
    row = obs["investor_1"][0]
    col = dict(zip(env.columns, row))
    assert col["rule=consensus"] == 1.0 and col["rule=proper"] == 0.0 and col["consensus.r"] == 0.5
    assert infos["investor_1"] == {"rule": "consensus:r=0.5", "day": 0}
    d = env.draw
    np.testing.assert_allclose(obs["investor_1"][:, :3], np.column_stack([d.private[1, 0], d.public[0], d.views[1, 0]]),
                               rtol=1e-6)
    assert np.all(obs["investor_1"][:, 3] == 0.0)  # no consensus before the first day
    other = MarketFollowersEnv(MARKET, "proper").reset(seed=0)[0]["investor_1"]
    assert dict(zip(env.columns, other[0]))["rule=proper"] == 1.0  # the commitment differs, the signals do not
    np.testing.assert_array_equal(other[:, :4], obs["investor_1"][:, :4])


@pytest.mark.parametrize("spec", ["proper", "consensus:r=0.6", "dpm", "tournament", "skill"])
def test_reward_is_the_rules_pay_and_the_consensus_is_published_next_day(spec):
    env = MarketFollowersEnv(MARKET, spec)
    env.reset(seed=3)
    d, rule = env.draw, make_rule(spec)
    played = np.empty((4, 5, 12))
    for t in range(5):
        acts = {a: (0.8 * d.views[i, t] + 0.1 * d.public[t] + 0.05 * i).astype(np.float32)
                for i, a in enumerate(env.agents)}
        obs, rew, terms, truncs, infos = env.step(acts)
        played[:, t] = np.stack([acts[a] for a in sorted(acts, key=lambda a: int(a.split("_")[1]))])
        pay = rule.pay(played[:, t:t + 1], PayContext(d.theta[t:t + 1]))[:, 0]
        np.testing.assert_allclose([rew[f"investor_{i}"] for i in range(4)], pay, atol=1e-9)
        stock_pay = np.stack([infos[f"investor_{i}"]["stock_pay"] for i in range(4)])
        np.testing.assert_allclose(stock_pay.mean(1), pay, atol=1e-9)  # the day's pay is the stocks' mean
        if spec == "skill":
            assert np.all(stock_pay == pay[:, None])  # a cross-sectional rule pays the day as a whole
        np.testing.assert_allclose(obs["investor_0"][:, 3], played[:, t].mean(0), rtol=1e-6)
        assert not any(terms.values()) and all(truncs.values()) == (t == 4)
    assert env.agents == []
    with pytest.raises(MassError, match="episode is over"):
        env.step({})


def test_observations_never_see_the_target():
    """Point in time: the target enters the pay only, so changing every theta changes no observation."""
    a, b = MarketFollowersEnv(MARKET, "consensus:r=0.5"), MarketFollowersEnv(MARKET, "consensus:r=0.5")
    a.reset(seed=7)
    b.reset(seed=7)
    b._draw = dataclasses.replace(b.draw, theta=b.draw.theta + np.random.default_rng(0).normal(size=(5, 12)))
    for t in range(5):
        rep = {ag: np.full(12, 0.1 * t, np.float32) for ag in a.agents}
        oa, ra, *_ = a.step(rep)
        ob, rb, *_ = b.step(rep)
        for ag in oa:
            np.testing.assert_array_equal(oa[ag], ob[ag])
        assert ra != rb  # the pay does see it


def test_seeding():
    env = MarketFollowersEnv(MARKET)
    first = env.reset(seed=5)[0]["investor_0"]
    nxt = env.reset()[0]["investor_0"]
    again = env.reset(seed=5)[0]["investor_0"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, nxt)
    np.testing.assert_array_equal(env.reset()[0]["investor_0"], nxt)  # the sequence after a seed is fixed
    assert not np.array_equal(first, MarketFollowersEnv(MARKET).reset(seed=6)[0]["investor_0"])


def test_clear_errors():
    env = MarketFollowersEnv(MARKET)
    with pytest.raises(MassError, match="before reset"):
        env.step({a: np.zeros(12) for a in env.possible_agents})
    env.reset(seed=0)
    good = {a: np.zeros(12, np.float32) for a in env.agents}
    with pytest.raises(ActionError, match=r"shape \(12,\)"):
        env.step({**good, "investor_0": np.zeros(11)})
    with pytest.raises(ActionError, match="finite"):
        env.step({**good, "investor_0": np.full(12, np.nan)})
    with pytest.raises(ActionError, match="missing.*investor_3"):
        env.step({a: v for a, v in good.items() if a != "investor_3"})
    with pytest.raises(ActionError, match="unknown.*principal_0"):
        env.step({**good, "principal_0": np.zeros(12)})
    with pytest.raises(ActionError, match=r"\(followers, stocks\) = \(4, 12\)"):
        env.step_arrays(np.zeros((12, 4)))
    with pytest.raises(MassError, match="log score"):
        MarketFollowersEnv(MARKET, "proper:score=log")
    with pytest.raises(UnknownRuleError, match="valid rules"):
        MarketFollowersEnv(MARKET, "bribe")


def test_sb3_vec_env_makes_every_follower_stock_pair_a_sample():
    pytest.importorskip("stable_baselines3")
    from mass_env.sb3 import make_market_vec_env

    env = MarketFollowersEnv(MARKET, "consensus:r=0.5")
    venv = make_market_vec_env(env)
    assert venv.num_envs == 4 * 12 and venv.observation_space.shape == (len(env.columns),)
    venv.seed(2)
    rows = venv.reset()
    np.testing.assert_allclose(rows.reshape(4, 12, -1)[:, :, 2], env.draw.views[:, 0], rtol=1e-6)
    d = env.draw
    for t in range(5):
        acts = d.views[:, t].reshape(-1, 1)
        rows, rew, dones, infos = venv.step(acts)
        want = make_rule("consensus:r=0.5").pay(d.views[:, t][:, :, None], PayContext(d.theta[t][:, None]))
        np.testing.assert_allclose(rew, want.reshape(-1), rtol=1e-5)
        assert dones.all() == (t == 4) and dones.any() == (t == 4)
    assert infos[0]["TimeLimit.truncated"] and infos[0]["terminal_observation"].shape == (len(env.columns),)
    assert env.day == 0 and env.draw is not d  # the next market is drawn in the same step


def test_supersuit_parameter_sharing_recipe_works_as_is():
    """The per-follower route (one sample per follower, its whole (S, C) observation): SuperSuit + SB3 PPO."""
    ss = pytest.importorskip("supersuit")
    sb3 = pytest.importorskip("stable_baselines3")
    env = MarketFollowersEnv(MARKET, "consensus:r=0.5")
    venv = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(env), 1, num_cpus=0, base_class="stable_baselines3")
    assert venv.num_envs == 4 and venv.reset().shape == (4, 12, len(env.columns))
    model = sb3.PPO("MlpPolicy", venv, n_steps=10, batch_size=20, n_epochs=1, device="cpu")
    model.learn(40)
    assert model.num_timesteps == 40
