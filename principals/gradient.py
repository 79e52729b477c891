"""The gradient principal: the MBI paper's *differentiable price mechanism* on the aggregation game.

Every day, at the close of t (deciding the commitment of t+1), the principal

1. asks the context for the point-in-time ``ScoringWindow`` (the last ``lookback`` recorded days
   whose ``fitness_horizon``-day return has realised) and turns its per-type moments and realised
   returns into a torch objective (``principals.softrank.SoftRankWindow``). Nothing else is read:
   no panel, no unrealised return;
2. **prices** each type: the gradient of the smooth Rank IC surrogate with respect to each type's
   weight, at the weights the mechanism applies today and today's alpha (see "Prices" below);
3. runs ``steps`` of Adam ascent on ``(type logits z, alpha logit)``, warm-started from yesterday's
   solution, on::

       d(z)    = f / K + (1 - f) * softmax(z)                    (f = weight_floor, 1e-3)
       J(z, a) = softRankIC(S(d(z), sigmoid(a)))  -  turnover_penalty * TV_s(d(z), d_applied)
                 - logit_decay * ||z - mean(z)||^2 / 2

   where ``TV_s`` is ``||d - d_applied||_1 / 2`` with ``|x|`` smoothed to ``sqrt(x^2 + s^2) - s``
   (pseudo-Huber, ``s = tv_smoothing``; within ``s`` of the exact penalty, differentiable, with zero
   gradient at ``d = d_applied``). Every type keeps at least ``f / K`` of the weight: the set of usable
   stocks then never depends on the weights, and no stock's signal hangs on vanishing weights (whose
   ratio has an unbounded derivative). The logit decay is a Gaussian prior toward uniform weights:
   a window of a few days is noisy, and without the prior the ascent overfits it (measured on
   synthetic markets other than the evaluation one: with decay 0 the in-sample Rank IC rises and the
   out-of-sample one falls, most at 32 types);
4. commits ``(d(z), sigmoid(a), inertia)`` for t+1.

**Prices.** The paper's incentive signal for agent i is ``G_i = -dL/dx_i``: the marginal effect of
i's contribution on the mechanism's objective. Here the contribution of type k is its weight in the
aggregate, so ``price_k = dJ_ic / dd_k`` evaluated at the applied weights ``d`` (normalised, sum 1,
floored like the principal's own weights) with the weights treated as *raw* positive weights that
the rule normalises. The aggregation is scale invariant, so ``sum_k d_k price_k = 0``:
``price_k = g_k - sum_j d_j g_j``, type k's marginal value *relative to the weight-average type*
(positive: moving weight toward k raises the expected Rank IC; negative: k drags it down). We report the
gradient per unit of weight rather than per logit because the logit gradient is ``d_k * price_k``:
it vanishes for a type whose weight has been squeezed toward zero, even when that type has become
valuable, so it would not be a usable price.
The turnover term is left out of the price (its smoothed gradient at ``d = d_applied`` is zero
anyway), and the alpha derivative is reported separately (``alpha_prices``).

``prices`` (one ``(K,)`` array per optimised day), ``price_days`` and ``price_frame()`` (tidy: day,
type, price, weight) expose them; ``log`` records each day's surrogate and exact in-sample fitness
before and after the ascent (the exact one is one ``ScoringWindow.fitness`` call for two candidates).

torch is imported only when a principal is reset (``pip install 'torch==2.13.0'``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mass_env.game import Payoff
from mass_env.game.components import Component
from mass_env.game.mechanism import PrincipalAction
from mass_env.game.scoring import ScoringWindow
from mass_env.roles import DecisionContext

from .options import declared_types
from .registry import check_options, register
from .softrank import DEFAULT_TEMPERATURE, SoftRankWindow, require_torch, smooth_turnover, torch_threads
from .window import WindowedPrincipal, WindowOptions

FloatArray = npt.NDArray[np.float64]


@dataclass
class GradientDay:
    """One day's ascent: surrogate and exact window fitness at the start and at the answer."""

    day: int
    window_days: int
    steps: int
    surrogate_start: float
    surrogate_end: float
    exact_start: float
    exact_end: float
    alpha: float
    evaluations: int
    scorer_calls: int


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class GradientPrincipal(WindowedPrincipal):
    """Gradient ascent on a soft-rank Rank IC surrogate, with per-type prices (see module docstring).

    Args:
        component: which Rank IC to maximise: ``"signal"`` (the combined signal), ``"consensus"`` or
            ``"disagreement"`` (of ``-std``), as for SA / CMA-ES.
        learn_alpha: ascend on alpha too (otherwise it stays at ``alpha``).
        alpha: fixed alpha, or the initial one when learned.
        lookback, fitness_horizon, min_days: the window: the last ``lookback`` (20) days whose
            ``fitness_horizon`` (5)-day return has realised; optimise once ``min_days`` (default
            ``min(lookback, 5)``) days are available. SA / CMA-ES use MASS's 5 days; the gradient
            leader defaults to 20 because one soft-rank pass over 20 days is cheap and a 5-day window
            is mostly noise for it (measured on synthetic markets other than the evaluation one; pass
            ``lookback=5`` for MASS's window).
        turnover_penalty: mu in the objective (smoothed L1, see module docstring); None (default) =
            the game's turnover penalty, read from the decision context.
        inertia: the mechanism's inertia put in the action (0: none); with inertia > 0 the objective
            scores the weights the mechanism will apply, ``(d + inertia * d_applied) / (1 + inertia)``.
        steps: Adam steps per day; lr: Adam learning rate (a fresh Adam each day, warm-started point).
        temperature: soft-rank temperature in ranks (``principals.softrank``); 1 = one neighbour gap.
        tv_smoothing: ``s`` of the smoothed turnover penalty.
        logit_decay: L2 pull of the centred logits toward 0 (uniform weights); 0 = none.
        weight_floor: share of the weight spread uniformly (every type keeps ``weight_floor / K``).
        threads: torch threads while the principal computes (default 1; restored afterwards; None =
            leave torch's setting). The tensors are tiny, so threads only add synchronisation, and
            threads that spin at barriers while a sibling is descheduled are much slower on a shared
            machine (measured: ``benchmarks/README.md``, "Threads").
    """

    def __init__(self, *, component: Component | str = Component.SIGNAL, learn_alpha: bool = True, alpha: float = 0.5,
                 lookback: int = 20, fitness_horizon: int = 5, min_days: int | None = None,
                 turnover_penalty: float | None = None, inertia: float = 0.0, steps: int = 30, lr: float = 0.05,
                 temperature: float = DEFAULT_TEMPERATURE, tv_smoothing: float = 1e-3,
                 logit_decay: float = 0.01, weight_floor: float = 1e-3, threads: int | None = 1,
                 name: str = "gradient") -> None:
        self.window = WindowOptions(Component.parse(component), learn_alpha, alpha, lookback, fitness_horizon,
                                    turnover_penalty, inertia, min_days)
        if logit_decay < 0 or tv_smoothing < 0:
            raise ValueError("logit_decay and tv_smoothing must be >= 0")
        if not 0.0 <= weight_floor < 1.0:
            raise ValueError(f"weight_floor must lie in [0, 1), got {weight_floor}")
        if steps < 0 or not lr > 0 or not temperature > 0:
            raise ValueError("steps >= 0, lr > 0 and temperature > 0 are required")
        self.name = name
        self.min_days = min(self.lookback, 5) if self.window.min_days is None else self.window.min_days
        self.steps = int(steps)
        self.lr = float(lr)
        self.temperature = float(temperature)
        self.tv_smoothing = float(tv_smoothing)
        self.logit_decay = float(logit_decay)
        self.weight_floor = float(weight_floor)
        self.threads = threads
        self.n_types = 0
        self._z: FloatArray = np.zeros(0)
        self._a = _logit(self.alpha0)
        self._mu = self.window.penalty(None)
        self.prices: list[FloatArray] = []
        self.alpha_prices: list[float] = []
        self.price_days: list[int] = []
        self.price_weights: list[FloatArray] = []
        self.log: list[GradientDay] = []

    # ------------------------------------------------------------------ Principal protocol
    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        """Start an episode at uniform weights and ``alpha`` (deterministic: ``seed`` is not needed)."""
        require_torch()
        if n_types < 1:
            raise ValueError(f"n_types must be >= 1, got {n_types}")
        self.n_types = int(n_types)
        self._z = np.zeros(self.n_types)
        self._a = _logit(self.alpha0)
        self.prices, self.alpha_prices, self.price_days, self.price_weights, self.log = [], [], [], [], []

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        if self.n_types == 0:
            raise RuntimeError(f"{self.name}: call reset() before act()")
        if ctx.n_types != self.n_types:
            raise ValueError(f"{self.name}: context has {ctx.n_types} types, reset() said {self.n_types}")
        window = ctx.window(self.lookback, horizon=self.fitness_horizon)
        self._mu = self.window.penalty(ctx.rules)
        if window.n_days >= self.min_days:
            with torch_threads(self.threads):
                self.step(window, np.asarray(ctx.applied_weights, np.float64), float(ctx.current.alpha), ctx.day)
        return self._action()

    def observe(self, paid: Sequence[Payoff]) -> None:
        pass  # the objective is rebuilt from the point-in-time window every day

    # ------------------------------------------------------------------ one day
    def objective(self, window: ScoringWindow) -> SoftRankWindow:
        """The torch surrogate of this principal's fitness on ``window``."""
        return SoftRankWindow(window, component=self.component, temperature=self.temperature)

    def price(self, obj: SoftRankWindow, weights: npt.ArrayLike, alpha: float) -> tuple[FloatArray, float]:
        """Per-type prices ``dJ_ic/dd_k`` (and ``dJ_ic/dalpha``) at normalised ``weights`` and ``alpha``."""
        torch = require_torch()
        d = np.asarray(weights, np.float64)
        d = self.weight_floor / d.size + (1.0 - self.weight_floor) * d / d.sum()
        w = torch.tensor(d, dtype=obj.dtype, requires_grad=True)
        a = torch.tensor(float(alpha), dtype=obj.dtype, requires_grad=True)
        val = obj(w[None], a[None])[0]
        if not val.requires_grad:  # no usable day
            return np.zeros(d.size), 0.0
        gw, ga = torch.autograd.grad(val, (w, a), allow_unused=True)
        return gw.detach().numpy().copy(), float(ga) if ga is not None else 0.0

    def step(self, window: ScoringWindow, applied: FloatArray, current_alpha: float, day: int) -> GradientDay | None:
        """Price the types, then ascend from yesterday's solution; updates the current solution."""
        torch = require_torch()
        obj = self.objective(window)
        if obj.usable_days == 0:
            return None
        p, pa = self.price(obj, applied, current_alpha)
        self.prices.append(p)
        self.alpha_prices.append(pa)
        self.price_days.append(int(day))
        self.price_weights.append(applied / applied.sum())

        prev = torch.tensor(applied / applied.sum(), dtype=obj.dtype)
        z = torch.tensor(self._z, dtype=obj.dtype, requires_grad=True)
        a = torch.tensor(self._a, dtype=obj.dtype, requires_grad=self.learn_alpha)
        params = [z, a] if self.learn_alpha else [z]
        opt = torch.optim.Adam(params, lr=self.lr)
        start_w, start_a = self._decode(self._z, self._a)

        mu, inertia = self._mu, self.inertia

        def total(zz: Any, aa: Any) -> tuple[Any, Any]:
            w = self.weight_floor / self.n_types + (1.0 - self.weight_floor) * torch.softmax(zz, -1)
            if inertia:  # what the mechanism will apply tomorrow (w already sums to 1)
                w = (w + inertia * prev) / (1.0 + inertia)
            ic = obj(w[None], torch.sigmoid(aa)[None])[0]
            j = ic
            if mu:
                j = j - mu * smooth_turnover(w, prev, self.tv_smoothing)
            if self.logit_decay:
                zc = zz - zz.mean()
                j = j - 0.5 * self.logit_decay * (zc * zc).sum()
            return j, ic

        s_start = float(total(z, a)[1].detach())
        for _ in range(self.steps):
            opt.zero_grad()
            j, _ = total(z, a)
            (-j).backward()
            opt.step()
        with torch.no_grad():
            z_new = z.detach().numpy().copy()
            a_new = float(a.detach()) if self.learn_alpha else self._a
            s_end = float(total(torch.tensor(z_new, dtype=obj.dtype), torch.tensor(a_new, dtype=obj.dtype))[1])
        self._z, self._a = z_new - z_new.mean(), a_new
        end_w, end_a = self._decode(self._z, self._a)
        prev_np = applied if (mu or inertia) else None
        exact = window.fitness(np.vstack([start_w, end_w]), np.array([start_a, end_a]), component=self.component,
                               previous=prev_np, turnover_penalty=mu, inertia=inertia)
        rec = GradientDay(int(day), window.n_days, self.steps, s_start, s_end, float(exact[0]), float(exact[1]),
                          end_a, self.steps, 1)
        self.log.append(rec)
        return rec

    # ------------------------------------------------------------------ answers
    def _decode(self, z: FloatArray, a: float) -> tuple[FloatArray, float]:
        e = np.exp(z - z.max())
        w = self.weight_floor / z.size + (1.0 - self.weight_floor) * e / e.sum()
        alpha = 1.0 / (1.0 + math.exp(-a)) if self.learn_alpha else self.alpha0
        return w / w.sum(), float(alpha)

    def current(self) -> tuple[FloatArray, float]:
        """The current solution: normalised weights and alpha."""
        if self.n_types == 0:
            raise RuntimeError(f"{self.name}: call reset() first")
        return self._decode(self._z, self._a)

    def _action(self) -> PrincipalAction:
        w, a = self.current()
        return PrincipalAction(w, a, self.inertia)

    def price_frame(self) -> pd.DataFrame:
        """Tidy per-day prices: ``day, type, price, weight`` (+ ``alpha_price`` per day)."""
        rows = []
        for day, p, w, pa in zip(self.price_days, self.prices, self.price_weights, self.alpha_prices):
            for k in range(p.size):
                rows.append({"day": day, "type": k, "price": float(p[k]), "weight": float(w[k]),
                             "alpha_price": pa})
        return pd.DataFrame(rows, columns=["day", "type", "price", "weight", "alpha_price"])

    def log_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.log])

    def options(self) -> dict[str, Any]:
        """Settings (for result files)."""
        return {"name": self.name, **self.window.as_dict(), "min_days": self.min_days, "steps": self.steps,
                "lr": self.lr, "temperature": self.temperature,
                "tv_smoothing": self.tv_smoothing, "logit_decay": self.logit_decay,
                "weight_floor": self.weight_floor,
                "optimizer": "Adam on softmax logits + alpha logit (soft-rank Rank IC surrogate)"}


def make_gradient(**options: Any) -> GradientPrincipal:
    """Gradient ascent on a soft-rank Rank IC surrogate (the MBI differentiable price mechanism)."""
    check_options("gradient", options, inspect.signature(GradientPrincipal).parameters)
    return GradientPrincipal(**options)


make_gradient.option_types = declared_types(GradientPrincipal)  # type: ignore[attr-defined]
register("gradient", make_gradient, aliases=("dpm", "grad"), label="gradient",
         window_defaults={"component": "signal", "learn_alpha": True})
