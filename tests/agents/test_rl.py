"""PPO followers in the game (``--followers rl``): the follower protocol (shapes, determinism, no look-ahead),
a run through ``mass ablation`` on the embedded market, a saved policy played back, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.populations import make_followers, parse_population, population_identity
from agents.rl import RLOptions
from experiments.cli import main
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.env import default_market
from mass_env.errors import MassError
from mass_env.testing import check_follower

TINY = "steps=240,warmup=20,verbose=0"


def test_options_parse_and_name_what_is_valid():
    assert parse_population("rl:steps=500,warmup=3") == ("rl", {"steps": 500, "warmup": 3})
    assert RLOptions.parse({"lr": "0.01", "path": "p"}).lr == 0.01
    for spec, words in (("rl:stepz=1", "valid: steps, warmup"), ("rl:steps=many", "steps: int"),
                        ("rl:lr=0", "lr: must be positive"), ("rl:warmup=-1", "must be >= 0")):
        with pytest.raises(ValueError, match=words):
            parse_population(spec)
    assert population_identity("rl", {"verbose": 0}) == population_identity("rl", {})  # progress is not identity


def test_rl_followers_honour_the_follower_protocol():
    pytest.importorskip("stable_baselines3")
    report = check_follower(lambda env, seed: make_followers("rl", env, seed, **dict(
        kv.split("=") for kv in TINY.split(","))))
    assert report.days > 20


def test_trained_on_days_before_evaluation_then_saved_and_replayed(tmp_path):
    pytest.importorskip("stable_baselines3")
    panel = default_market(0, 70)
    env = MassStackelbergEnv(panel, build_types(3, 2), GameConfig(horizon=2))
    fol = make_followers("rl", env, 1, steps=300, warmup=10, verbose=0, save=str(tmp_path / "pol"))
    from mass_env.rollout import rollout
    from principals.baselines import EqualWeights

    rollout(env, EqualWeights(), fol, seed=1)
    meta = fol.report()
    first = meta["first_played_day"]
    assert first == env.game.start + 10 and meta["train_days"][1] < first - 1  # only days before it, realised
    assert (tmp_path / "pol.zip").exists() and json.loads((tmp_path / "pol.json").read_text())["steps"] >= 300
    assert len(population_identity("rl", {"path": str(tmp_path / "pol")})["policy_sha256"]) == 16  # in run keys
    views = env.game.report_log.to_frame()
    assert len(views)
    again = MassStackelbergEnv(panel, build_types(3, 2), GameConfig(horizon=2))
    loaded = make_followers("rl", again, 1, path=str(tmp_path / "pol"), verbose=0)
    rollout(again, EqualWeights(), loaded, seed=1)
    a, b = (e.game.history()[["ric_signal_1d"]].to_numpy() for e in (env, again))
    np.testing.assert_array_equal(a[first - env.game.start:], b[first - env.game.start:])  # same policy, same play
    other = MassStackelbergEnv(panel, build_types(4, 2), GameConfig(horizon=2))  # other rows: a clear error
    with pytest.raises(MassError, match="reads rows"):
        rollout(other, EqualWeights(), make_followers("rl", other, 1, path=str(tmp_path / "pol"), verbose=0), seed=1)
    with pytest.raises(MassError, match="no saved policy"):
        rollout(other, EqualWeights(), make_followers("rl", other, 1, path=str(tmp_path / "none"), verbose=0), seed=1)


def test_too_few_days_before_evaluation_is_a_clear_error():
    pytest.importorskip("stable_baselines3")
    env = MassStackelbergEnv(default_market(0, 60), build_types(3, 2))
    from mass_env.rollout import rollout
    from principals.baselines import EqualWeights

    with pytest.raises(MassError, match="fewer than"):
        rollout(env, EqualWeights(), make_followers("rl", env, 0, steps=100, warmup=2, verbose=0), seed=0)


def test_mass_ablation_with_rl_followers(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    out = tmp_path / "abl"
    base = ["ablation", "--configs", "A", "--seeds", "1", "--days", "75", "--baselines", "none", "--agents", "2",
            "--out", str(out), "--no-plot"]
    args = [*base, "--followers", "rl:steps=400"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "rl followers: training PPO" in err and "400/400 reports" in err
    runs = json.loads((out / "ablation.json").read_text())
    assert "rl" in json.dumps(runs)
    with pytest.raises(SystemExit):
        main([*base, "--followers", "rl:nope=1"])
    assert "valid: steps" in capsys.readouterr().err
