"""CMA-ES (pycma) as an ask/tell optimiser over softmax logits of the weights and a bounded alpha.

Defaults follow the follow-up paper's code: ``sigma0`` = 0.2, about 30 evaluations per day (whole
generations, as many as is nearest to ``evals``, at least one: 3 generations of 10 at 8 types +
alpha, 2 of 14 at 32 types + alpha), warm start from the previous day's solution. Unlike that code the
answer is the distribution mean (``es.result.xfavorite``), which over-fits a 5-day window less than
the best sample, and the weights are softmax logits (the simplex without scale drift).

* alpha, when learned, is the last coordinate, bounded to [0, 1] by pycma's ``BoundTransform``
  (``ask()`` returns feasible points); the logits are unbounded;
* separable CMA (``CMA_diagonal=True``) when the dimension is at least ``diagonal_from`` (100 by
  default; with ~30 evaluations a day a full covariance matrix is not learned anyway);
* quiet and file-free: ``verbose=-9, verb_log=0, verb_disp=0``; flat-fitness and tolerance stops off
  (rank statistics have plateaus), so only the evaluation budget stops a search (counted here:
  pycma's own ``maxfevals`` check runs one generation past the budget);
* ``encoding="positive"``, ``recommend="best"`` (with the window options ``alpha_start="reset"`` and
  ``turnover_weights="raw"``) is the paper's engine: CMA-ES on raw weights bounded below at 1e-6
  (their sum drifts; aggregation ignores the scale, the raw turnover does not), the best sample;
* seeded: each search gets a seed >= 1 drawn from the principal's ``numpy.random.Generator``.
  pycma samples from numpy's *global* RNG, so its state is swapped in and out around every pycma
  call: the caller's global RNG is left exactly as it was, and results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from .blackbox import Encoding, SearchSpace, register_window_principal

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")


#: lower bound of raw weights under ``encoding="positive"`` (the engine's ``bounds=[1e-6, None]``)
MIN_RAW_WEIGHT = 1e-6


class CMAES:
    """pycma's ``CMAEvolutionStrategy`` behind the ask/tell protocol of ``BlackBoxPrincipal``."""

    encoding: Encoding = "logits"

    def __init__(self, sigma0: float = 0.2, evals: int = 30, popsize: int | None = None,
                 diagonal: bool | None = None, diagonal_from: int = 100, alpha_std: float = 1.0,
                 recommend: str = "mean", cma_options: Mapping[str, Any] | None = None,
                 encoding: Encoding = "logits") -> None:
        if sigma0 <= 0 or evals < 1 or alpha_std <= 0:
            raise ValueError("need sigma0 > 0, evals >= 1 and alpha_std > 0")
        if popsize is not None and popsize < 2:
            raise ValueError(f"popsize must be >= 2, got {popsize}")
        if recommend not in ("mean", "best"):
            raise ValueError(f"recommend must be 'mean' or 'best', got {recommend!r}")
        if encoding not in ("logits", "positive"):
            raise ValueError(f"encoding must be 'logits' (softmax) or 'positive' (raw weights), got {encoding!r}")
        self.encoding = encoding
        self.sigma0 = float(sigma0)
        self.evals = int(evals)
        self.popsize = popsize
        self.diagonal = diagonal
        self.diagonal_from = int(diagonal_from)
        self.alpha_std = float(alpha_std)
        self.recommend_mode = recommend
        self.cma_options = dict(cma_options or {})
        self._es: Any = None
        self._state: Any = None
        self._best_x: FloatArray | None = None
        self._best_f = -np.inf
        self._gens = self._max_gens = 0

    def generations(self, popsize: int) -> int:
        """Generations per search: the whole number nearest to ``evals / popsize``, at least 1."""
        return max(1, int(np.floor(self.evals / popsize + 0.5)))

    def options_for(self, space: SearchSpace, seed: int) -> dict[str, Any]:
        """The pycma options used for a search in ``space``."""
        dim, K = space.dim, space.n_types
        opts: dict[str, Any] = {
            "seed": int(seed), "verbose": -9, "verb_log": 0, "verb_disp": 0,
            "tolflatfitness": 10**9, "tolfun": 0, "tolfunhist": 0,
            "tolx": 0, "tolstagnation": 10**9, "tolxstagnation": False,
        }
        if self.popsize is not None:
            opts["popsize"] = int(self.popsize)
        if self.diagonal if self.diagonal is not None else dim >= self.diagonal_from:
            opts["CMA_diagonal"] = True
        low: list[float | None] = [MIN_RAW_WEIGHT if self.encoding == "positive" else None] * K
        if space.learn_alpha:
            opts["bounds"] = [low + [0.0], [None] * K + [1.0]]
            opts["CMA_stds"] = [1.0] * K + [self.alpha_std]
        elif self.encoding == "positive":
            opts["bounds"] = [low, [None] * K]
        opts.update(self.cma_options)
        return opts

    def start(self, x0: FloatArray, space: SearchSpace, rng: np.random.Generator) -> None:
        import cma

        if space.encoding != self.encoding:
            raise ValueError(f"this CMAES works on encoding {self.encoding!r}, the space is {space.encoding!r}")
        if space.dim < 2:
            raise ValueError("CMA-ES needs at least 2 dimensions (pycma does not do 1-D)")
        x = np.asarray(x0, dtype=np.float64).copy()
        if space.learn_alpha:  # keep the start strictly inside the alpha bounds
            x[space.n_types] = float(np.clip(x[space.n_types], 1e-6, 1 - 1e-6))
        if self.encoding == "positive":
            x[: space.n_types] = np.maximum(x[: space.n_types], MIN_RAW_WEIGHT)
        seed = int(rng.integers(1, 2**31 - 1))
        opts = self.options_for(space, seed)
        saved = np.random.get_state()
        try:
            self._es = cma.CMAEvolutionStrategy(x, self.sigma0, opts)
            self._state = np.random.get_state()
        finally:
            np.random.set_state(saved)
        self._best_x, self._best_f = None, -np.inf
        self._gens, self._max_gens = 0, self.generations(int(self._es.popsize))

    def _isolated(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on pycma's own global-RNG state, leaving the caller's untouched."""
        saved = np.random.get_state()
        np.random.set_state(self._state)
        try:
            return fn()
        finally:
            self._state = np.random.get_state()
            np.random.set_state(saved)

    def ask(self) -> FloatArray:
        return np.asarray(self._isolated(self._es.ask), dtype=np.float64)

    def tell(self, X: FloatArray, fitness: FloatArray) -> None:
        f = np.asarray(fitness, dtype=np.float64)
        f = np.where(np.isfinite(f), f, -1.0)
        i = int(np.argmax(f))
        if f[i] > self._best_f:
            self._best_f, self._best_x = float(f[i]), np.asarray(X[i], dtype=np.float64).copy()
        X_list = [np.asarray(x, dtype=np.float64) for x in X]
        self._isolated(lambda: self._es.tell(X_list, list(-f)))  # pycma minimises
        self._gens += 1

    def stop(self) -> bool:
        return self._gens >= self._max_gens or bool(self._es.stop())

    def recommend(self) -> FloatArray:
        if self.recommend_mode == "best" and self._best_x is not None:
            return self._best_x.copy()
        return np.asarray(self._es.result.xfavorite, dtype=np.float64).copy()


#: CMA-ES on the combined signal with learned alpha (the follow-up paper's config D).
make_cmaes = register_window_principal("cmaes", CMAES, defaults={"component": "signal", "learn_alpha": True},
                                    label="CMA-ES", aliases=("cma", "cma-es"))
