"""The hindsight oracle (``experiments.stats.oracle``): consistent with the game, an upper bound."""

import numpy as np
import pytest

import principals
from experiments.stats.oracle import hindsight_oracle
from experiments.sweep.workers import run_episode
from mass_env import GameConfig, MassStackelbergEnv, PrincipalAction, build_types, scripted_followers


class _Fixed:
    name = "fixed"

    def __init__(self, weights, alpha):
        self.w, self.a = np.asarray(weights), alpha

    def reset(self, n_types, *, seed=None):
        pass

    def act(self, ctx):
        return PrincipalAction(self.w, self.a)

    def observe(self, paid):
        pass


def test_hindsight_oracle_is_consistent_with_the_game_and_beats_fixed_weights(small_market):
    types = build_types(4, 3)
    env = MassStackelbergEnv(small_market[0], types, GameConfig())
    run_episode(env, principals.EqualWeights(), scripted_followers(env, seed=2), seed=2, eval_skip=21)
    fits = hindsight_oracle(env.game, eval_skip=21, horizons=(5, 10), seed=2)
    assert set(fits) == {(c, h) for c in ("signal", "consensus", "disagreement") for h in (5, 10)}
    fit = fits[("signal", 10)]
    # playing the oracle's fixed commitment reproduces its value exactly (same followers, same days)
    res = run_episode(env, _Fixed(fit.weights, fit.alpha), scripted_followers(env, seed=2), seed=2, eval_skip=21)
    assert res.summary["ric_signal_10d"] == pytest.approx(fit.value, abs=1e-9)
    # it is at least as good as equal weights and as any of 30 random fixed commitments
    win = env.game.scoring_window(len(env.game.records) - 21, horizon=10, asof=env.game.end + 11)
    rng = np.random.default_rng(0)
    W, A = rng.dirichlet(np.ones(4), 30), rng.uniform(0, 1, 30)
    assert fit.value >= fit.equal_value
    assert fit.value >= win.fitness(W, A).max()
    assert fits[("consensus", 10)].value >= win.fitness(W, A, component="consensus").max()
