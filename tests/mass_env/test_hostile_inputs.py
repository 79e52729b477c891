"""Inputs of the wrong type to the environments are clear errors at the door, never a raw ValueError or
TypeError deep inside: reset options, the leader's and the followers' actions, the market itself."""

from __future__ import annotations

import numpy as np
import pytest

from mass_env import PRINCIPAL, ActionError, MassError, MassStackelbergEnv, PrincipalEnv, SyntheticConfig
from mass_env import synthetic_market as make_market


@pytest.fixture(scope="module")
def panel():
    return make_market(SyntheticConfig(n_days=60, n_symbols=10, n_industries=2), seed=0)[0]


def actions(env, **override):
    acts = {a: env.action_space(a).sample() for a in env.agents}
    acts.update(override)
    return acts


@pytest.mark.parametrize("options, words", [
    ("abc", "reset options must be a dict"),
    ({"start": "x"}, "start is a day index or count"),
    ({"start": 25.5}, "start is a day index or count"),
    ({"episode_days": "5"}, "episode_days is a day index or count"),
    ({"initial_action": "x"}, "principal action must be an array of numbers, got a str"),
    ({"initial_action": {"w": 1}}, "principal action must be an array of numbers, got a dict"),
])
def test_reset_options_of_the_wrong_type_are_clear_errors(panel, options, words):
    env = MassStackelbergEnv(panel, n_types=2, agents_per_type=2)
    with pytest.raises(MassError, match=words):
        env.reset(seed=0, options=options)


def test_a_numpy_initial_action_is_the_leader_s_first_commitment(panel):
    env = MassStackelbergEnv(panel, n_types=2, agents_per_type=2)
    env.reset(seed=0, options={"initial_action": np.array([1.0, -1.0, 0.0, 0.0])})  # `array or ...` used to raise
    w = env.game._announced.weights
    assert w[0] > w[1]


@pytest.mark.parametrize("action", [{"w": 1}, "abc", np.array(["a", "b", "c", "d"]), None, ["0.5"] * 4,
                                    np.array([0.5, "x", 0.5, 0.5], dtype=object)],
                         ids=["dict", "text", "array-of-texts", "none", "list-of-texts", "object-array"])
def test_leader_actions_of_the_wrong_type_are_action_errors(panel, action):
    env = MassStackelbergEnv(panel, n_types=2, agents_per_type=2)
    env.reset(seed=0)
    with pytest.raises(ActionError, match="principal action must be an array of numbers"):
        env.step(actions(env, **{PRINCIPAL: action}))
    pe = PrincipalEnv(panel=panel, n_types=2, agents_per_type=2)
    pe.reset(seed=0)
    with pytest.raises(ActionError, match="principal action must be an array of numbers"):
        pe.step(action)


def test_an_object_array_of_numbers_is_still_an_action(panel):
    env = MassStackelbergEnv(panel, n_types=2, agents_per_type=2)
    env.reset(seed=0)
    env.step(actions(env, **{PRINCIPAL: np.array([0.5, 0.5, 0.5, 0.1], dtype=object)}))


def test_follower_actions_of_the_wrong_type_are_action_errors(panel):
    env = MassStackelbergEnv(panel, n_types=2, agents_per_type=2)
    env.reset(seed=0)
    with pytest.raises(ActionError, match="investor_0 action must be an array of numbers"):
        env.step(actions(env, investor_0="buy"))


def test_a_market_that_is_not_a_panel_is_named(panel):
    with pytest.raises(MassError, match="panel must be a MarketPanel, got a tuple"):
        MassStackelbergEnv(make_market(SyntheticConfig(n_days=60, n_symbols=10, n_industries=2), seed=0))
    with pytest.raises(MassError, match="game_env must be a MassStackelbergEnv"):
        PrincipalEnv(panel)
