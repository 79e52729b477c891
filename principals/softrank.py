"""A smooth surrogate of Rank IC in torch: the differentiable objective of the gradient principal.

Exact Rank IC (``mass_env.game.metrics.rank_ic``) is the Pearson correlation between the *ranks* of the
signal and the ranks of the returns. Ranks are piecewise constant in the signal, so their gradient is
zero almost everywhere. The surrogate replaces the signal's hard ranks with **pairwise-sigmoid soft
ranks**::

    z_i       = (S_i - mean(S)) / std(S)                   over the stocks usable that day
    rank~_i   = 1/2 + sum_j sigmoid((z_i - z_j) / tau)      (the j = i term adds 1/2)
    tau       = temperature * sqrt(12) / n                  n = usable stocks that day

and keeps the returns' ranks exact: they do not depend on the leader's choice, so they are ranked once
per window with average ranks for ties, exactly as the exact scorer does. The surrogate is then the
masked Pearson correlation of ``rank~`` with those return ranks, averaged over the window's usable
days, the same reduction as ``ScoringWindow.fitness``.

**Why the temperature is tied to the number of stocks.** As ``tau -> 0`` the soft rank is the exact
average rank (ties give ``sigmoid(0) = 1/2`` per pair, i.e. the average rank), and as ``tau -> inf``
it becomes an affine function of ``z``, so the "Spearman" surrogate *collapses to the Pearson IC* of
the raw signal (``surrogate_rank_ic`` then equals ``pearson`` to ~1e-6; see the tests). What
decides which regime one is in is ``tau`` relative to the gap between neighbouring values. For a
z-scored row of n values that gap is about ``sqrt(12) / n`` (the range of a uniform variable with unit
standard deviation is ``sqrt(12)``), so ``temperature`` is measured **in ranks**: 1 means "the sigmoid
blurs a stock with about its nearest neighbour". A fixed ``tau`` on z-scores would be sharp at small
N and Pearson-like at large N; measured in ranks, the same setting means the same thing at 50 stocks
or 500. Values around 0.5-2 keep the surrogate faithful (it orders candidates like the exact Rank
IC) and still give useful gradients; 0.1 is nearly exact but gradients get spiky.

Cost: O(N^2) time and memory per (candidate, day) row (N = 50 stocks, 5 days: a few microseconds
of arithmetic per candidate); fine up to N ~ 300. torch is imported inside the functions and the
classes, so importing ``principals`` never needs torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from mass_env.game.components import Component
from mass_env.game.metrics import average_ranks
from mass_env.game.scoring import ScoringWindow

if TYPE_CHECKING:  # pragma: no cover
    import torch

FloatArray = npt.NDArray[np.float64]
Surrogate = Literal["softrank", "pearson"]
DEFAULT_TEMPERATURE = 1.0
_VAR_FLOOR = 1e-30  # std = sqrt(max(var, floor)): 1e-15 at zero dispersion, zero gradient there


def require_torch() -> Any:
    """Import torch or fail with the install hint (torch is an optional extra)."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError("the gradient principal needs torch: pip install 'torch==2.13.0' "
                          "(the CPU wheel; an unpinned torch pulls a multi-GB CUDA build)") from exc
    return torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads, then restore the previous setting."""
    if not n:
        yield
        return
    torch = require_torch()
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def rank_temperature(n_valid: torch.Tensor, temperature: float) -> torch.Tensor:
    """Sigmoid scale on z-scores for rows of ``n_valid`` usable stocks: ``temperature`` neighbour gaps."""
    return temperature * math.sqrt(12.0) / n_valid.clamp(min=1.0)


def _zscore(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    torch = require_torch()
    m = mask.to(x.dtype)
    n = m.sum(-1, keepdim=True).clamp(min=1.0)
    x0 = torch.where(mask, x, torch.zeros((), dtype=x.dtype))
    mean = x0.sum(-1, keepdim=True) / n
    xc = torch.where(mask, x0 - mean, torch.zeros((), dtype=x.dtype))
    std = torch.sqrt((xc * xc).sum(-1, keepdim=True) / n + 1e-24)
    return xc / std


def soft_rank(x: torch.Tensor, mask: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """Pairwise-sigmoid soft average ranks (1-based) along the last axis over ``mask``; 0 elsewhere.

    ``x`` is ``(..., N)`` (entries outside ``mask`` may be NaN), ``mask`` a bool tensor broadcastable
    to it. Invariant to the scale and location of each row (the row is z-scored first).
    """
    torch = require_torch()
    mask = torch.broadcast_to(mask, x.shape)
    z = _zscore(torch.where(mask, x, torch.zeros((), dtype=x.dtype)), mask)
    n = mask.to(x.dtype).sum(-1, keepdim=True)
    tau = rank_temperature(n, temperature)[..., None]  # (..., 1, 1)
    pair = torch.sigmoid((z[..., :, None] - z[..., None, :]) / tau)  # (..., N, N)
    pair = pair * mask[..., None, :].to(x.dtype)
    r = 0.5 + pair.sum(-1)
    return torch.where(mask, r, torch.zeros((), dtype=x.dtype))


def masked_pearson(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pearson correlation along the last axis over ``mask`` (0 where a side is constant)."""
    torch = require_torch()
    mask = torch.broadcast_to(mask, torch.broadcast_shapes(a.shape, b.shape))
    m = mask.to(a.dtype)
    n = m.sum(-1, keepdim=True).clamp(min=1.0)
    zero = torch.zeros((), dtype=a.dtype)
    a0 = torch.where(mask, a, zero)
    b0 = torch.where(mask, b, zero)
    ac = torch.where(mask, a0 - a0.sum(-1, keepdim=True) / n, zero)
    bc = torch.where(mask, b0 - b0.sum(-1, keepdim=True) / n, zero)
    num = (ac * bc).sum(-1)
    den = torch.sqrt((ac * ac).sum(-1) * (bc * bc).sum(-1) + 1e-30)
    return num / den


class SoftRankWindow:
    """A ``ScoringWindow`` in torch: aggregation + surrogate Rank IC, differentiable in (weights, alpha).

    Built from the window's recorded per-type moments ``(L, 3, K, N)`` and realised returns ``(L, N)``
    only (point in time by construction: the window holds no unrealised return). Reproduces
    ``mass_env.game.aggregation.aggregate`` for both rules (``"agent"``, ``"mass"``) and the window's day
    reduction (mean over usable days). Weights are positive (softmax), so the usable stocks of a day
    (someone looked, return finite) do not depend on the weights and are fixed once.

    ``surrogate="softrank"`` (default) uses ``soft_rank``; ``"pearson"`` the plain Pearson IC of the
    signal (no ranking), for comparison.
    """

    def __init__(self, window: ScoringWindow, *, component: Component | str = Component.SIGNAL,
                 temperature: float = DEFAULT_TEMPERATURE, surrogate: Surrogate = "softrank",
                 dtype: Any = None) -> None:
        torch = require_torch()
        if surrogate not in ("softrank", "pearson"):
            raise ValueError(f"surrogate must be 'softrank' or 'pearson', got {surrogate!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.dtype = dtype or torch.float64
        self.component = Component.parse(component)
        self.temperature = float(temperature)
        self.surrogate = surrogate
        self.rule = window.rule
        self.min_stocks = window.min_stocks
        mom = np.asarray(window.moments, dtype=np.float64)
        ret = np.asarray(window.returns, dtype=np.float64)
        covered = mom[:, 0].sum(1) > 0 if mom.size else np.zeros(ret.shape, bool)  # (L, N)
        valid = covered & np.isfinite(ret)
        n = valid.sum(-1)
        self.n_days = int(ret.shape[0])
        self.n_types = int(mom.shape[2]) if mom.ndim == 4 else 0
        rr = average_ranks(ret, valid)  # exact average ranks of the returns on the usable set
        t = lambda a: torch.tensor(np.array(a, dtype=np.float64), dtype=self.dtype)  # noqa: E731
        self.count, self.total, self.total_sq = t(mom[:, 0]), t(mom[:, 1]), t(mom[:, 2])
        self.mask = torch.as_tensor(valid)
        self.return_ranks = t(np.where(valid, rr, 0.0))
        self.day_ok = torch.as_tensor(n >= self.min_stocks)
        self.days = np.asarray(window.days).copy()

    @property
    def usable_days(self) -> int:
        return int(self.day_ok.sum())

    def _tensor(self, x: Any) -> torch.Tensor:
        torch = require_torch()
        return x if isinstance(x, torch.Tensor) else torch.tensor(np.array(x, np.float64), dtype=self.dtype)

    def aggregate(self, weights: Any, alpha: Any, *, nan_unseen: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Consensus, disagreement and signal ``(P, L, N)`` for weights ``(P, K)`` and alpha ``(P,)``.

        Weights need not be normalised (the rule is scale invariant). Where nobody looked the values
        are NaN (as ``aggregate``) or, with ``nan_unseen=False``, 0: the objective uses 0 there (those
        stocks are masked out anyway) because a NaN would poison the backward pass (0 * NaN).
        """
        torch = require_torch()
        w = self._tensor(weights)
        w = w[None] if w.ndim == 1 else w
        a = self._tensor(alpha).reshape(-1)
        if a.numel() == 1 and w.shape[0] > 1:
            a = a.expand(w.shape[0])
        w = w / w.sum(-1, keepdim=True)
        wb = w[:, None, :, None]  # (P, 1, K, 1) against (L, K, N)
        zero = torch.zeros((), dtype=self.dtype)
        if self.rule == "agent":
            wsum = (wb * self.count).sum(-2)
            safe = torch.where(wsum > 0, wsum, torch.ones((), dtype=self.dtype))
            mean = (wb * self.total).sum(-2) / safe
            m2 = (wb * self.total_sq).sum(-2) / safe
        elif self.rule == "mass":
            seen = self.count > 0
            tm = torch.where(seen, self.total / torch.where(seen, self.count, torch.ones((), dtype=self.dtype)), zero)
            ws = wb * seen.to(self.dtype)
            wsum = ws.sum(-2)
            safe = torch.where(wsum > 0, wsum, torch.ones((), dtype=self.dtype))
            mean = (ws * tm).sum(-2) / safe
            m2 = (ws * tm * tm).sum(-2) / safe
        else:
            raise ValueError(f"unknown aggregation rule {self.rule!r}")
        # a zero dispersion is structural (one agent looked, or all agree) whatever the weights, so
        # the clamp's zero gradient there is the true one; elsewhere this is the exact sqrt
        std = torch.sqrt(torch.clamp(m2 - mean * mean, min=_VAR_FLOOR))
        ok = wsum > 0
        mean, std = torch.where(ok, mean, zero), torch.where(ok, std, zero)
        ab = a[:, None, None]
        signal = ab * mean - (1.0 - ab) * std
        if nan_unseen:
            nan = torch.full((), float("nan"), dtype=self.dtype)
            mean, std, signal = (torch.where(ok, x, nan) for x in (mean, std, signal))
        return mean, std, signal

    def _component(self, weights: Any, alpha: Any) -> torch.Tensor:
        cons, dis, sig = self.aggregate(weights, alpha, nan_unseen=False)
        return self.component.pick(cons, dis, sig)

    def daily(self, weights: Any, alpha: Any) -> torch.Tensor:
        """``(P, L)`` surrogate Rank IC per candidate and day (meaningful where ``day_ok``)."""
        x = self._component(weights, alpha)
        if self.surrogate == "softrank":
            x = soft_rank(x, self.mask, self.temperature)
        return masked_pearson(x, self.return_ranks, self.mask)

    def __call__(self, weights: Any, alpha: Any) -> torch.Tensor:
        """``(P,)`` mean surrogate Rank IC over the usable days (-1 when there is none, no gradient)."""
        torch = require_torch()
        d = self.daily(weights, alpha)
        if self.usable_days == 0:
            return torch.full((d.shape[0],), -1.0, dtype=self.dtype)
        return d[:, self.day_ok].mean(-1)


def surrogate_rank_ic(window: ScoringWindow, weights: npt.ArrayLike, alpha: npt.ArrayLike, *,
                      component: Component | str = Component.SIGNAL, temperature: float = DEFAULT_TEMPERATURE,
                      surrogate: Surrogate = "softrank") -> FloatArray:
    """NumPy convenience: ``(P,)`` surrogate values of candidates, to compare with ``window.fitness``."""
    torch = require_torch()
    obj = SoftRankWindow(window, component=component, temperature=temperature, surrogate=surrogate)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (w.shape[0],))
    with torch.no_grad():
        return obj(w, a).cpu().numpy()


def smooth_turnover(w: torch.Tensor, previous: torch.Tensor, smoothing: float) -> torch.Tensor:
    """``||w - previous||_1 / 2`` with each ``|x|`` replaced by ``sqrt(x^2 + s^2) - s`` (pseudo-Huber).

    Exact at 0, within ``s`` of ``|x|`` everywhere, and differentiable with zero gradient at
    ``w = previous`` (so it does not tilt the per-type prices measured at the applied weights).
    """
    torch = require_torch()
    s = float(smoothing)
    d = w - previous
    if s <= 0:
        return 0.5 * d.abs().sum(-1)
    return 0.5 * (torch.sqrt(d * d + s * s) - s).sum(-1)
