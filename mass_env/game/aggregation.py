"""The scoring rule's aggregation: consensus, disagreement and the combined signal.

Followers' signals are reduced once to per-type sufficient statistics (count, sum, sum of squares
over the agents of each type that looked at each stock). Any weights ``d`` can then be applied to a
whole population of candidates with one matrix product, independent of the number of agents.

Three rules are provided:

* ``"agent"`` (the paper): every agent that looked at stock i counts with its type's weight ``d_k``;
  consensus = weighted mean, disagreement = weighted (population) standard deviation.
* ``"mass"`` (the MASS code): first a per-type mean (the selection rate when signals are 0/1), then
  the ``d``-weighted mean and standard deviation *across the types that looked*.
* ``"selection_rate"`` (what the MASS code really computes, ``InvestmentAnalyzer``): the per-type
  selection rate picked/exposed, where a type none of whose agents saw stock i has rate **0** (unseen
  and rejected are the same), then the ``d``-weighted mean and standard deviation across *all* types.

Under ``"agent"`` and ``"mass"`` agents that did not look at a stock are missing, not zero, and a
stock nobody (with positive weight) looked at gets NaN and is left out of every IC. Under
``"selection_rate"`` only a stock no agent of any type saw is NaN (MASS scores it 0 with the rest of
its pool; with 64 agents of ~17 candidates each that practically never happens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..errors import ActionError

FloatArray = npt.NDArray[np.float64]
Rule = Literal["agent", "mass", "selection_rate"]
RULES: tuple[str, ...] = ("agent", "mass", "selection_rate")
_SNAP_DECIMALS = 12  # results equal up to 1e-12 are ties, so float noise cannot break rank ties


@dataclass(frozen=True)
class TypeMoments:
    """Per-type sufficient statistics of follower signals, arrays of shape ``(..., K, N)``."""

    count: FloatArray
    total: FloatArray
    total_sq: FloatArray

    @property
    def n_types(self) -> int:
        return self.count.shape[-2]

    def type_mean(self) -> FloatArray:
        """Mean signal of each type per stock (NaN where no agent of the type looked)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)

    def stack(self) -> FloatArray:
        """``(..., 3, K, N)`` array (for recording windows)."""
        return np.stack([self.count, self.total, self.total_sq], axis=-3)

    @classmethod
    def from_stacked(cls, arr: npt.ArrayLike) -> TypeMoments:
        a = np.asarray(arr, dtype=np.float64)
        return cls(a[..., 0, :, :], a[..., 1, :, :], a[..., 2, :, :])


def type_moments(signals: npt.ArrayLike, agent_type: npt.ArrayLike, n_types: int) -> TypeMoments:
    """Reduce agents' signals ``(..., A, N)`` (NaN = did not look) to ``TypeMoments``."""
    x = np.asarray(signals, dtype=np.float64)
    at = np.asarray(agent_type, dtype=np.int64)
    if x.ndim < 2 or x.shape[-2] != at.shape[0]:
        raise ActionError(f"signals must be (..., A={at.shape[0]}, N), got shape {x.shape}")
    if at.size and (at.min() < 0 or at.max() >= n_types):
        raise ActionError(f"agent types must lie in [0, {n_types})")
    looked = np.isfinite(x)
    x0 = np.where(looked, x, 0.0)
    stacked = np.stack([looked.astype(np.float64), x0, x0 * x0])
    starts = type_starts(at, n_types)
    if starts is not None:  # agents grouped by type (how the game lays them out): segment sums, O(A*N)
        sums = np.add.reduceat(stacked, starts, axis=-2)
    else:
        onehot = np.zeros((n_types, at.size))
        onehot[at, np.arange(at.size)] = 1.0
        sums = np.matmul(onehot, stacked)
    return TypeMoments(sums[0], sums[1], sums[2])


def type_starts(agent_type: npt.NDArray[np.int64], n_types: int) -> npt.NDArray[np.intp] | None:
    """First row of each type when the agents are grouped by type 0..K-1 in order (how the game lays
    them out), else None."""
    at = agent_type
    if at.size and (np.diff(at) >= 0).all() and np.array_equal(np.unique(at), np.arange(n_types)):
        return np.flatnonzero(np.r_[True, at[1:] != at[:-1]])
    return None


def normalise_weights(d: npt.ArrayLike, n_types: int | None = None) -> FloatArray:
    """Validate nonnegative weights ``(..., K)`` and scale each row to sum to one."""
    w = np.asarray(d, dtype=np.float64)
    if n_types is not None and w.shape[-1] != n_types:
        raise ActionError(f"weights must have {n_types} entries (one per type), got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ActionError("weights contain NaN or inf")
    if (w < 0).any():
        raise ActionError(f"weights must be nonnegative, got min {w.min():.3g}")
    s = w.sum(-1, keepdims=True)
    if (s <= 0).any():
        raise ActionError("weights sum to zero: at least one type needs positive weight")
    return w / s


def _snap(x: FloatArray) -> FloatArray:
    return x.round(_SNAP_DECIMALS)  # np.round's own method, without its wrapper


@dataclass(frozen=True)
class Aggregate:
    """Consensus, disagreement and combined signal, each ``(..., N)`` (NaN where nobody looked)."""

    consensus: FloatArray
    disagreement: FloatArray
    signal: FloatArray


@dataclass(frozen=True)
class WeighingBasis:
    """A rule's per-type inputs prepared once, so any number of weight vectors costs three matrix
    products (BLAS) and no per-call reshaping: the scorer re-weighs the same window thousands of
    times a day (SA's 20 moves, CMA-ES's generations, the oracle's 1000 candidates).

    Arrays are ``(K, M)`` with the moments' leading axes and stocks flattened into ``M``; weights
    ``w`` give ``mean = w @ first / w @ den`` and ``m2 = w @ second / w @ den``. ``den`` is None when the
    rule's weights are normalised over all types (``selection_rate``); then ``seen`` marks the stocks
    some agent looked at.
    """

    first: FloatArray
    second: FloatArray
    den: FloatArray | None
    seen: npt.NDArray[np.bool_] | None
    shape: tuple[int, ...]

    @classmethod
    def of(cls, moments: TypeMoments, rule: Rule = "agent") -> WeighingBasis:
        K = moments.n_types
        shape = moments.count.shape[:-2] + moments.count.shape[-1:]

        def flat(x: FloatArray) -> FloatArray:
            return np.ascontiguousarray(np.moveaxis(x, -2, 0)).reshape(K, -1)

        if rule == "agent":
            return cls(flat(moments.total), flat(moments.total_sq), flat(moments.count), None, shape)
        if rule == "mass":  # the d-weighted mean and std across the types that looked
            tm = moments.type_mean()
            seen = np.isfinite(tm)
            tm0 = np.where(seen, tm, 0.0)
            return cls(flat(tm0), flat(tm0 * tm0), flat(seen.astype(np.float64)), None, shape)
        if rule == "selection_rate":
            rate = np.nan_to_num(moments.type_mean(), nan=0.0)  # unseen counts as a rejection
            return cls(flat(rate), flat(rate * rate), None, moments.count.sum(-2).reshape(-1) > 0, shape)
        raise ValueError(f"unknown aggregation rule {rule!r}; use one of {', '.join(RULES)}")

    @property
    def n_types(self) -> int:
        return int(self.first.shape[0])


def aggregate(
    moments: TypeMoments | WeighingBasis,
    weights: npt.ArrayLike,
    alpha: npt.ArrayLike,
    rule: Rule = "agent",
) -> Aggregate:
    """Apply weights ``(K,)`` or ``(P, K)`` and alpha (scalar or ``(P,)``) to moments ``(..., K, N)``
    (or to a ``WeighingBasis`` already prepared for ``rule``).

    With ``P`` candidates the outputs gain a leading ``P`` axis: ``(P, ..., N)``.
    """
    basis = moments if isinstance(moments, WeighingBasis) else WeighingBasis.of(moments, rule)
    K = basis.n_types
    w = normalise_weights(weights, K)
    a = np.asarray(alpha, dtype=np.float64)
    if not np.isfinite(a).all() or (a < 0).any() or (a > 1).any():
        raise ActionError(f"alpha must lie in [0, 1], got {a}")
    batched = w.ndim == 2
    wv = w if batched else w[None]
    if batched and a.ndim not in (0, 1) or (a.ndim == 1 and a.shape[0] != wv.shape[0]):
        raise ActionError(f"alpha must be a scalar or one per candidate ({wv.shape[0]}), got {a.shape}")
    if not batched and a.ndim:
        raise ActionError("alpha must be a scalar when weights are a single vector")
    mean, std, signal = weigh(basis, wv, a)
    out = (wv.shape[0], *basis.shape)
    mean, std, signal = mean.reshape(out), std.reshape(out), signal.reshape(out)
    if not batched:
        return Aggregate(mean[0], std[0], signal[0])
    return Aggregate(mean, std, signal)


def weigh(basis: WeighingBasis, weights: FloatArray, alpha: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``aggregate``'s arithmetic on checked inputs: normalised weights ``(P, K)``, alpha a 0-d array or
    ``(P,)``; consensus, disagreement and signal ``(P, M)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, m2 = weights @ basis.first, weights @ basis.second
        if basis.den is not None:
            wsum = weights @ basis.den
            mean, m2 = mean / wsum, m2 / wsum
            ok = wsum > 0
        else:  # rows of w sum to one; a stock counts when some agent saw it
            ok = np.broadcast_to(basis.seen, mean.shape)  # type: ignore[arg-type]
        return combine(mean, m2, ok, alpha)


def combine(mean: FloatArray, m2: FloatArray, ok: npt.NDArray[np.bool_], alpha: FloatArray
            ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Consensus, disagreement and signal from the weighted mean and mean square (``weigh``'s last
    part; the game's step weighs its moments in one product and calls it, inside its ``errstate``)."""
    mean = np.where(ok, mean, np.nan)
    std = np.where(ok, np.sqrt(np.maximum(m2 - mean * mean, 0.0)), np.nan)
    mean, std = _snap(mean), _snap(std)
    ab = alpha.reshape(alpha.shape + (1,) * (mean.ndim - 1)) if alpha.ndim else alpha
    return mean, std, _snap(ab * mean - (1.0 - ab) * std)
