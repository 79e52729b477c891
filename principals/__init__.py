"""Leaders (principals) of the aggregation game, interchangeable behind one protocol."""

from .base import DecisionContext, EqualWeights, Principal

__all__ = ["DecisionContext", "EqualWeights", "Principal"]
