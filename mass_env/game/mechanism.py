"""The leader's action ``(d, alpha, inertia)``, its Box codec, turnover and the stability mechanism.

Two different things have been called "lambda"; this project gives each its own word:

* ``inertia`` (the action's third component, the mechanism's lambda): if it only scaled a penalty in
  the leader's own payoff, a payoff-maximising leader would always choose 0 and the action would be
  meaningless. Here it is a *commitment to inertia* enforced by the mechanism: the weights actually
  applied on day t are the proximal average

      d_applied_t = (d_t + inertia_t * d_applied_{t-1}) / (1 + inertia_t)      (normalised weights)

  so a larger inertia makes the announced rule stickier (followers can rely on it) at the price of
  responsiveness. It changes the realised signal, so it is a real lever with a real trade-off.
* ``turnover_penalty`` (mu, the paper's lambda in configs E/F, ``GameConfig.turnover_penalty``): when
  the game's stability constraint is on, the leader's payoff is charged
  ``mu * ||d_t - d_{t-1}||_1 / 2`` on the applied, normalised weights.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from ..errors import ActionError
from .aggregation import normalise_weights

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PrincipalAction:
    """A commitment: nonnegative type weights (any scale), alpha in [0, 1], inertia >= 0."""

    weights: FloatArray
    alpha: float = 0.5
    inertia: float = 0.0
    normalised: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=np.float64, copy=True)
        if w.ndim != 1 or w.size == 0:
            raise ActionError(f"weights must be a nonempty 1-D array, got shape {w.shape}")
        norm = normalise_weights(w)
        w.setflags(write=False)
        norm.setflags(write=False)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "normalised", norm)
        a, inertia = float(self.alpha), float(self.inertia)
        if not np.isfinite(a) or not 0.0 <= a <= 1.0:
            raise ActionError(f"alpha must lie in [0, 1], got {self.alpha}")
        if not np.isfinite(inertia) or inertia < 0.0:
            raise ActionError(f"inertia must be a finite number >= 0, got {self.inertia}")
        object.__setattr__(self, "alpha", a)
        object.__setattr__(self, "inertia", inertia)

    if not TYPE_CHECKING:  # (hidden from type checkers, which would then accept any attribute)
        def __getattr__(self, name: str):  # only for names not found: says where a removed one went
            from ..removed import removed_attribute

            raise removed_attribute(type(self), name)

    @property
    def n_types(self) -> int:
        return self.weights.size

    @classmethod
    def _checked(cls, weights: FloatArray, alpha: float, inertia: float) -> PrincipalAction:
        """An action from values already known valid (``ActionCodec.decode`` builds them so): finite
        nonnegative weights with a positive sum, a fresh array; alpha in [0, 1]; inertia >= 0. The same
        fields as the constructor, without checking them again every step."""
        out = object.__new__(cls)
        norm = weights / np.add.reduce(weights, -1, keepdims=True)  # normalise_weights' arithmetic
        weights.setflags(write=False)
        norm.setflags(write=False)
        object.__setattr__(out, "weights", weights)
        object.__setattr__(out, "normalised", norm)
        object.__setattr__(out, "alpha", float(alpha))
        object.__setattr__(out, "inertia", float(inertia))
        return out

    @classmethod
    def uniform(cls, n_types: int, alpha: float = 0.5, inertia: float = 0.0) -> PrincipalAction:
        return cls(np.ones(n_types), alpha, inertia)

    def as_dict(self) -> dict[str, object]:
        return {"weights": self.normalised.tolist(), "alpha": self.alpha, "inertia": self.inertia}


def turnover(new: npt.ArrayLike, old: npt.ArrayLike) -> FloatArray:
    """``||d_new - d_old||_1 / 2`` on normalised weights, in [0, 1]; broadcasts over candidates."""
    a = normalise_weights(new)
    b = normalise_weights(old)
    return 0.5 * np.abs(a - b).sum(-1)


def apply_inertia(proposed: npt.ArrayLike, previous: npt.ArrayLike, inertia: float) -> FloatArray:
    """The stability mechanism: proximal average of the proposal and the previously applied weights
    (broadcasts over candidates ``(P, K)``)."""
    p = normalise_weights(proposed)
    q = normalise_weights(previous)
    return (p + inertia * q) / (1.0 + inertia)


#: Leader action encodings: ``symmetric`` (default) and the pre-0.2 ``simplex`` one (kept for old policies).
ENCODINGS = ("symmetric", "simplex")
#: In the symmetric encoding the weights are ``softmax(LOGIT_SCALE * a[:K])``: a policy at the edges of
#: the box can put up to ``e^(2 * LOGIT_SCALE)`` (~400x) more weight on one type than on another.
LOGIT_SCALE = 3.0
_TOL = 1e-6  # float32 round-off at the box edges is not "out of range"


class ActionCodec:
    """Maps the bounded Box that RL libraries use to a ``PrincipalAction``.

    ``encoding="symmetric"`` (default): ``Box(-1, 1, (K+2,))``, ``[z_1..z_K, a, i]`` decodes to weights
    ``softmax(LOGIT_SCALE * z)``, ``alpha = (a + 1) / 2`` and ``inertia = inertia_max * max(i, 0)``. The
    zero action is the neutral commitment (equal weights, alpha 0.5, no inertia), so an untrained
    policy whose mean action is ~0 starts where a careful human would, not in a corner of the box.

    ``encoding="simplex"``: the old ``Box(0, 1, (K+2,))`` = ``[d_1..d_K, alpha, inertia/inertia_max]``;
    an all-zero ``d`` decodes to uniform weights (counted in ``zero_weight_fallbacks``). Its centre is
    alpha 0.5 with half the inertia, and an untrained policy lands near pure disagreement; kept only
    for policies trained with it (``principals.rl`` reads the encoding from the policy's action space).

    Out-of-range values (one policy for the leader and the followers, see ``StackelbergGame``): values
    outside the box are clipped to it and counted in ``clipped_values``; with ``strict=True`` they are
    an ``ActionError`` instead. NaN or inf is always an error. Counters are per episode
    (``reset_counts``, called by ``StackelbergGame.reset``).
    """

    def __init__(self, n_types: int, inertia_max: float = 1.0, *, encoding: str = "symmetric",
                 strict: bool = False) -> None:
        if n_types < 1:
            raise ActionError("need at least one investor type")
        if not inertia_max >= 0:
            raise ActionError(f"inertia_max must be >= 0, got {inertia_max}")
        if encoding not in ENCODINGS:
            raise ActionError(f"unknown action encoding {encoding!r}; choose from {', '.join(ENCODINGS)}")
        self.n_types = int(n_types)
        self.inertia_max = float(inertia_max)
        self.encoding = encoding
        self.strict = bool(strict)
        self.low = -1.0 if encoding == "symmetric" else 0.0
        self.space = spaces.Box(self.low, 1.0, shape=(n_types + 2,), dtype=np.float32)
        self.zero_weight_fallbacks = 0
        self.clipped_values = 0

    def reset_counts(self) -> None:
        """Start a new episode's counters (fallbacks and clipped values)."""
        self.zero_weight_fallbacks = 0
        self.clipped_values = 0

    def decode(self, box: npt.ArrayLike) -> PrincipalAction:
        if (type(box) is np.ndarray and box.dtype.kind == "f" and box.shape == (self.n_types + 2,)
                and self.encoding == "symmetric" and self.inertia_max < np.inf):
            vals = box.tolist()  # Python floats: exact, and cheaper than numpy scalars for ten values
            low = self.low
            if all(low <= v <= 1.0 for v in vals):  # the common case: inside the box (NaN is not), nothing to clip
                K = self.n_types
                z = LOGIT_SCALE * box[:K].astype(np.float64)
                w = np.exp(z - np.maximum.reduce(z))
                return PrincipalAction._checked(w / np.add.reduce(w), 0.5 * (vals[K] + 1.0),
                                                self.inertia_max * max(vals[K + 1], 0.0))
        a = numeric_array(box, "principal action")
        if a.shape != (self.n_types + 2,):
            raise ActionError(f"principal action must have shape ({self.n_types + 2},), got {a.shape}")
        if not np.isfinite(a).all():
            raise ActionError("principal action contains NaN or inf")
        out = int(((a < self.low - _TOL) | (a > 1.0 + _TOL)).sum())
        if out and self.strict:
            raise ActionError(f"principal action has {out} value(s) outside [{self.low:g}, 1] (strict mode): "
                              f"{np.round(a, 4).tolist()}")
        self.clipped_values += out
        a = np.clip(a, self.low, 1.0)
        K = self.n_types
        if self.encoding == "symmetric":
            z = LOGIT_SCALE * a[:K]
            w = np.exp(z - z.max())
            return PrincipalAction(w / w.sum(), 0.5 * (a[K] + 1.0), self.inertia_max * max(float(a[K + 1]), 0.0))
        w = a[:K]
        if w.sum() <= 1e-12:
            self.zero_weight_fallbacks += 1
            w = np.ones(K)
        return PrincipalAction(w, float(a[K]), self.inertia_max * float(a[K + 1]))

    def decode_many(self, boxes: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, IntArray, IntArray]:
        """``decode`` of ``(E, K+2)`` Box points, one per game, with the same arithmetic per row (so each row
        equals its ``decode``): ``(normalised weights (E, K), alpha (E,), inertia (E,), clipped values (E,),
        zero-weight fallbacks (E,))``. The counts are returned, not added: each game keeps its own."""
        a = numeric_array(boxes, "principal action")
        K = self.n_types
        if a.ndim != 2 or a.shape[1] != K + 2:
            raise ActionError(f"principal actions must have shape (E, {K + 2}), got {a.shape}")
        if not np.isfinite(a).all():
            raise ActionError("principal action contains NaN or inf")
        out = ((a < self.low - _TOL) | (a > 1.0 + _TOL)).sum(1)
        if out.any() and self.strict:
            bad = int(np.flatnonzero(out)[0])
            raise ActionError(f"principal action has {int(out[bad])} value(s) outside [{self.low:g}, 1] (strict "
                              f"mode): {np.round(a[bad], 4).tolist()}")
        a = np.clip(a, self.low, 1.0)
        fallbacks = np.zeros(a.shape[0], dtype=np.int64)
        if self.encoding == "symmetric":
            z = LOGIT_SCALE * a[:, :K]
            w = np.exp(z - z.max(1, keepdims=True))
            w = w / w.sum(1, keepdims=True)
            alpha = 0.5 * (a[:, K] + 1.0)
            inertia = self.inertia_max * np.where(0.0 > a[:, K + 1], 0.0, a[:, K + 1])  # max(i, 0) as Python's
        else:
            w = a[:, :K].copy()
            zero = w.sum(1) <= 1e-12
            fallbacks += zero
            w[zero] = 1.0
            alpha = a[:, K].copy()
            inertia = self.inertia_max * a[:, K + 1]
        return w / w.sum(1, keepdims=True), alpha, inertia, out.astype(np.int64), fallbacks

    def encode(self, action: PrincipalAction) -> npt.NDArray[np.float32]:
        """The box point that decodes to ``action`` (symmetric: exact while the largest/smallest weight
        ratio is within ``e^(2 * LOGIT_SCALE)``; more extreme ratios and zero weights are clipped)."""
        if action.n_types != self.n_types:
            raise ActionError(f"action has {action.n_types} types, codec expects {self.n_types}")
        rel = 0.0 if self.inertia_max == 0 else min(action.inertia / self.inertia_max, 1.0)
        if self.encoding == "simplex":
            return np.concatenate([action.normalised, [action.alpha, rel]]).astype(np.float32)
        with np.errstate(divide="ignore"):
            logw = np.log(action.normalised) / LOGIT_SCALE
        fin = np.isfinite(logw)
        centre = 0.5 * (logw[fin].max() + logw[fin].min())
        z = np.clip(np.where(fin, logw - centre, -1.0), -1.0, 1.0)
        return np.concatenate([z, [2.0 * action.alpha - 1.0, rel]]).astype(np.float32)

    def coerce(self, action: object) -> PrincipalAction:
        """Accept a ``PrincipalAction`` (validated, never clipped) or a Box vector (``decode``)."""
        if isinstance(action, PrincipalAction):
            if action.n_types != self.n_types:
                raise ActionError(f"action has {action.n_types} types, expected {self.n_types}")
            if action.inertia > self.inertia_max:
                raise ActionError(f"inertia {action.inertia} exceeds inertia_max {self.inertia_max}")
            return action
        return self.decode(action)  # type: ignore[arg-type]


def numeric_array(x: object, what: str) -> np.ndarray:
    """``x`` as a float64 array, or an ``ActionError`` saying what it was: a dict, a text, an array of
    texts or of objects that are not numbers (never converted silently: ``"0.5"`` is not a weight)."""
    if isinstance(x, (str, bytes, Mapping)) or x is None:
        raise ActionError(f"{what} must be an array of numbers, got a {type(x).__name__}")
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"{what} must be an array of numbers ({exc})") from None
    if a.dtype.kind == "O" and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in a.flat):
        a = a.astype(np.float64)
    if a.dtype.kind not in "biuf":
        raise ActionError(f"{what} must be an array of numbers, got an array of {a.dtype} "
                          f"({type(next(iter(a.flat), None)).__name__} values)")
    return a.astype(np.float64, copy=False)
