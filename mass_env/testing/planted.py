"""Known answers for leaders: followers whose informativeness is planted (``planted_followers``).

Type k's signal is ``rho_k`` x the rank of the *future* return plus noise, so the best weights are
known. A fixture that looks ahead on purpose; ``check_follower`` rejects it, as it should.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.returns import ReturnSpec
from ..game.investors import InvestorType

__all__ = ["PlantedFollower", "planted_followers"]


@dataclass
class PlantedFollower:
    """A follower type whose informativeness is planted: agent signal = tanh((rho z + noise) / 2), z the
    day's cross-sectional rank of the realised ``future`` return (uniform scores, unit variance).

    **It reads the future on purpose**: a test fixture that makes the right answer known (weight the
    types with the largest ``rho``), never a follower to report results with. Randomness (noise and
    each agent's ``n_candidates`` stocks) comes from ``default_rng([seed, type_id, day])``.
    """

    itype: InvestorType
    future: np.ndarray  # (days, N) forward returns at the planted horizon: look-ahead by design
    rho: float
    seed: int = 0
    noise: float = 1.0
    n_candidates: int | None = None  # None: every agent looks at the whole universe

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = int(seed)

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> np.ndarray:
        day, M = int(info["day"]), self.itype.n_agents
        universe = np.asarray(obs["universe"]) > 0.5
        r = np.where(universe, self.future[day], np.nan)
        ok = np.isfinite(r)
        z = np.zeros(r.size)  # no realised return (suspended at entry or exit): no information
        if ok.sum() > 1:
            rank = np.argsort(np.argsort(r[ok]))
            z[ok] = ((rank + 0.5) / ok.sum() - 0.5) * np.sqrt(12.0)
        rng = np.random.default_rng([self.seed, self.itype.type_id, day])
        keys = np.where(universe, rng.random((M, r.size)), np.inf)
        k = int(universe.sum()) if self.n_candidates is None else min(self.n_candidates, int(universe.sum()))
        seen = np.zeros((M, r.size), dtype=bool)
        if k > 0:
            np.put_along_axis(seen, np.argpartition(keys, k - 1, axis=1)[:, :k], True, axis=1)
        raw = self.rho * z[None, :] + self.noise * rng.standard_normal((M, r.size))
        return np.where(seen, np.tanh(raw / 2.0), np.nan).astype(np.float32)


def planted_followers(env: Any, informativeness: Sequence[float], *, seed: int = 0, noise: float = 1.0,
                      horizon: int | None = None, n_candidates: int | None = None) -> dict[str, PlantedFollower]:
    """One ``PlantedFollower`` per investor type of ``env`` (keyed by agent name), type k with
    informativeness ``rho_k = informativeness[k]`` about the ``horizon``-day forward return (default:
    the game's payoff horizon, at its execution lag). Known answer: a leader should weight the types
    with the largest ``rho``; with one informative type among noise, equal weights dilute it."""
    base = getattr(env, "unwrapped", env)
    rho = np.asarray(informativeness, dtype=np.float64)
    if rho.shape != (len(base.types),) or not np.isfinite(rho).all():
        raise ValueError(f"informativeness needs one finite value per type ({len(base.types)}), got {list(rho)}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    cfg = base.game.config
    future = base.game.returns.get(ReturnSpec(horizon or cfg.horizon, cfg.lag))
    return {f"investor_{t.type_id}": PlantedFollower(t, future, float(rho[t.type_id]), seed, float(noise),
                                                      n_candidates) for t in base.types}
