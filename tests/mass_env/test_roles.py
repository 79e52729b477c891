"""Roles at the bottom: the episode loop, the leader's context and observation layout, and the
promise that window leaders optimise what the game does."""

from __future__ import annotations

import numpy as np
import pytest

import principals
from mass_env import (
    PRINCIPAL,
    GameConfig,
    MassStackelbergEnv,
    PrincipalAction,
    SyntheticConfig,
    build_types,
    rollout,
    scripted_followers,
    synthetic_market,
)
from mass_env.game.components import Component, ric_column
from mass_env.game.mechanism import apply_inertia
from mass_env.observation import PrincipalObsLayout
from mass_env.scripted import FixedCommitment
from mass_env.testing import check_principal


@pytest.fixture(scope="module")
def small():
    return synthetic_market(SyntheticConfig(n_days=70, n_symbols=20, n_industries=4), seed=3)[0]


# ------------------------------------------------------------------------------ the one episode loop
class _Scripted:
    """A leader replaying a fixed action sequence and recording what reached it."""

    name = "scripted-sequence"

    def __init__(self, actions):
        self.actions = actions
        self.paid, self.contexts = [], []

    def reset(self, n_types, *, seed=None):
        self.i, self.paid, self.contexts = 0, [], []

    def act(self, ctx):
        self.contexts.append(ctx)
        a = self.actions[self.i % len(self.actions)]
        self.i += 1
        return a

    def observe(self, paid):
        self.paid.extend(paid)


def test_rollout_hands_the_leader_every_realised_payoff_and_the_games_rules(small):
    cfg = GameConfig(horizon=5, turnover_penalty=0.05)
    env = MassStackelbergEnv(small, build_types(3, 2), cfg)
    seq = [PrincipalAction(np.array([1.0, 2.0, 3.0]), 0.4, 0.5), PrincipalAction(np.array([3.0, 1.0, 1.0]), 0.7, 0.0)]
    leader = _Scripted(seq)
    out = rollout(env, leader, scripted_followers(env, seed=1), seed=1, record=True)
    hist = env.game.history()
    assert out.steps == env.game.n_steps == len(leader.contexts) == len(out.transitions)
    assert [p.day for p in leader.paid] == hist.loc[hist["paid"], "day"].tolist()
    assert np.allclose([p.payoff for p in leader.paid], hist.loc[hist["paid"], "payoff"])
    assert out.returns[PRINCIPAL] == pytest.approx(sum(p.payoff for p in out.paid))
    assert all(c.rules is env.config for c in leader.contexts)
    assert leader.contexts[0].info["day"] == env.game.start  # the env's info reaches the leader


def test_the_runner_the_gym_env_and_the_harness_play_the_same_game(small):
    from experiments.sweep.workers import run_episode

    env = MassStackelbergEnv(small, build_types(3, 2))
    a = run_episode(env, principals.EqualWeights(), scripted_followers(env, seed=2), seed=2).history
    b_env = MassStackelbergEnv(small, build_types(3, 2))
    rollout(b_env, FixedCommitment(alpha=0.5), scripted_followers(b_env, seed=2), seed=2)
    assert a.equals(b_env.game.history())


# ------------------------------------------------------------------------------ leaders optimise the game
@pytest.mark.parametrize("inertia", [0.0, 0.7, 3.0])
def test_window_fitness_equals_the_realised_payoff_for_a_fixed_action_sequence(small, inertia):
    """Score each day's announced action with ``ScoringWindow.fitness`` on that one day, against the
    weights applied the day before: it must equal what the game paid (Rank IC - mu * turnover)."""
    mu = 0.2
    cfg = GameConfig(horizon=5, turnover_penalty=mu, inertia_max=5.0)
    env = MassStackelbergEnv(small, build_types(3, 2), cfg)
    rng = np.random.default_rng(0)
    seq = [PrincipalAction(rng.dirichlet(np.ones(3)) + 0.01, float(rng.uniform(0.2, 0.9)), inertia) for _ in range(7)]
    leader = _Scripted(seq)
    rollout(env, leader, scripted_followers(env, seed=4), seed=4)
    game = env.game
    checked = 0
    for rec in game.records[1:]:
        if rec.paid is None:
            continue
        prev_applied = game.records[rec.day - game.start - 1].applied
        win = game.scoring_window(1, horizon=5, asof=rec.paid.paid_on)
        assert list(win.days) == [rec.day]
        act = rec.action
        fit = win.fitness(act.weights, act.alpha, component=Component.SIGNAL, previous=prev_applied,
                          turnover_penalty=mu, inertia=act.inertia)[0]
        assert fit == pytest.approx(rec.paid.payoff, abs=1e-12)
        assert np.allclose(apply_inertia(act.weights, prev_applied, act.inertia), rec.applied)
        checked += 1
    assert checked > 20
    if inertia:  # scoring the raw proposal instead would not be what the game pays
        rec = next(r for r in game.records[5:] if r.paid is not None and r.paid.valid)
        prev_applied = game.records[rec.day - game.start - 1].applied
        win = game.scoring_window(1, horizon=5, asof=rec.paid.paid_on)
        raw = win.fitness(rec.action.weights, rec.action.alpha, previous=prev_applied, turnover_penalty=mu)[0]
        assert raw != pytest.approx(rec.paid.payoff, abs=1e-9)


def test_window_leaders_take_the_turnover_penalty_from_the_game(small):
    """A leader left at turnover_penalty=None plays exactly like one told the game's mu explicitly."""
    cfg = GameConfig(turnover_penalty=0.3)
    runs = []
    for opts in ({}, {"turnover_penalty": 0.3}):
        env = MassStackelbergEnv(small, build_types(3, 2), cfg)
        leader = principals.make("cmaes", **opts)
        rollout(env, leader, scripted_followers(env, seed=5), seed=5)
        runs.append(env.game.history())
    assert runs[0].equals(runs[1])
    env = MassStackelbergEnv(small, build_types(3, 2), GameConfig())
    rollout(env, principals.make("cmaes"), scripted_followers(env, seed=5), seed=5)
    assert not env.game.history().equals(runs[0])  # and mu does change what it does


@pytest.mark.parametrize("name", ["sa", "cmaes"])
def test_window_leaders_with_inertia_pass_the_conformance_check(name):
    check_principal(lambda: principals.make(name, inertia=0.5, learn_alpha=True, component="signal"))


# ------------------------------------------------------------------------------ observation layout
def test_the_env_observation_is_the_layouts_packing(small):
    env = MassStackelbergEnv(small, build_types(3, 2), GameConfig(obs_window=6))
    obs, infos = env.reset(seed=0)
    for _ in range(15):
        acts = {a: x for a, x in zip(env.agents[1:], [None] * 3)}
        acts = {a: scripted_followers(env, seed=0)[a].act(obs[a], infos[a]) for a in acts}
        obs, *_, infos = env.step({**acts, PRINCIPAL: np.r_[np.ones(3), 0.5, 0.2]})
    lay = env.layout
    parts = lay.unpack(obs[PRINCIPAL])
    assert parts["type_ic"].shape == (6, 3) and parts["signal_stats"].shape == (3, 3)
    assert np.array_equal(lay.pack(parts), obs[PRINCIPAL])
    assert parts["applied"][-1] == pytest.approx(0.2)  # inertia / inertia_max
    short = lay.rewindow(obs[PRINCIPAL], 4)
    assert PrincipalObsLayout.infer(short.size, 3).window == 4
    sp = PrincipalObsLayout(3, 4).unpack(short)
    assert np.array_equal(sp["type_ic"], parts["type_ic"][2:]) and np.array_equal(sp["agg_ic"], parts["agg_ic"][2:])
    assert np.array_equal(sp["signal_stats"], parts["signal_stats"])
    with pytest.raises(ValueError):
        PrincipalObsLayout.infer(short.size + 1, 3)
    with pytest.raises(ValueError):
        lay.rewindow(obs[PRINCIPAL], 7)
    assert "type_ic" in lay.describe()


# ------------------------------------------------------------------------------ words
def test_one_component_enum_owns_names_sign_and_columns():
    c, d, s = np.array([1.0]), np.array([2.0]), np.array([3.0])
    assert Component("disagreement").pick(c, d, s)[0] == -2.0 and Component.SIGNAL.pick(c, d, s)[0] == 3.0
    assert ric_column("consensus", 10) == "ric_consensus_10d" == ric_column(Component.CONSENSUS, 10)
    with pytest.raises(ValueError, match="signal, consensus, disagreement"):
        Component.parse("agreement")


def test_a_new_reported_metric_is_one_entry(small, monkeypatch):
    """Registering a daily metric (here the Pearson IC) adds its columns to the history and the summary."""
    from experiments.sweep.workers import run_episode
    from mass_env.game.metrics import REPORTED_METRICS, ic

    monkeypatch.setitem(REPORTED_METRICS, "ic", ic)
    env = MassStackelbergEnv(small, build_types(3, 2))
    res = run_episode(env, principals.EqualWeights(), scripted_followers(env, seed=2), seed=2, eval_skip=5)
    assert {"ic_signal_10d", "ic_disagreement_1d", "ric_signal_10d"} <= set(res.history.columns)
    assert np.isfinite(res.summary["ic_consensus_5d"]) and "icir_signal_1d" in res.summary
    assert res.summary["ic_signal_5d"] != res.summary["ric_signal_5d"]
