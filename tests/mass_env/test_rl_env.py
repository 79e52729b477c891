"""The envs as RL libraries use them: make_vec_env with no kwargs, render modes, episodes drawn by
reset(), the neutral zero action, PettingZoo conventions (AEC raw_env, max_cycles, state, numeric infos)."""

from __future__ import annotations

import dataclasses

import gymnasium
import numpy as np
import pytest
from pettingzoo import AECEnv
from pettingzoo.test import render_test
from pettingzoo.utils.wrappers import BaseWrapper

import mass_env
from mass_env import GameConfig, MassError, MassStackelbergEnv, SyntheticConfig, build_types
from mass_env import synthetic_market as market
from mass_env.scripted import ScriptedFollowers, scripted_followers


@pytest.fixture(scope="module")
def panel():
    return market(SyntheticConfig(n_days=70, n_symbols=20, n_industries=4), seed=3)[0]


def small(panel, **kw):
    return dict(panel=panel, types=build_types(3, 2), config=GameConfig(warmup_days=20, obs_window=5, horizon=2),
                **kw)


def test_make_vec_env_needs_no_kwargs_dummy_and_subproc():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    venv = make_vec_env("mass_env/Principal-v0", n_envs=4)  # asks for render_mode="rgb_array"
    obs = venv.reset()
    assert obs.shape == (4,) + venv.observation_space.shape
    venv.step(np.zeros((4,) + venv.action_space.shape, np.float32))
    pic = venv.env_method("render", indices=0)[0]
    assert pic.dtype == np.uint8 and pic.ndim == 3 and pic.shape[2] == 3
    venv.close()
    sub = make_vec_env("mass_env/Principal-v0", n_envs=2, vec_env_cls=SubprocVecEnv,
                       vec_env_kwargs={"start_method": "fork"})  # the default start method works too, slower
    assert sub.reset().shape[0] == 2
    sub.step(np.zeros((2,) + sub.action_space.shape, np.float32))
    sub.close()


#: the documented form: the ``mass_env:`` prefix makes Gymnasium import mass_env (which registers the id)
GYM_ID = "mass_env:mass_env/Principal-v0"
SMALL = "dict(n_types=2, agents_per_type=1)"


def _fresh_python(code: str) -> str:
    import subprocess
    import sys

    from repo_paths import REPO

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_gymnasium_make_with_the_module_prefix_in_a_fresh_process():
    code = ("import sys, gymnasium\n"
            f"env = gymnasium.make({GYM_ID!r}, **{SMALL})\n"
            "obs, info = env.reset(seed=0)\n"
            "env.step(env.action_space.sample())\n"
            "print(obs.shape, 'mass_env' in sys.modules)\n")
    assert _fresh_python(code).split()[-1] == "True"


@pytest.mark.slow
def test_make_vec_env_subproc_with_the_module_prefix_in_a_fresh_process():
    pytest.importorskip("stable_baselines3")
    code = ("from stable_baselines3.common.env_util import make_vec_env\n"
            "from stable_baselines3.common.vec_env import SubprocVecEnv\n"
            f"venv = make_vec_env({GYM_ID!r}, n_envs=2, vec_env_cls=SubprocVecEnv, env_kwargs={SMALL})\n"
            "print(venv.reset().shape[0])\n"
            "venv.close()\n")
    assert _fresh_python(code).split()[-1] == "2"


def test_make_vec_env_dummy_with_the_module_prefix():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = make_vec_env(GYM_ID, n_envs=2, vec_env_cls=DummyVecEnv, env_kwargs={"n_types": 2, "agents_per_type": 1})
    assert venv.reset().shape == (2,) + venv.observation_space.shape
    venv.step(np.zeros((2,) + venv.action_space.shape, np.float32))
    venv.close()


def test_render_modes_and_pettingzoo_render_test(panel, capsys):
    render_test(lambda render_mode=None: mass_env.raw_env(**small(panel), render_mode=render_mode))
    env = gymnasium.make("mass_env/Principal-v0", render_mode="rgb_array", **small(panel)).unwrapped
    env.reset(seed=0)
    tilt = np.r_[1.0, -1.0, -1.0, 0.0, 0.0].astype(np.float32)  # nearly all weight on type 0
    for _ in range(20):
        env.step(tilt)
    pic = env.render()
    assert pic.shape == (240, 480, 3) and pic.dtype == np.uint8
    top = pic[: int(240 * 0.62)].astype(int).sum(-1)
    rows = np.array_split(top[:, 10:], 3)  # one band per type, played days only
    assert rows[0].mean() < rows[1].mean() - 100  # darker = more weight
    bottom = pic[int(240 * 0.62) + 4:]
    assert ((bottom == (40, 160, 60)).all(-1) | (bottom == (200, 50, 50)).all(-1)).any()  # paid IC bars
    env.game_env.render_mode = "ansi"
    assert "applied d=[" in env.render()
    human = gymnasium.make("mass_env/Principal-v0", render_mode="human", **small(panel)).unwrapped
    human.reset(seed=0)
    human.step(np.zeros(5, np.float32))
    assert human.render() is None and "applied d=[" in capsys.readouterr().out
    with pytest.raises(ValueError, match="render_mode"):
        MassStackelbergEnv(**small(panel), render_mode="video")


def test_reset_draws_new_episodes_and_seeded_resets_reproduce(panel):
    env = gymnasium.make("mass_env/Principal-v0", episode_days=15, **small(panel)).unwrapped
    act = np.zeros(5, np.float32)

    def play(seed=None, options=None):
        obs, _ = env.reset(seed=seed, options=options)
        out = [obs]
        while len(out) < 9 and env.game_env.agents:
            out.append(env.step(act)[0])
        return env.game.start, env.game.end, np.stack(out)

    a, b = play(seed=7), play(seed=7)
    assert a[:2] == b[:2] and np.array_equal(a[2], b[2])  # bit-reproducible
    assert a[1] - a[0] + 1 == 15
    draws = [play() for _ in range(4)]  # no seed: different windows and follower draws
    assert len({d[0] for d in draws}) > 1
    assert all(not np.array_equal(draws[0][2], d[2]) for d in draws[1:])
    s, e, _ = play(seed=1, options={"start": 30, "episode_days": 5})
    assert (s, e) == (30, 34)
    with pytest.raises(MassError, match="unknown reset options"):
        env.reset(options={"strat": 30})
    with pytest.raises(MassError, match="does not fit"):
        env.reset(options={"episode_days": 500})


def test_untrained_ppo_acts_like_equal_weights(panel):
    """Zero = equal weights, alpha 0.5, no inertia: an untrained policy's mean action is ~0."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    env = gymnasium.make("mass_env/Principal-v0", **small(panel)).unwrapped
    model = PPO("MlpPolicy", env, seed=0, device="cpu")

    def mean_payoff(policy):
        obs, _ = env.reset(seed=4)
        total, n, done = 0.0, 0, False
        while not done:
            obs, r, term, trunc, info = env.step(policy(obs))
            total, n, done = total + r, n + info["n_paid"], term or trunc
        return total / n, info

    ppo, info = mean_payoff(lambda o: model.predict(o, deterministic=True)[0])
    assert np.abs(info["applied_weights"] - 1 / 3).max() < 0.02 and abs(info["alpha"] - 0.5) < 0.01
    equal, _ = mean_payoff(lambda o: np.zeros(5, np.float32))
    assert abs(ppo - equal) < 0.01, (ppo, equal)


def test_pettingzoo_conventions_state_max_cycles_and_numeric_infos(panel):
    par = mass_env.parallel_env(**small(panel), max_cycles=6)
    with pytest.raises(MassError, match="before reset"):
        par.state()
    with pytest.raises(MassError, match="before reset"):
        par.step({})
    aec = mass_env.raw_env(**small(panel))
    assert isinstance(aec, AECEnv) and not isinstance(aec, BaseWrapper)  # raw: the AEC env itself, unwrapped
    with pytest.raises(MassError, match="before reset"):
        aec.step(None)
    obs, infos = par.reset(seed=0)
    keys = {a: set(i) for a, i in infos.items()}
    st = par.state()
    assert par.state_space.contains(st) and not np.array_equal(st[:10], np.zeros(10))
    steps = 0
    while par.agents:
        acts = {a: par.action_space(a).sample() for a in par.agents}
        obs, rew, term, trunc, infos = par.step(acts)
        steps += 1
        assert {a: set(i) for a, i in infos.items()} == keys  # the same keys at reset and every step
        for info in infos.values():
            for k, v in info.items():
                assert np.issubdtype(np.asarray(v).dtype, np.number), (k, v)
                assert np.isfinite(np.asarray(v, dtype=np.float64)).all(), (k, v)
    assert steps == 6 and par.game.n_steps == 6  # max_cycles caps the episode


def test_follower_box_observation_is_the_same_space_for_every_type(panel):
    env = mass_env.parallel_env(**small(panel), follower_obs="box")
    spaces = [env.observation_space(a) for a in env.possible_agents[1:]]
    assert len({(s.shape, s.dtype) for s in spaces}) == 1
    obs, _ = env.reset(seed=0)
    lay = env.follower_layout
    for t in env.types:
        a = f"investor_{t.type_id}"
        parts = lay.unpack(obs[a])
        mask = parts["feature_mask"] > 0
        assert mask.sum() == len(env.feature_names[a])  # it sees exactly its modalities' columns
        assert np.all(parts["features"][:, ~mask] == 0)
        assert env.observation_space(a).contains(obs[a])


def test_policies_of_the_old_simplex_encoding_still_act(panel, tmp_path):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    from principals.rl import RLPrincipal, save_policy

    for enc, low in (("simplex", 0.0), ("symmetric", -1.0)):
        env = gymnasium.make("mass_env/Principal-v0", action_encoding=enc, **small(panel)).unwrapped
        assert env.action_space.low.min() == low
        path = save_policy(PPO("MlpPolicy", env, seed=0, device="cpu"), tmp_path / enc, {"algo": "ppo"})
        leader = RLPrincipal(path)
        assert leader.codec.encoding == enc and leader.meta["action_encoding"] == enc
    game = MassStackelbergEnv(**small(panel), max_cycles=3)
    played = mass_env.rollout(game, RLPrincipal(tmp_path / "simplex"), mass_env.scripted_followers(game), seed=0)
    assert played.steps == 3


class _DayByDay(ScriptedFollowers):
    """The same followers drawn a day at a time (an overridden ``act_many`` keeps ``PrincipalEnv`` from
    drawing them ahead)."""

    def act_many(self, obs, infos, names):
        return super().act_many(obs, infos, names)


@pytest.mark.parametrize("draws,draw,uneven", [("stream", "distinct", False), ("block", "distinct", False),
                                               ("stream", "replacement", False), ("stream", "distinct", True)])
def test_scripted_followers_drawn_ahead_are_those_drawn_day_by_day(panel, draws, draw, uneven):
    """Plain scripted followers are drawn a block of days ahead: observations, rewards and every report stay
    bit-identical to drawing them day by day, across blocks, seeded and unseeded resets and a reseed."""
    kw = small(panel, episode_days=23)
    if uneven:  # types of 2, 3 and 2 agents
        kw["types"] = tuple(dataclasses.replace(t, n_agents=2 + i % 2) for i, t in enumerate(kw["types"]))
    ahead = mass_env.PrincipalEnv(**kw)
    ahead.followers = scripted_followers(ahead.game_env, follower_draws=draws, draw=draw)
    slow = mass_env.PrincipalEnv(**kw)
    slow.followers = _DayByDay(scripted_followers(slow.game_env, follower_draws=draws, draw=draw))
    rng = np.random.default_rng(0)
    for seed in (4, None, None):
        for env in (ahead, slow):
            env.reset(seed=seed)
        for i in range(30):
            if i == 12:  # followers reseeded mid-episode: the draws ahead follow
                for env in (ahead, slow):
                    env.followers["investor_1"].reset(99)
            act = rng.uniform(-1, 1, 5).astype(np.float32)
            a, b = ahead.step(act), slow.step(act)
            assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
            if a[3]:
                break
        for got, want in ((ahead.game.report_log.reports(), slow.game.report_log.reports()),
                          (ahead.game.report_log.views(), slow.game.report_log.views())):
            assert got.size and np.array_equal(got, want, equal_nan=True)
        assert ahead._ahead._days and not slow._ahead._days  # the path under test was taken


def test_followers_drawn_ahead_see_no_later_day(panel):
    """Scrambling the market after day t mid-block leaves every observation and reward up to and including the
    step of day t alone (the followers of later days are drawn early, from those days' data, used at their step)."""
    from mass_env.testing import perturb_after

    t = 20 + 5  # five days into the episode, inside its first block of days drawn ahead
    plays = []
    for p in (panel, perturb_after(panel, t)):
        env = mass_env.PrincipalEnv(**small(p))
        obs, _ = env.reset(seed=2, options={"start": 20})
        rows = [(20, obs, 0.0)]
        for day in range(20, 40):
            obs, r, *_ = env.step(np.full(5, 0.3, np.float32))
            rows.append((day + 1, obs, r))
        plays.append(rows)
    for (day, a, ra), (_, b, rb) in zip(*plays):  # the observation after the step of day t is day t + 1's
        if day <= t + 1:
            assert np.array_equal(a, b) and ra == rb, day
    assert any(not np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(*plays))  # later days do differ


def test_leader_outputs_alone_while_drawn_ahead_then_every_agents_again(panel):
    """While its followers are drawn ahead, the leader env builds the leader's outputs alone
    (``principal_step``); once they act on observations again (one follower's noise changed: no longer drawn
    together) every agent's outputs of the day are built first. Observations, rewards and infos stay those of
    stepping every agent each day, and so do the observations and infos the followers then read."""
    kw = small(panel, episode_days=23)
    ahead = mass_env.PrincipalEnv(**kw)
    slow = mass_env.PrincipalEnv(**kw)
    slow.followers = _DayByDay(slow.followers)
    rng = np.random.default_rng(1)
    lean, checked = 0, False
    for seed in (4, None):
        for env in (ahead, slow):
            env.reset(seed=seed)
        for i in range(25):
            if i in (7, 15):  # day by day from step 7, drawn ahead again from step 15
                for env in (ahead, slow):
                    env.followers["investor_2"].noise = 0.5 if i == 7 else 1.0
            if i == 7 and not ahead._current:  # every agent's outputs of today, built again: those a step returned
                obs, infos = ahead.game_env.outputs()
                assert np.array_equal(obs["principal_0"], slow._obs["principal_0"])
                for name in ("investor_0", "investor_2"):
                    assert infos[name] == slow._infos[name]
                    for part in ("features", "universe", "commitment"):
                        assert np.array_equal(obs[name][part], slow._obs[name][part])
                checked = True
            act = rng.uniform(-1.2, 1.2, 5).astype(np.float32)
            a, b = ahead.step(act), slow.step(act)
            assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
            assert a[4].keys() == b[4].keys() and all(np.array_equal(a[4][k], b[4][k]) for k in a[4])
            lean += not ahead._current
            if a[3]:
                break
    assert checked and 0 < lean < 50  # both paths were taken
