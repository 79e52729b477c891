"""A user's leader, registered when this module is imported (as a plugin package would do)."""

from __future__ import annotations

from typing import Any

import numpy as np

import principals
from mass_env.game.mechanism import PrincipalAction
from mass_env.roles import DecisionContext


class TiltedLeader:
    """Puts ``tilt`` times the weight on type 0 and holds it."""

    def __init__(self, tilt: float = 3.0) -> None:
        self.name = "tilted"
        self.tilt = float(tilt)

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        self.w = np.r_[self.tilt, np.ones(n_types - 1)]

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        return PrincipalAction(self.w, 0.5)

    def observe(self, paid: Any) -> None:
        pass


principals.register("plugin-tilted", lambda **options: TiltedLeader(**options), replace=True)
