"""The batched leader env: each game bit-identical to the single ``PrincipalEnv`` (observations, rewards,
flags, infos with the clip counters), across autoresets, in both autoreset modes; the fast stream seeding
equal to ``default_rng``; the SB3 ``VecEnv`` trains PPO."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import mass_env  # noqa: F401  (registers the id)
from mass_env import PrincipalEnv, PrincipalVectorEnv, SyntheticConfig, synthetic_market
from mass_env.streams import StreamCursor, pcg64_states

KW = dict(n_types=4, agents_per_type=3, episode_days=9)


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(SyntheticConfig(n_days=60, n_symbols=20), seed=2)[0]


def _actions(n_steps: int, n_envs: int, dim: int) -> np.ndarray:
    # some values outside the box, so the clip counters move
    return np.random.default_rng(1).uniform(-1.3, 1.3, (n_steps, n_envs, dim)).astype(np.float32)


def _assert_info_equal(batched: dict, i: int, single: dict) -> None:
    assert {k for k in batched if not k.startswith("_")} - {"final_obs", "final_info"} == set(single)
    for k, v in single.items():
        assert batched["_" + k][i]
        np.testing.assert_array_equal(batched[k][i], np.asarray(v), err_msg=k)


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_each_game_is_the_single_env(panel, mode):
    n, steps = 3, 25
    venv = PrincipalVectorEnv(n, panel=panel, autoreset_mode=mode, **KW)
    singles = [PrincipalEnv(panel=panel, **KW) for _ in range(n)]
    obs, info = venv.reset(seed=10)
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=10 + i)
        np.testing.assert_array_equal(obs[i], o)
        _assert_info_equal(info, i, inf)
    ended = [False] * n
    acts = _actions(steps, n, venv.single_action_space.shape[0])
    n_resets = 0
    for t in range(steps):
        obs, rew, term, trunc, info = venv.step(acts[t])
        for i, env in enumerate(singles):
            if mode == "NextStep" and ended[i]:  # the step after the end resets, ignoring the action
                o, inf = env.reset()
                r, te, tr = 0.0, False, False
                n_resets += 1
            else:
                o, r, te, tr, inf = env.step(acts[t, i])
                if mode == "SameStep" and (te or tr):
                    np.testing.assert_array_equal(info["final_obs"][i], o)
                    _assert_info_equal(info["final_info"], i, inf)
                    o, inf = env.reset()
                    n_resets += 1
            np.testing.assert_array_equal(obs[i], o)
            assert rew[i] == r and term[i] == te and trunc[i] == tr
            _assert_info_equal(info, i, inf)
            ended[i] = te or tr
    assert n_resets >= n  # episodes of 9 days: every game went through autoresets
    assert info["clipped_values"].max() > 0


def test_make_vec_returns_the_batched_env(panel):
    venv = gymnasium.make_vec("mass_env/Principal-v0", num_envs=2, vectorization_mode="vector_entry_point",
                              panel=panel, **KW)
    assert isinstance(venv, PrincipalVectorEnv)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == venv.observation_space.shape and venv.observation_space.contains(obs)


def test_stream_states_equal_default_rng():
    rng = np.random.default_rng(0)
    triples = np.column_stack([rng.integers(0, 2**31 - 1, 300), rng.integers(0, 64, 300), rng.integers(0, 9000, 300)])
    triples[0] = 0
    cursor = StreamCursor()
    for row, state in zip(triples, pcg64_states(triples)):
        ref = np.random.default_rng([int(x) for x in row])
        assert ref.bit_generator.state["state"] == {"state": state[0], "inc": state[1]}
        np.testing.assert_array_equal(cursor.at(state).standard_normal(7), ref.standard_normal(7))


def test_sb3_ppo_trains_on_it(panel):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from mass_env.sb3 import make_vec_env

    venv = make_vec_env(2, seed=0, panel=panel, **KW)
    model = PPO("MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, device="cpu", seed=0)
    model.learn(64)
    assert model.num_timesteps >= 64
