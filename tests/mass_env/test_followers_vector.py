"""The batched followers' env: each game bit-identical to ``FollowersEnv`` (observations, rewards, flags,
infos, across autoresets, with the default and a Box-acting leader, skill and another payment rule); the
SB3 ``VecEnv`` over (game, type) sub-envs trains one shared PPO policy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mass_env import FollowersVectorEnv, GameConfig, SyntheticConfig, build_types, synthetic_market
from mass_env.errors import ActionError, MassError
from mass_env.followers_env import FollowersEnv
from mass_env.followers_vector import FOLLOWER_INFO_KEYS

KW = dict(n_types=4, agents_per_type=3, episode_days=9)


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(SyntheticConfig(n_days=60, n_symbols=20), seed=2)[0]


class BoxLeader:
    """A leader that answers with Box points (clipped values counted) drawn from its seed and reads its info."""

    name = "box"

    def reset(self, n_types, *, seed=None):
        if seed is not None:  # unseeded resets (the episodes after the first) play on with the same stream
            self.rng, self.seen = np.random.default_rng(seed), []
        self.k = n_types

    def act(self, ctx):
        self.seen.append(int(ctx.info["day"]))
        return self.rng.uniform(-1.3, 1.3, self.k + 2)

    def observe(self, paid):
        self.seen.extend(p.day for p in paid)


def _play(panel, kw, principal=None, n=3, steps=24):
    venv = FollowersVectorEnv(n, principal, panel=panel, **kw)
    singles = [FollowersEnv(None if principal is None else type(principal)(), panel=panel, **kw) for _ in range(n)]
    obs, info = venv.reset(seed=10)
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=10 + i)
        for k, a in enumerate(env.possible_agents):
            np.testing.assert_array_equal(obs[i, k], o[a])
            for key in FOLLOWER_INFO_KEYS:
                assert info[key][i, k] == inf[a][key], key
    rng = np.random.default_rng(1)
    seen = {"resets": 0, "paid": 0, "clipped": 0}
    for _ in range(steps):
        acts = rng.uniform(-1.2, 1.2, (n, venv.n_types, 3, panel.n_symbols))
        acts[:, :, 0, ::4] = np.nan  # agents that did not look
        obs, rew, term, trunc, info = venv.step(acts)
        for i, env in enumerate(singles):
            o, r, te, tr, inf = env.step({a: acts[i, k] for k, a in enumerate(env.possible_agents)})
            final = not env.agents
            if final:
                assert info["_final_obs"][i]
            for k, a in enumerate(env.possible_agents):
                np.testing.assert_array_equal(info["final_obs"][i, k] if final else obs[i, k], o[a])
                assert rew[i, k] == r[a] and term[i, k] == te[a] and trunc[i, k] == tr[a]
                row = info["final_info"] if final else info
                for key in FOLLOWER_INFO_KEYS:
                    assert row[key][i, k] == inf[a][key], key
            seen["paid"] += int(any(r.values()))
            seen["clipped"] = max(seen["clipped"], int(info["clipped_values"][i].max()))
            if final:
                o, inf = env.reset()
                seen["resets"] += 1
                for k, a in enumerate(env.possible_agents):
                    np.testing.assert_array_equal(obs[i, k], o[a])
                    assert info["day"][i, k] == inf[a]["day"]
    if principal is not None:
        for single, batched in zip(singles, venv.core.principals):
            assert single.principal.seen == batched.seen
    return seen


@pytest.mark.parametrize("rule", ["weighted_skill", "skill", "consensus"])
def test_each_game_is_the_followers_env(panel, rule):
    config = GameConfig(horizon=2, turnover_penalty=0.2, inertia_max=2.0, follower_reward=rule)
    seen = _play(panel, {**KW, "config": config})
    assert seen["resets"] >= 3 and seen["paid"] > 10 and seen["clipped"] > 0


def test_a_box_leader_is_the_same_in_both(panel):
    config = GameConfig(horizon=1, lag=2, rule="mass", follower_reward="weighted_skill")
    seen = _play(panel, {**KW, "config": config}, principal=BoxLeader())
    assert seen["resets"] >= 3 and seen["paid"] > 10


def test_types_of_different_sizes_and_the_sb3_rows(panel):
    """Agents grouped by type in one (N, A, stocks) array; SB3's sub-env i*K+k is type k of game i, and a
    shared policy needs types of one size."""
    types = tuple(dataclasses.replace(t, n_agents=n) for t, n in zip(build_types(3, 1), (1, 3, 2)))
    kw = dict(panel=panel, types=types, episode_days=6, config=GameConfig(horizon=1))
    venv, single = FollowersVectorEnv(2, **kw), FollowersEnv(**kw)
    venv.reset(seed=4)
    single.reset(seed=5)
    acts = np.random.default_rng(0).uniform(-1, 1, (4, 2, 6, 20))
    for a in acts:
        obs, rew, _, _, _ = venv.step(a)
        o, r, *_ = single.step({"investor_0": a[1, :1], "investor_1": a[1, 1:4], "investor_2": a[1, 4:]})
        np.testing.assert_array_equal(obs[1], np.stack([o[f"investor_{k}"] for k in range(3)]))
        assert rew[1].tolist() == [r[f"investor_{k}"] for k in range(3)]
    pytest.importorskip("stable_baselines3")
    from mass_env.sb3 import make_followers_vec_env

    with pytest.raises(MassError, match="same number of agents"):
        make_followers_vec_env(2, **kw)
    sb3_env = make_followers_vec_env(2, seed=4, panel=panel, **{**KW, "config": GameConfig(horizon=1)})
    batched = FollowersVectorEnv(2, panel=panel, **{**KW, "config": GameConfig(horizon=1)})
    first, (b_obs, _) = sb3_env.reset(), batched.reset(seed=4)
    np.testing.assert_array_equal(first, b_obs.reshape(8, -1))
    a = np.random.default_rng(1).uniform(-1, 1, (8, 3, 20)).astype(np.float32)
    for _ in range(3):
        o, r, _, _ = sb3_env.step(a)
        bo, br, *_ = batched.step(a.reshape(2, 4, 3, 20))
    np.testing.assert_array_equal(o, bo.reshape(8, -1))
    np.testing.assert_array_equal(r, br.reshape(-1).astype(np.float32))


def test_clear_errors(panel):
    venv = FollowersVectorEnv(2, panel=panel, **KW)
    with pytest.raises(MassError, match="before reset"):
        venv.step(np.zeros((2, 4, 3, 20)))
    venv.reset(seed=0)
    with pytest.raises(ActionError, match="actions must have shape"):
        venv.step(np.zeros((2, 4, 20)))
    with pytest.raises(MassError, match="num_games"):
        FollowersVectorEnv(0, panel=panel)


def test_sb3_ppo_shares_one_policy_over_every_follower(panel):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from mass_env.sb3 import make_followers_vec_env

    venv = make_followers_vec_env(2, seed=3, panel=panel, **KW)
    assert venv.num_envs == 2 * 4
    obs = venv.reset()
    assert obs.shape == (8, venv.observation_space.shape[0])
    dones_seen = 0
    for _ in range(10):
        obs, rew, dones, infos = venv.step(np.stack([venv.action_space.sample() for _ in range(8)]))
        dones_seen += int(dones.sum())
        for d, inf in zip(dones, infos):
            if d:
                assert inf["TimeLimit.truncated"] and inf["terminal_observation"].shape == obs.shape[1:]
    assert dones_seen == 8  # episodes of 9 days: every (game, type) ended once, together
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    assert model.num_timesteps >= 64
