"""Adapter that turns any ask/tell black-box optimiser into a point-in-time ``Principal``.

At the close of day t the adapter asks the context for a ``ScoringWindow`` (the recorded follower
signals of the last ``lookback`` days whose ``fitness_horizon``-day return has realised by t), then
runs the optimiser on it: every ``ask()`` returns a *population* of candidate vectors, which are
decoded to weights and alphas and re-scored with **one** ``ScoringWindow.fitness`` call (the game's
vectorised scorer), and the fitness vector goes back through ``tell()``. The optimiser's
recommendation becomes the commitment for day t+1 and the warm start of the next day's search.

Nothing here reads the panel's returns: the window is the only door to realised outcomes, and it
already excludes every return that is not known at the decision's close.

Timing note (MASS): MASS re-optimises at the close of day t on days t-9..t-5 with the 5-day label and
applies the result from day t+1. With this project's stricter convention (execution lag 1: a signal
of day s trades at the close of s+1, so its 5-day return is known at the close of s+6), the last
five *realised* days at the close of t are t-10..t-6: the same five-day window, one day older.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from mass_env.game import Payoff
from mass_env.game.components import Component
from mass_env.game.mechanism import PrincipalAction
from mass_env.game.scoring import ScoringWindow, ViewWindow
from mass_env.roles import DecisionContext

from .options import dataclass_types, declared_types
from .registry import check_options, register
from .window import WindowedPrincipal, WindowOptions

FloatArray = npt.NDArray[np.float64]
Encoding = Literal["positive", "logits"]


def softmax(z: npt.ArrayLike) -> FloatArray:
    """Row-wise softmax (numerically stable)."""
    x = np.asarray(z, dtype=np.float64)
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


@dataclass(frozen=True)
class SearchSpace:
    """How an optimiser's vector ``x`` maps to ``(weights, alpha)``.

    ``x = [w_1..w_K]`` or ``[w_1..w_K, alpha]`` when alpha is learned. ``encoding`` says what the
    weight block is: ``"positive"`` raw positive weights (any scale; MASS's SA moves them directly),
    or ``"logits"`` softmax logits (unconstrained; CMA-ES). Alpha is a plain coordinate in [0, 1].
    """

    n_types: int
    learn_alpha: bool = False
    alpha: float = 0.5
    encoding: Encoding = "positive"

    def __post_init__(self) -> None:
        if self.n_types < 1:
            raise ValueError(f"n_types must be >= 1, got {self.n_types}")
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.encoding not in ("positive", "logits"):
            raise ValueError(f"encoding must be 'positive' or 'logits', got {self.encoding!r}")

    @property
    def dim(self) -> int:
        return self.n_types + int(self.learn_alpha)

    @property
    def degenerate(self) -> bool:
        """True when there is nothing to choose (one type and a fixed alpha)."""
        return self.n_types == 1 and not self.learn_alpha

    def encode(self, weights: npt.ArrayLike, alpha: float) -> FloatArray:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n_types,):
            raise ValueError(f"weights must have shape ({self.n_types},), got {w.shape}")
        if self.encoding == "logits":
            z = np.log(np.maximum(w / w.sum(), 1e-12))
            z = z - z.mean()
        else:
            z = w.copy()
        return np.concatenate([z, [float(alpha)]]) if self.learn_alpha else z

    def decode(self, X: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """``(P, dim)`` candidates -> weights ``(P, K)`` (positive) and alphas ``(P,)`` in [0, 1]."""
        x = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if x.shape[1] != self.dim:
            raise ValueError(f"candidates must have {self.dim} coordinates, got shape {x.shape}")
        z = x[:, : self.n_types]
        if self.encoding == "logits":
            w = softmax(z)
        else:
            w = np.maximum(z, 0.0)
            bad = w.sum(1) <= 0
            if bad.any():
                w[bad] = 1.0  # an all-zero row means uniform (as the action codec does)
        if self.learn_alpha:
            a = np.clip(x[:, self.n_types], 0.0, 1.0)
        else:
            a = np.full(x.shape[0], float(self.alpha))
        return w, a


@runtime_checkable
class AskTellOptimizer(Protocol):
    """A black-box maximiser driven by the adapter, one search per decision day.

    ``start`` begins a search from ``x0`` in ``space`` (randomness only from ``rng``), ``ask`` returns
    a population ``(P, dim)``, ``tell`` receives its fitness ``(P,)`` (higher is better), ``stop``
    says when the budget is spent and ``recommend`` gives the answer ``(dim,)``.
    """

    encoding: Encoding

    def start(self, x0: FloatArray, space: SearchSpace, rng: np.random.Generator) -> None: ...

    def ask(self) -> FloatArray: ...

    def tell(self, X: FloatArray, fitness: FloatArray) -> None: ...

    def stop(self) -> bool: ...

    def recommend(self) -> FloatArray: ...


@dataclass(frozen=True)
class SearchResult:
    """Outcome of one search: the recommended point and what it cost."""

    x: FloatArray
    weights: FloatArray
    alpha: float
    fitness: float
    start_fitness: float
    evaluations: int
    scorer_calls: int


@dataclass
class Objective:
    """The fitness of candidate vectors on one window: one scorer call per population."""

    window: ScoringWindow
    space: SearchSpace
    component: Component | str = Component.SIGNAL
    previous: FloatArray | None = None
    turnover_penalty: float = 0.0
    inertia: float = 0.0
    evaluations: int = 0
    #: yesterday's raw (unnormalised) weights: when set, the turnover is charged on raw weights
    #: (the paper's engine) instead of on the normalised ones against ``previous``
    raw_previous: FloatArray | None = None

    def __call__(self, X: npt.ArrayLike) -> FloatArray:
        w, a = self.space.decode(X)
        self.evaluations += w.shape[0]
        return self.score(self.window, w, a)

    def score(self, window: ScoringWindow, w: FloatArray, a: FloatArray) -> FloatArray:
        """Fitness of decoded candidates (weights ``w`` (P, K), alphas ``a`` (P,)) on ``window``."""
        if self.raw_previous is None:
            return window.fitness(w, a, component=self.component, previous=self.previous,
                                  turnover_penalty=self.turnover_penalty, inertia=self.inertia)
        f = window.fitness(w, a, component=self.component, previous=self.previous, inertia=self.inertia)
        return f - self.turnover_penalty * np.abs(w - self.raw_previous).sum(1) / 2.0


def optimise(optimizer: AskTellOptimizer, objective: Objective, x0: npt.ArrayLike,
             rng: np.random.Generator, *, report: bool = True,
             max_generations: int = 100_000) -> SearchResult:
    """Run one ask/tell search of ``objective`` from ``x0``; returns the recommendation.

    Each generation costs exactly one scorer call (``scorer_calls`` = generations). With ``report``
    one more call (not counted) scores the recommendation and the start (``fitness``,
    ``start_fitness``; NaN without it).
    """
    space = objective.space
    x0 = np.asarray(x0, dtype=np.float64)
    calls0, evals0 = objective.window.calls, objective.evaluations
    optimizer.start(x0.copy(), space, rng)
    gens = 0
    while not optimizer.stop() and gens < max_generations:
        X = np.atleast_2d(np.asarray(optimizer.ask(), dtype=np.float64))
        optimizer.tell(X, objective(X))
        gens += 1
    x = np.asarray(optimizer.recommend(), dtype=np.float64)
    calls, evals = objective.window.calls - calls0, objective.evaluations - evals0
    if report:
        f_x, f_0 = (float(v) for v in objective(np.vstack([x, x0])))
    else:
        f_x = f_0 = float("nan")
    w, a = space.decode(x)
    return SearchResult(x, w[0], float(a[0]), f_x, f_0, evals, calls)


@dataclass
class DayLog:
    """What one day's search cost (``BlackBoxPrincipal.log``)."""

    day: int
    evaluations: int
    scorer_calls: int
    window_days: int


class BlackBoxPrincipal(WindowedPrincipal):
    """A leader that re-optimises ``(d, alpha)`` every day with an ask/tell optimiser.

    Args:
        optimizer: the ask/tell optimiser (``MassAnnealing``, ``CMAES``, or any ``AskTellOptimizer``).
        name: label of the principal.
        window: the window options (``principals.window.WindowOptions``), or the same as keywords
            (``component``, ``learn_alpha``, ``alpha``, ``lookback``, ``fitness_horizon``,
            ``turnover_penalty``, ``inertia``, ``min_days``). ``min_days`` defaults to ``lookback``:
            until the window holds that many days the initial commitment (uniform, ``alpha``) is held.
    """

    def __init__(self, optimizer: AskTellOptimizer, *, name: str, window: WindowOptions | None = None,
                 **window_options: Any) -> None:
        if window is not None and window_options:
            raise ValueError("pass the window options either as window= or as keywords, not both")
        self.window = window if window is not None else WindowOptions(**window_options)
        self.name = name
        self.optimizer = optimizer
        self.min_days = self.window.lookback if self.window.min_days is None else self.window.min_days
        self.space: SearchSpace | None = None
        self.log: list[DayLog] = []
        self._x: FloatArray = np.zeros(0)
        self._rng = np.random.default_rng(0)

    # ------------------------------------------------------------------ Principal protocol
    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        self.space = SearchSpace(n_types, self.learn_alpha, self.alpha0, self.optimizer.encoding)
        self._x = self.space.encode(np.ones(n_types), self.alpha0)
        # one Generator per principal, derived from the run seed (never the global RNG)
        self._rng = np.random.default_rng(None if seed is None else [int(seed), _salt(self.name)])
        self.log = []

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        if self.space is None:
            raise RuntimeError(f"{self.name}: call reset() before act()")
        if ctx.n_types != self.space.n_types:
            raise ValueError(f"{self.name}: context has {ctx.n_types} types, reset() said {self.space.n_types}")
        if not self.space.degenerate:
            window = self.fit_window(ctx)
            if window.n_days >= self.min_days:
                res = self.search(window, previous=ctx.applied_weights,
                                  turnover_penalty=self.window.penalty(ctx.rules))
                self._x = res.x
                self.log.append(DayLog(ctx.day, res.evaluations, res.scorer_calls, window.n_days))
        return self._action()

    def observe(self, paid: Sequence[Payoff]) -> None:
        pass  # the fitness is recomputed from the window each day; realised payoffs add nothing

    # ------------------------------------------------------------------ search
    def fit_window(self, ctx: DecisionContext) -> ScoringWindow | ViewWindow:
        """The window a day's search fits on (the recorded reports; a subclass may ask for the views)."""
        return ctx.window(self.lookback, horizon=self.fitness_horizon)

    def objective(self, window: ScoringWindow | ViewWindow, previous: FloatArray | None, turnover_penalty: float,
                  inertia: float) -> Objective:
        """The fitness of a search on ``window``: the candidates scored on the recorded reports."""
        if self.space is None:
            raise RuntimeError(f"{self.name}: call reset() before search()")
        reports = window.reports if isinstance(window, ViewWindow) else window
        return Objective(reports, self.space, self.component, previous, turnover_penalty, inertia)

    def search(self, window: ScoringWindow | ViewWindow, *, previous: npt.ArrayLike | None = None,
               x0: npt.ArrayLike | None = None, report: bool = False,
               turnover_penalty: float | None = None) -> SearchResult:
        """One search on ``window`` from ``x0`` (default: the current solution, i.e. warm start).

        ``previous``: the weights applied today (for the turnover penalty and the inertia);
        ``turnover_penalty``: mu (default: this leader's option, else 0). Costs exactly one scorer
        call per population the optimiser asks for; ``report`` adds one more call to score the
        answer and the start (``SearchResult.fitness``; NaN otherwise).
        """
        if self.space is None:
            raise RuntimeError(f"{self.name}: call reset() before search()")
        mu = self.window.penalty(None) if turnover_penalty is None else float(turnover_penalty)
        inertia = self.window.inertia
        prev = None if previous is None or not (mu or inertia) else np.asarray(previous, np.float64)
        if inertia and prev is None:
            raise ValueError(f"{self.name}: a search with inertia > 0 needs previous (today's applied weights)")
        obj = self.objective(window, prev, mu, inertia if prev is not None else 0.0)
        start = (self._x if x0 is None else np.asarray(x0, dtype=np.float64)).copy()
        if self.window.turnover_weights == "raw" and mu:
            obj.raw_previous = self.space.decode(start)[0][0]  # the start: yesterday's answer, unnormalised
        if self.window.alpha_start == "reset" and self.space.learn_alpha:
            start[self.space.n_types] = self.alpha0
        return optimise(self.optimizer, obj, start, self._rng, report=report)

    def current(self) -> tuple[FloatArray, float]:
        """The current solution as normalised weights and alpha."""
        if self.space is None:
            raise RuntimeError(f"{self.name}: call reset() first")
        w, a = self.space.decode(self._x)
        return w[0] / w[0].sum(), float(a[0])

    def _action(self) -> PrincipalAction:
        w, a = self.current()
        return PrincipalAction(w, a, self.inertia)

    def options(self) -> dict[str, Any]:
        """The principal's settings (for result files)."""
        opt = {k: v for k, v in vars(self.optimizer).items() if not k.startswith("_")}
        return {"name": self.name, **self.window.as_dict(), "min_days": self.min_days,
                "optimizer": type(self.optimizer).__name__, **opt}


def _salt(name: str) -> int:
    """A stable (process-independent) integer from a name, to decorrelate principals' streams."""
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") % (2**31)


def register_window_principal(name: str, optimizer: Callable[..., AskTellOptimizer], *,
                           defaults: Mapping[str, Any], label: str, aliases: Iterable[str] = ()
                           ) -> Callable[..., BlackBoxPrincipal]:
    """Register ``name`` as a ``BlackBoxPrincipal`` driven by ``optimizer``: its options are the window
    options (``defaults`` first) plus ``optimizer``'s own keywords. Returns the factory."""
    defaults = dict(defaults)

    def factory(**options: Any) -> BlackBoxPrincipal:
        window, rest = WindowOptions.split(options)
        check_options(name, rest, inspect.signature(optimizer).parameters)
        return BlackBoxPrincipal(optimizer(**rest), name=name, **{**defaults, **window})

    factory.__doc__ = f"{label}: a BlackBoxPrincipal driven by {getattr(optimizer, '__name__', optimizer)}."
    factory.__module__ = getattr(optimizer, "__module__", __name__)  # the module whose import registers it
    factory.option_types = {**dataclass_types(WindowOptions), **declared_types(optimizer)}  # type: ignore[attr-defined]
    register(name, factory, aliases=aliases, label=label, window_defaults=defaults)
    return factory
