"""The RL principal (stable-baselines3 on mass_env/Principal-v0) and the multi-agent follower example."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from repo_paths import REPO

from mass_env import MassStackelbergEnv, SyntheticConfig, build_types, synthetic_market
from mass_env.observation import PrincipalObsLayout
from principals.rl import obs_window_of, rewindow_obs

ROOT = REPO
VALUE_TYPES = [2, 4, 6, 7]  # types of the 8-type population that see valuations (the informative modality)


# ------------------------------------------------------------------------------------ observation
def test_rewindow_keeps_the_most_recent_rows_of_each_block():
    K, W, w = 3, 6, 2
    big, small = PrincipalObsLayout(K, W), PrincipalObsLayout(K, w)
    obs = np.arange(big.size, dtype=np.float32)
    assert obs_window_of(big.size, K) == W
    out = rewindow_obs(obs, K, w)
    assert out.shape == (small.size,)
    a, b = big.unpack(obs), small.unpack(out)
    np.testing.assert_array_equal(b["type_ic"], a["type_ic"][-w:])
    np.testing.assert_array_equal(b["agg_ic"], a["agg_ic"][-w:])
    np.testing.assert_array_equal(b["paid_mask"], a["paid_mask"][-w:])
    for key in ("applied", "signal_stats", "progress"):
        np.testing.assert_array_equal(b[key], a[key])
    np.testing.assert_array_equal(rewindow_obs(obs, K, W), obs)
    with pytest.raises(ValueError):
        rewindow_obs(obs, K, W + 1)
    with pytest.raises(ValueError):
        obs_window_of(big.size + 1, K)


# ------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """PPO with a small budget on the first 60% of a value-only synthetic market (known best weights)."""
    pytest.importorskip("torch")
    pytest.importorskip("stable_baselines3")
    from experiments.sweep.markets import VALUE_ONLY
    from experiments.train_rl import TrainSpec, train

    out = tmp_path_factory.mktemp("rl")
    spec = TrainSpec(timesteps=12288, n_envs=4, seed=0, n_days=260, strength=dict(VALUE_ONLY), market_seed=0,
                     train_frac=0.6, eval_seeds=(0, 1), threads=1)
    lines: list[str] = []
    res = train(spec, out, say=lines.append, progress_every=5)
    return spec, res, out, lines


def test_trained_policy_beats_equal_weights_on_held_out_days(trained):
    spec, res, out, lines = trained
    h = res.heldout.pivot(index="seed", columns="principal", values="mean_payoff")
    assert (h["rl"] > h["equal"]).all(), h
    assert h["rl"].mean() > h["equal"].mean() + 0.02, h
    # held-out means after the split: the evaluation days never entered training
    assert res.meta["train_days"][1] < res.meta["eval_days"][0]
    assert lines and any("episode" in ln for ln in lines)  # progress was reported


def test_training_learned_and_the_policy_found_the_informative_types(trained, tmp_path):
    """Against the same architecture untrained (not a lucky initialisation), and the known truth."""
    from experiments.sweep.markets import training_market
    from experiments.train_rl import evaluate_heldout, make_training_env, split_day
    from principals.rl import RLPrincipal, algorithm_class, save_policy

    spec, res, out, _ = trained
    panel = training_market(spec)
    split = split_day(panel, spec)
    venv = make_training_env(panel.slice_days(0, split), spec)
    untrained = algorithm_class("ppo")("MlpPolicy", venv, seed=spec.seed, device="cpu", **spec.hyperparameters())
    upath = save_policy(untrained, tmp_path / "untrained", {"algo": "ppo"})
    before = evaluate_heldout(lambda: RLPrincipal(upath), panel, spec, split)
    b = before.pivot(index="seed", columns="principal", values="mean_payoff")["rl"]
    a = res.heldout.pivot(index="seed", columns="principal", values="mean_payoff")["rl"]
    assert a.mean() > b.mean() + 0.02, (a, b)

    pol = RLPrincipal(res.policy)
    env = MassStackelbergEnv(panel, build_types(8, 8), spec.game_config())
    from experiments.sweep.workers import run_episode
    from mass_env import scripted_followers

    run_episode(env, pol, scripted_followers(env, seed=0), seed=0, options={"start": split})
    w = np.array([pol.codec.decode(x).normalised for x in pol.actions])  # the weights its actions mean
    assert w[:, VALUE_TYPES].sum(1).mean() > 0.6  # equal weights would put 0.5 there


def test_files_curve_and_reload(trained):
    from principals.rl import RLPrincipal, load_policy

    spec, res, out, _ = trained
    for name in ("policy.zip", "policy.json", "curve.csv", "heldout.csv", "train.json"):
        assert (out / name).exists(), name
    if importlib.util.find_spec("matplotlib"):
        assert (out / "curve.png").stat().st_size > 1000
    assert len(res.curve) >= 8 and res.curve["timesteps"].is_monotonic_increasing
    assert np.isfinite(res.curve["episode_reward"]).all()
    model, meta = load_policy(out / "policy")
    assert meta["n_types"] == 8 and meta["obs_window"] == spec.obs_window and meta["algo"] == "ppo"
    # deterministic: the same observation gives the same commitment; a longer window is re-sliced
    p = RLPrincipal(str(out / "policy.zip"))
    obs = np.random.default_rng(0).uniform(-1, 1, PrincipalObsLayout(8, 30).size).astype(np.float32)
    a1, _ = p.model.predict(rewindow_obs(obs, 8, spec.obs_window), deterministic=True)
    a2, _ = p.model.predict(rewindow_obs(obs, 8, spec.obs_window), deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    with pytest.raises(ValueError, match="trained for 8 types"):
        p.reset(5)


def test_rl_principal_joins_the_ablation_runner(trained):
    import principals
    from experiments.sweep.configs import AblationConfig
    from experiments.sweep.spec import SweepSpec
    from experiments.sweep.workers import run_one

    spec, res, out, _ = trained
    leader = principals.make("rl", path=str(res.policy))
    assert leader.name == "rl"
    cfg = AblationConfig("RL", "rl", {"path": str(res.policy)}, 8, 8, kind="config")
    panel = synthetic_market(SyntheticConfig(n_days=80), seed=2)[0]
    run = run_one(cfg, 0, panel, SweepSpec((cfg,), seeds=(0,)))
    assert run.history["eval"].sum() > 10
    assert np.isfinite(run.history["ric_signal_10d"]).any()


def test_rl_principal_passes_the_conformance_check(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("stable_baselines3")
    from experiments.train_rl import TrainSpec, make_training_env
    from mass_env.testing import check_principal
    from principals.rl import RLPrincipal, algorithm_class, save_policy

    spec = TrainSpec(n_types=3, agents_per_type=2, n_envs=1, strength=None)
    panel = synthetic_market(SyntheticConfig(n_days=70, n_symbols=20, n_industries=4), seed=11)[0]
    model = algorithm_class("ppo")("MlpPolicy", make_training_env(panel, spec), seed=0, device="cpu")
    path = save_policy(model, tmp_path / "p3", {"algo": "ppo", "n_types": 3, "obs_window": 20, "inertia_max": 1.0})
    check_principal(lambda: RLPrincipal(path))


def test_make_rl_needs_a_path():
    from principals.rl import make_rl

    with pytest.raises(ValueError, match="path"):
        make_rl()
    with pytest.raises(FileNotFoundError):
        make_rl(path="/nonexistent/policy")


# ------------------------------------------------------------------------------------ multi-agent example
def _example():
    spec = importlib.util.spec_from_file_location("multiagent_followers", ROOT / "examples" / "multiagent_followers.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_multiagent_example_learning_follower_is_paid_by_the_mechanism():
    mod = _example()
    res = mod.train_followers(episodes=5, principal="equal", learners=(2,), seed=0)
    s, log, env = res.summary, res.log, res.env
    # 1. rewards flow from the mechanism: weighted_skill = type Rank IC x K x applied weight, per paid day
    game = env.game
    last = log[log["episode"] == log["episode"].max()]
    assert len(last) > 100
    K = game.K
    for _, row in last.iterrows():
        rec = game.records[int(row["day"]) - game.start]
        for k in range(K):
            want = float(np.nan_to_num(rec.paid.type_rank_ic[k])) * K * rec.applied[k]
            assert row[f"reward_investor_{k}"] == pytest.approx(want, abs=1e-12)
    # 2. the learning follower learns: its reward rises and it settles on a truly informative feature
    assert s["learner2_reward"].iloc[-2:].mean() > s["learner2_reward"].iloc[:2].mean() + 0.02, s
    assert s["learner2_best_prob"].iloc[-1] > 0.5
    assert s["learner2_best_arm"].iloc[-1] in {"-ret_5d", "-ret_1d", "+ep", "+bp", "+sp"}  # reversal or value


def test_multiagent_example_with_a_weighting_leader_changes_the_payments():
    mod = _example()
    res = mod.train_followers(episodes=1, principal="cmaes", learners=(2,), n_days=70, seed=1)
    game = res.env.game
    applied = np.array([r.applied for r in game.records])
    assert applied.std(0).max() > 0.01  # the leader moves weights, so follower payments depend on it
    assert np.isfinite(res.log.filter(like="reward_").to_numpy()).all()


# ------------------------------------------------------------------------------------ CLI helpers
def test_principal_arguments_parse_and_become_ablation_rows(tmp_path):
    from experiments.sweep.principal_specs import parse_principal, principal_configs

    assert parse_principal("gradient") == ("gradient", {})
    assert parse_principal("gradient:lookback=5,steps=20") == ("gradient", {"lookback": 5, "steps": 20})
    assert parse_principal("rl:runs/a,b/policy") == ("rl", {"path": "runs/a,b/policy"})
    assert parse_principal("rl:p,deterministic=False") == ("rl", {"path": "p", "deterministic": False})
    with pytest.raises(ValueError, match="policy path"):
        parse_principal("rl:")
    (tmp_path / "pol.json").write_text('{"n_types": 8}')
    rows = principal_configs(["gradient", f"rl:{tmp_path / 'pol'}"], [(8, 8), (32, 16)])
    assert [(r.name, r.principal, r.n_types) for r in rows] == [
        ("GRAD", "gradient", 8), ("GRAD-512", "gradient", 32), ("RL", "rl", 8)]
    assert rows[2].options["path"] == str(tmp_path / "pol")
    with pytest.raises(ValueError, match="for 8 types"):
        principal_configs([f"rl:{tmp_path / 'pol'}"], [(32, 16)])
