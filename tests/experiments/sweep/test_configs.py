"""The paper's ablation configs and baselines, by name (``experiments.sweep.configs``)."""

import pytest

import principals
from experiments.sweep.configs import CONFIGS, describe, resolve
from mass_env import GameConfig


def test_configs_are_the_papers_table():
    rows = {n: (c.principal, c.options.get("component"), c.options.get("learn_alpha"), c.turnover_penalty,
                c.n_types, c.agents_per_type) for n, c in CONFIGS.items()}
    assert rows == {
        "A": ("sa", "disagreement", False, 0.0, 8, 8),
        "B": ("sa", "signal", False, 0.0, 8, 8),
        "C": ("sa", "signal", True, 0.0, 8, 8),
        "D": ("cmaes", "signal", True, 0.0, 8, 8),
        "F": ("cmaes", "signal", True, 0.01, 8, 8),
        "E": ("cmaes", "signal", True, 0.1, 8, 8),
        "E-512": ("cmaes", "signal", True, 0.1, 32, 16),
        "A-512": ("sa", "disagreement", False, 0.0, 32, 16),
    }
    for cfg in CONFIGS.values():  # the paper's lambda (mu) is a game rule the leader's fitness reads; inertia 0
        leader = principals.make(cfg.principal, **cfg.principal_options())
        rules = GameConfig(turnover_penalty=cfg.turnover_penalty)
        assert leader.window.penalty(rules) == cfg.turnover_penalty and leader.inertia == 0.0
        assert (leader.lookback, leader.fitness_horizon) == (5, 5)
    # the table's words are derived from the leader and its options, never typed
    words = {n: (c.fitness, c.alpha, c.optimizer) for n, c in CONFIGS.items()}
    assert words["A"] == ("disagreement", "0.5 fixed", "SA") and words["C"] == ("combined", "learned", "SA")
    assert words["E-512"] == ("combined", "learned", "CMA-ES")
    assert describe("sa", {"learn_alpha": True}) == ("disagreement", "learned", "SA")
    assert describe("cmaes", {"component": "consensus", "learn_alpha": False, "alpha": 0.3}) == \
        ("consensus", "0.3 fixed", "CMA-ES")
    assert [c.name for c in resolve("a,E-512")] == ["A", "E-512", "EQ", "EQ-512", "ORACLE", "ORACLE-512"]
    assert resolve("D", ("random",))[-1].principal == "random"
    with pytest.raises(ValueError, match="unknown config"):
        resolve("Z")
