"""What ``MassStackelbergEnv`` hands out after a step, built from the game's state: the leader's observation
(``PrincipalWindow``, written in place in one buffer) and every agent's numeric infos. Why a module of its own:
the env's step reads them, and a caller that needs the leader's outputs alone (``PrincipalEnv``) builds only
those."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .game import Payoff, StackelbergGame
from .game.infos import paid_info
from .game.investors import InvestorType
from .observation import PrincipalObsLayout, signal_stats


class PrincipalWindow:
    """The leader's observation (``PrincipalObsLayout``) in one preallocated buffer: the last W paid days
    (per-type Rank IC, aggregate Rank IC, paid mask; most recent last), the previous day's signal statistics,
    and at ``write`` the applied commitment and the episode's progress. Why: ``layout.pack`` would concatenate
    the pieces anew every step."""

    def __init__(self, layout: PrincipalObsLayout, n_types: int, universe: npt.NDArray[np.bool_]) -> None:
        self.K = int(n_types)
        self.buffer = np.zeros(layout.size)
        sl = layout.slices()
        self._type = self.buffer[sl["type_ic"]].reshape(layout.window, self.K)
        self._agg = self.buffer[sl["agg_ic"]]
        self._paid = self.buffer[sl["paid_mask"]]
        self._applied = self.buffer[sl["applied"]]
        self._stats = self.buffer[sl["signal_stats"]].reshape(self.K, 3)
        self._progress = self.buffer[sl["progress"]]
        self._uni_count = np.maximum(universe.sum(1), 1)  # stocks in each day's universe (>= 1)

    def clear(self) -> None:
        """A new episode: nothing paid, no signal seen."""
        self.buffer[:] = 0.0

    def record(self, game: StackelbergGame, paid: Sequence[Payoff]) -> None:
        """After a game step: the days it paid enter the window, and its day's signal statistics replace the
        previous ones."""
        for p in paid:
            for win in (self._type, self._agg, self._paid):
                win[:-1] = win[1:]
            self._type[-1] = np.where(np.isfinite(p.type_rank_ic), p.type_rank_ic, 0.0)
            self._agg[-1], self._paid[-1] = (p.rank_ic, 1.0) if p.valid else (0.0, 0.0)
        rec = game.records[-1]
        signal_stats(rec.moments[0], rec.moments[1], self._uni_count[rec.day], out=self._stats)

    def write(self, game: StackelbergGame) -> npt.NDArray[np.float32]:
        """The observation of the game's current day, clipped to [-1, 1], as a new float32 array."""
        K = self.K
        applied = self._applied
        applied[:K] = game.applied_weights
        applied[K] = game.announced.alpha
        imax = game.config.inertia_max
        applied[K + 1] = 0.0 if imax == 0 else game.announced.inertia / imax
        self._progress[0] = min((game.t - game.start) / max(game.n_steps, 1), 1.0)
        # cast, then clip: the same float32 values as clipping first (rounding is monotone, +-1 exact)
        out = self.buffer.astype(np.float32)
        np.minimum(out, 1.0, out=out)
        return np.maximum(out, -1.0, out=out)


def principal_reward(paid: Sequence[Payoff]) -> float:
    """The leader's reward of a step: the payoff it paid (the mean if several; 0 if none)."""
    if not paid:
        return 0.0
    return float(paid[0].payoff) if len(paid) == 1 else float(np.mean([p.payoff for p in paid]))


def principal_info(game: StackelbergGame, day: int, paid: Sequence[Payoff]) -> dict[str, Any]:
    """The leader's info: the day, the applied commitment, this episode's counters, the payoff paid now."""
    return {"day": day, "n_scored": game.records[-1].n_scored if game.records else 0,
            "applied_weights": game.applied_weights.copy(), "alpha": game.announced.alpha,
            "inertia": game.announced.inertia, "zero_weight_fallbacks": game.codec.zero_weight_fallbacks,
            "clipped_values": game.codec.clipped_values, **paid_info(paid, game.K)}


def follower_infos(game: StackelbergGame, names: Sequence[str], types: Sequence[InvestorType], day: int,
                   missing: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Each follower's info: the day, its missing feature values, its clipped values this episode and its
    agents' mean |report - view| on the last recorded day."""
    gaps = game.report_log.last_misreport(game.agent_type, game.K).tolist()
    clipped = game.clipped_signals.tolist()
    return {a: {"day": day, "missing_features": missing.get(a, 0), "clipped_values": clipped[t.type_id],
                "misreport": gaps[t.type_id]} for a, t in zip(names, types)}
