"""Seeds x days difference arrays with a known answer, for the inference tests and the coverage benchmark.

``d[r, s, t] = delta + a_s + b_t + e_st`` over ``r`` replications: ``a`` a seed effect (sd ``seed``),
``b`` day noise shared by every seed (sd ``day``), ``e`` seed-by-day noise (sd ``seed_day``); ``b`` and
``e`` are moving averages of order ``h - 1`` with equal weights (the dependence of overlapping h-day
returns: autocorrelation ``1 - j / h``), scaled to the given marginal sd.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Mix:
    """Marginal sds of the three noise components of one day's difference."""

    name: str
    seed: float
    day: float
    seed_day: float

    def true_var(self, n_seeds: int, n_days: int, horizon: int) -> float:
        """Exact ``Var(mean d)`` for ``n_seeds`` x ``n_days``."""
        lag = np.abs(np.subtract.outer(np.arange(n_days), np.arange(n_days)))
        vm = float(np.clip(1 - lag / horizon, 0, None).sum()) / n_days**2  # Var(mean) of a unit MA(h-1)
        return self.seed**2 / n_seeds + self.day**2 * vm + self.seed_day**2 * vm / n_seeds


#: The three noise mixes the coverage checks use (Rank IC differences have a daily sd of about .1).
MIXES = (Mix("shared-day", 0.002, 0.10, 0.03), Mix("seed-by-day", 0.002, 0.02, 0.10),
         Mix("seed-effect", 0.02, 0.02, 0.03))


def moving_average(rng: np.random.Generator, shape: tuple[int, ...], horizon: int) -> npt.NDArray[np.float64]:
    """Unit-variance equal-weight MA(horizon - 1) series along the last axis."""
    z = rng.standard_normal(shape[:-1] + (shape[-1] + horizon - 1,))
    c = np.concatenate([np.zeros(shape[:-1] + (1,)), np.cumsum(z, axis=-1)], axis=-1)
    return (c[..., horizon:] - c[..., :-horizon]) / np.sqrt(horizon)


def simulate(rng: np.random.Generator, mix: Mix, n_rep: int, n_seeds: int, n_days: int, horizon: int = 10,
             delta: float = 0.0) -> npt.NDArray[np.float64]:
    """``(n_rep, n_seeds, n_days)`` differences with true mean ``delta``."""
    a = mix.seed * rng.standard_normal((n_rep, n_seeds, 1))
    b = mix.day * moving_average(rng, (n_rep, 1, n_days), horizon)
    e = mix.seed_day * moving_average(rng, (n_rep, n_seeds, n_days), horizon)
    return delta + a + b + e
