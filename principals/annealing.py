"""Simulated annealing as in the MASS code (``SimulatedAnnealingOptimizer``), as an ask/tell optimiser.

One search (= one decision day), with the MASS defaults:

* start from the previous day's raw (unnormalised) weights ``d`` (1.0 per type at the start of an
  episode) and evaluate it (one evaluation);
* ``iterations`` = 20 times: propose a move, evaluate it (one evaluation each, so 21 per day);
  the move draws ``s ~ N(0, step)`` with ``step`` = 0.25 (the standard deviation), picks two distinct
  types a, b and moves ``s`` of weight from a to b; a move that would make either weight <= 0 is
  redrawn, so weights stay positive and their sum is preserved;
* accept an improvement (or a tie); accept a worse point with probability
  ``exp(-accept_scale * (f_current - f_new) / T)``, ``accept_scale`` = 10; the temperature starts at
  ``temperature`` = 0.5 and is multiplied by ``cooling`` = 0.95 after every iteration;
* return the best point visited (possibly the start).

Learnable alpha (the paper's config C, absent from the MASS code) is treated as one more
coordinate: each iteration moves alpha instead of a pair of weights with probability
``alpha_move_prob`` (default ``2 / (K + 2)``, i.e. as if alpha were one more pair), by ``N(0, step)``
redrawn until it lies in [0, 1].

The paper's engine had no learned alpha for SA (only its CMA-ES stored ``best_alpha``), so its config C
ran as B; ``experiments.paper.fidelity`` reproduces that with ``sa_alpha="engine"`` (C's ``learn_alpha`` off).

SA proposes one candidate at a time (population 1): a Metropolis chain cannot be batched.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .blackbox import Encoding, SearchSpace, register_window_principal

FloatArray = npt.NDArray[np.float64]


class MassAnnealing:
    """MASS's simulated annealing (see the module docstring for the exact rules)."""

    encoding: Encoding = "positive"

    def __init__(self, iterations: int = 20, temperature: float = 0.5, cooling: float = 0.95,
                 step: float = 0.25, accept_scale: float = 10.0, alpha_move_prob: float | None = None,
                 max_redraws: int = 1000) -> None:
        if iterations < 0 or temperature <= 0 or not 0 < cooling <= 1 or step <= 0 or accept_scale <= 0:
            raise ValueError("need iterations >= 0, temperature > 0, 0 < cooling <= 1, step > 0, accept_scale > 0")
        if alpha_move_prob is not None and not 0.0 <= alpha_move_prob <= 1.0:
            raise ValueError(f"alpha_move_prob must lie in [0, 1], got {alpha_move_prob}")
        self.iterations = int(iterations)
        self.temperature = float(temperature)
        self.cooling = float(cooling)
        self.step = float(step)
        self.accept_scale = float(accept_scale)
        self.alpha_move_prob = alpha_move_prob
        self.max_redraws = int(max_redraws)
        self._space: SearchSpace | None = None
        self._rng = np.random.default_rng(0)
        self._pending = np.zeros(0)
        self._cur: FloatArray | None = None
        self._f_cur = -math.inf
        self._best = np.zeros(0)
        self._f_best = -math.inf
        self._T = self.temperature
        self._done_iters = 0
        self.accepted = 0

    def start(self, x0: FloatArray, space: SearchSpace, rng: np.random.Generator) -> None:
        if space.encoding != "positive":
            raise ValueError("MassAnnealing works on raw positive weights (encoding 'positive')")
        x = np.asarray(x0, dtype=np.float64).copy()
        if (x[: space.n_types] <= 0).any():
            raise ValueError("SA needs strictly positive starting weights")
        self._space, self._rng = space, rng
        self._pending = x
        self._cur = None
        self._f_cur = self._f_best = -math.inf
        self._best = x.copy()
        self._T = self.temperature
        self._done_iters = 0
        self.accepted = 0

    def ask(self) -> FloatArray:
        if self._cur is not None:
            self._pending = self._propose(self._cur)
        return self._pending[None, :].copy()

    def tell(self, X: FloatArray, fitness: FloatArray) -> None:
        x = np.asarray(X, dtype=np.float64)[0]
        f = float(np.asarray(fitness, dtype=np.float64)[0])
        if not math.isfinite(f):
            f = -math.inf
        if self._cur is None:  # the start's evaluation
            self._cur, self._f_cur = x.copy(), f
            self._best, self._f_best = x.copy(), f
            return
        if f >= self._f_cur or self._rng.random() < math.exp(-self.accept_scale * (self._f_cur - f) / self._T):
            self._cur, self._f_cur = x.copy(), f
            self.accepted += 1
        if f > self._f_best:
            self._best, self._f_best = x.copy(), f
        self._T *= self.cooling
        self._done_iters += 1

    def stop(self) -> bool:
        return self._cur is not None and self._done_iters >= self.iterations

    def recommend(self) -> FloatArray:
        return self._best.copy()

    # ------------------------------------------------------------------ moves
    def _propose(self, x: FloatArray) -> FloatArray:
        space = self._space
        assert space is not None
        K = space.n_types
        y = x.copy()
        p_alpha = 0.0
        if space.learn_alpha:
            p_alpha = 2.0 / (K + 2.0) if self.alpha_move_prob is None else self.alpha_move_prob
            if K < 2:
                p_alpha = 1.0
        if p_alpha > 0 and self._rng.random() < p_alpha:
            for _ in range(self.max_redraws):
                a = y[K] + self._rng.normal(0.0, self.step)
                if 0.0 <= a <= 1.0:
                    y[K] = a
                    break
            return y
        if K < 2:
            return y
        for _ in range(self.max_redraws):
            s = self._rng.normal(0.0, self.step)
            i, j = self._rng.choice(K, size=2, replace=False)
            if y[i] - s > 0 and y[j] + s > 0:
                y[i] -= s
                y[j] += s
                break
        return y


#: MASS simulated annealing (defaults: disagreement fitness, alpha fixed at 0.5).
make_sa = register_window_principal("sa", MassAnnealing, defaults={"component": "disagreement", "learn_alpha": False},
                                 label="SA", aliases=("mass-sa",))
