"""The game core, free of any RL API: investor types, aggregation, the mechanism, Rank IC metrics,
counterfactual scoring windows and the repeated Stackelberg game itself (one idea per module,
a one-way stack: ``aggregation -> mechanism -> metrics -> scoring -> stackelberg -> batch``)."""

from .stackelberg import GameConfig, Payoff, StackelbergGame, StepResult

__all__ = ["GameConfig", "Payoff", "StackelbergGame", "StepResult"]
