"""RL followers on the information market: the measurement against known answers (no training), and a
small PPO run that moves the right way (the closed-form tolerances are measured in the study, see
docs/results/incentives.md)."""

import numpy as np
import pandas as pd
import pytest

from experiments.stats.learning_plot import plot_training_curves
from experiments.studies import rl_followers as S
from mass_env.incentives import InformationMarket, make_rule
from mass_env.incentives import closed_form as cf
from mass_env.incentives.market_env import MarketFollowersEnv

MARKET = InformationMarket(n_followers=8, n_stocks=50, n_days=10, public_precision=2.0, private_precision=1.0,
                           prior_precision=1.0)


def view(rows):
    return rows[:, 2]  # the view column: truthful reports


def test_measure_knows_the_truthful_answers():
    for spec in ("proper", "consensus:r=0.5"):
        got = S.measure(view, MarketFollowersEnv(MARKET, spec), seed=1)
        assert got["private_weight"] == pytest.approx(cf.truthful_weight(2.0, 1.0), abs=1e-9)
        assert got["k_private"] == pytest.approx(0.25, abs=1e-9) and got["k_public"] == pytest.approx(0.5, abs=1e-9)
        want = cf.deviation_gain_consensus(2.0, 1.0, 0.5, omega=1 / 8, tau=1.0) if spec != "proper" else 0.0
        assert got["exact_gain"] == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert np.isnan(S.measure(view, MarketFollowersEnv(MARKET, "skill"), seed=1)["exact_gain"])  # no closed form


def test_closed_form_weight_is_bayes_or_morris_shin_with_the_finite_population():
    assert S.closed_form_weight(make_rule("proper"), MARKET) == pytest.approx(1 / 3)
    assert S.closed_form_weight(make_rule("consensus:r=0.5"), MARKET) == pytest.approx(
        cf.morris_shin_weight(2.0, 1.0, 0.5, omega=1 / 8), abs=1e-9)
    assert np.isnan(S.closed_form_weight(make_rule("tournament"), MARKET))
    assert S._join_options("proper,consensus:r=0.5;dpm") == ["proper", "consensus:r=0.5", "dpm"]


def test_learning_plot(tmp_path):
    pytest.importorskip("matplotlib")
    curves = pd.DataFrame({"rule": ["proper"] * 4, "seed": [0, 0, 1, 1], "steps": [0, 10, 0, 10],
                           "private_weight": [0.7, 0.4, 0.6, 0.35], "exact_gain": [0.5, 0.0, 0.4, 1e-4]})
    out = plot_training_curves(curves, tmp_path / "c.png", {"proper": 1 / 3})
    assert out is not None and out.stat().st_size > 0


def test_ppo_followers_learn_to_herd_under_a_beauty_contest():
    """A few seconds of PPO: under consensus:r=0.75 the shared policy puts clearly less weight on private
    information than under proper, which ends near the Bayesian weight; the gains fall."""
    pytest.importorskip("stable_baselines3")
    runs = {spec: S.train(spec, MARKET, 24_000, seed=0, evaluations=3) for spec in ("proper", "consensus:r=0.75")}
    proper, beauty = runs["proper"].final, runs["consensus:r=0.75"].final
    assert beauty["private_weight"] < proper["private_weight"] - 0.05
    assert abs(proper["private_weight"] - 1 / 3) < 0.05
    assert beauty["herding"] > proper["herding"]
    for res in runs.values():
        first, last = res.curve.iloc[0], res.curve.iloc[-1]
        assert last["exact_gain"] < 0.2 * first["exact_gain"] and int(last["steps"]) == 24_000
    assert runs["consensus:r=0.75"].closed_form == pytest.approx(cf.morris_shin_weight(2.0, 1.0, 0.75, 1 / 8))
