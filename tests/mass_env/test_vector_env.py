"""The batched leader env: each game bit-identical to the single ``PrincipalEnv`` (observations, rewards,
flags, infos with the clip counters), across autoresets, in both autoreset modes; the fast stream seeding
equal to ``default_rng``; the SB3 ``VecEnv`` trains PPO."""

from __future__ import annotations

import pickle

import gymnasium
import numpy as np
import pytest

import mass_env  # noqa: F401  (registers the id)
from mass_env import GameConfig, PrincipalEnv, PrincipalVectorEnv, SyntheticConfig, synthetic_market
from mass_env.streams import StreamCursor, pcg64_states, pcg64_words

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


def _compare(panel, mode: str, kw: dict, n: int = 3, steps: int = 25, zero_weights: bool = False) -> dict:
    # kw may name follower_draws: the batched env and every single env then draw in that mode
    """Play the batched env and n single envs side by side; every output must be equal. Returns counts."""
    venv = PrincipalVectorEnv(n, panel=panel, autoreset_mode=mode, **kw)
    singles = [PrincipalEnv(panel=panel, **kw) for _ in range(n)]  # follower_draws too, if kw names it
    obs, info = venv.reset(seed=10)
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=10 + i)
        np.testing.assert_array_equal(obs[i], o)
        _assert_info_equal(info, i, inf)
    ended = [False] * n
    acts = _actions(steps, n, venv.single_action_space.shape[0])
    if zero_weights:  # the simplex encoding's all-zero weights fall back to uniform (a counter moves)
        acts[::3, :, :-2] = 0.0
    n_resets = 0
    seen = {"paid": 0, "days_apart": 0}
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
        seen["paid"] += int(info["n_paid"].sum())
        seen["days_apart"] += int(len(set(info["day"].tolist())) > 1)
    seen["resets"] = n_resets
    seen["clipped"] = int(info["clipped_values"].max())
    seen["fallbacks"] = int(info["zero_weight_fallbacks"].max())
    return seen


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_each_game_is_the_single_env(panel, mode):
    seen = _compare(panel, mode, KW)
    assert seen["resets"] >= 3  # episodes of 9 days: every game went through autoresets
    assert seen["clipped"] > 0


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize("config", [
    GameConfig(horizon=2, turnover_penalty=0.3, inertia_max=2.0),
    GameConfig(horizon=3, lag=2, rule="mass", min_stocks=15),
    GameConfig(horizon=1, rule="selection_rate", turnover_penalty=0.1),
], ids=["agent", "mass", "selection_rate"])
def test_paid_days_in_windows_apart_are_the_single_env(panel, mode, config):
    # short horizons, so every episode pays days (ranked together across games at different days); each
    # game's window drawn on its own, so the games play different days at the same step; autoresets
    kw = {**KW, "config": config, "episode_days": 11}
    seen = _compare(panel, mode, kw, n=4, steps=30)
    assert seen["paid"] > 20 and seen["days_apart"] > 20 and seen["resets"] >= 4


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize("draws", ["stream", "block"])
@pytest.mark.parametrize("scripted", [{}, {"output": "select", "draw": "replacement"}], ids=["score", "mass_picks"])
def test_drawn_ahead_each_game_is_the_single_env_in_its_draw_mode(panel, mode, draws, scripted, monkeypatch):
    # windows longer than a block, so games cross blocks mid-episode and after autoresets
    if scripted:  # the paper's picks: the followers' options go through scripted_followers
        import mass_env.gym_env as gym_env
        import mass_env.vector as vector

        for mod in (gym_env, vector):
            base = mod.scripted_followers
            monkeypatch.setattr(mod, "scripted_followers", lambda env, _b=base, **kw: _b(env, **kw, **scripted))
    kw = {**KW, "config": GameConfig(horizon=2), "episode_days": 23, "follower_draws": draws}
    seen = _compare(panel, mode, kw, n=3, steps=50)
    assert seen["paid"] > 20 and seen["resets"] >= 3 and seen["days_apart"] > 10


def test_block_draws_change_the_draws_not_their_law(panel):
    # per type: mean signal, its spread and how many (agent, stock) pairs are seen, over many days and seeds,
    # agree between the modes within Monte-Carlo error; the signals themselves differ
    from mass_env import MassStackelbergEnv, scripted_followers
    from mass_env.rollout import follower_actions

    env = MassStackelbergEnv(panel, n_types=4, agents_per_type=6)
    obs, infos = env.reset(seed=0)
    stats = {}
    for draws in ("stream", "block"):
        rows = []
        for seed in range(12):
            fols = scripted_followers(env, seed=seed, n_candidates=8, follower_draws=draws)
            for day in range(20, 58):
                inf = {a: {**v, "day": day} for a, v in infos.items()}
                ob = {a: v if a == "principal_0" else {**v, "features": env.follower_features(day, t)[0],
                                                        "universe": panel.universe[day].astype(np.float32)}
                      for a, v, t in [(a, obs[a], env.types[int(a.split("_")[1])] if a != "principal_0" else None)
                                      for a in obs]}
                acts = follower_actions(fols, ob, inf)
                rows.append(np.stack([acts[f"investor_{k}"] for k in range(4)]))  # (K, m, N)
        x = np.stack(rows)  # (runs, K, m, N)
        seen = np.isfinite(x)
        stats[draws] = (x, np.nanmean(x, axis=(0, 2, 3)), np.nanstd(x, axis=(0, 2, 3)), seen.mean(axis=(0, 2, 3)),
                        seen.sum(axis=(0, 2, 3)))
    (xs, ms, ss, cs, ns), (xb, mb, sb, cb, _) = stats["stream"], stats["block"]
    assert not np.array_equal(np.isfinite(xs), np.isfinite(xb))  # other draws
    np.testing.assert_allclose(cs, cb, rtol=1e-12)  # 8 candidates of the universe, every agent, every day
    se = ss / np.sqrt(ns)
    assert (np.abs(mb - ms) < 5 * np.sqrt(2) * se).all()
    assert (np.abs(sb - ss) < 0.02 * ss).all()
    # the candidate sets: every universe stock seen about equally often in both modes
    share_s, share_b = np.isfinite(xs).mean(axis=(0, 1, 2)), np.isfinite(xb).mean(axis=(0, 1, 2))
    assert np.abs(share_s - share_b).max() < 0.05


def test_bad_follower_draws_says_what_is_valid(panel):
    with pytest.raises(mass_env.MassError, match="stream"):
        PrincipalVectorEnv(2, panel=panel, follower_draws="blocks", **KW)
    with pytest.raises(ValueError, match="stream"):
        gymnasium.make("mass_env/Principal-v0", panel=panel, follower_draws="fast", **KW)


def test_simplex_actions_with_zero_weights_are_the_single_env(panel):
    kw = {**KW, "config": GameConfig(horizon=2), "action_encoding": "simplex"}
    seen = _compare(panel, "NextStep", kw, n=2, steps=12, zero_weights=True)
    assert seen["paid"] > 0 and seen["fallbacks"] > 0


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
    entropy = rng.integers(0, 2**32, (200, 4))  # four words (the "block" draws), extremes too
    entropy[0], entropy[1] = 0, 2**32 - 1
    copied = pickle.loads(pickle.dumps(StreamCursor()))
    for row, state, words in zip(entropy, pcg64_states(entropy), pcg64_words(entropy)):
        ref = np.random.default_rng([int(x) for x in row])
        assert ref.bit_generator.state["state"] == {"state": state[0], "inc": state[1]}
        want = ref.random(5, dtype=np.float32)
        for c in (cursor, copied):
            c.generator.random(1, dtype=np.float32)  # a buffered 32-bit half, which repositioning drops
            np.testing.assert_array_equal(c.at_words(words).random(5, dtype=np.float32), want)


def test_sb3_ppo_trains_on_it(panel):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from mass_env.sb3 import make_vec_env

    venv = make_vec_env(2, seed=0, panel=panel, **KW)
    model = PPO("MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=1, device="cpu", seed=0)
    model.learn(64)
    assert model.num_timesteps >= 64


def test_stored_runs_cannot_draw_in_blocks():
    # stored runs (mass ablation, reproduce) name their followers by a spec; the scripted population takes no
    # options there, so no stored result depends on follower_draws (else it would belong to the run's identity)
    from agents.populations import parse_population

    with pytest.raises(ValueError, match="take no options"):
        parse_population("scripted:follower_draws=block")
