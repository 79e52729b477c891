"""The aggregate's components by name: which array each one is, its sign, and its Rank IC column.

Three things are scored everywhere (the game's history, leaders' fitness, the soft-rank surrogate,
the oracle, the ablation table): the combined signal ``S``, the consensus (weighted mean) and the
disagreement (weighted standard deviation). Disagreement is scored with its sign flipped (``-std``,
MASS's convention: more agreement ranks higher), and that flip lives here and nowhere else, as does
the one function that names a metric's column (``metric_column``; ``ric_column`` for Rank IC).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from ..errors import MassError

A = TypeVar("A")


class Component(str, Enum):
    """A scored component of the aggregate (a ``str``, so ``Component.SIGNAL == "signal"``)."""

    SIGNAL = "signal"
    CONSENSUS = "consensus"
    DISAGREEMENT = "disagreement"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: Component | str) -> Component:
        """The component named ``value``; a clear error listing the names otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise MassError(f"component must be one of {', '.join(c.value for c in cls)}, got {value!r}") from None

    def pick(self, consensus: A, disagreement: A, signal: A) -> A:
        """The array this component scores, with disagreement's sign flipped (numpy or torch)."""
        if self is Component.SIGNAL:
            return signal
        if self is Component.CONSENSUS:
            return consensus
        return -disagreement  # type: ignore[operator,no-any-return]


COMPONENTS: tuple[Component, ...] = tuple(Component)


def metric_column(metric: str, component: Component | str, horizon: int) -> str:
    """Name of the daily ``metric`` column of ``component`` at ``horizon`` days: ``ric_signal_10d``."""
    return f"{metric}_{Component.parse(component).value}_{int(horizon)}d"


def ric_column(component: Component | str, horizon: int) -> str:
    """Name of the daily Rank IC column of ``component`` at ``horizon`` days: ``ric_signal_10d``."""
    return metric_column("ric", component, horizon)
