"""Write your own leader: Hedge (multiplicative weights) on the per-type Rank ICs the game pays.

Run it next to the paper's configs:  mass ablation --configs A --principal examples.hedge_leader:Hedge
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mass_env import DecisionContext, PrincipalAction
from mass_env.game import Payoff


class Hedge:
    """Weights type k by exp(eta * its mean realised Rank IC): types whose signals ranked the stocks
    well get more weight. It learns only from payoffs already paid, so it cannot look ahead."""

    label = "Hedge"  # its name in `mass ablation --list` and in tables

    def __init__(self, eta: float = 10.0, alpha: float = 0.5) -> None:
        self.name = "hedge"
        self.eta, self.alpha = float(eta), float(alpha)

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        self.total, self.count = np.zeros(n_types), np.zeros(n_types)  # nothing carries over

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        score = self.total / np.maximum(self.count, 1)  # 0 until a type has been paid
        return PrincipalAction(np.exp(self.eta * (score - score.max())), self.alpha)

    def observe(self, paid: Sequence[Payoff]) -> None:
        for p in paid:  # p.type_rank_ic: each type's mean signal vs the realised return of day p.day
            ok = np.isfinite(p.type_rank_ic)
            self.total[ok] += p.type_rank_ic[ok]
            self.count[ok] += 1
