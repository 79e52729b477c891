"""Shared pieces of the payment rules: the context a rule pays against, the base class, NaN-aware helpers.

Conventions (all rules): reports have shape ``(..., followers, days, stocks)``, NaN = not reported; ``pay``
returns the pay of every follower per day, ``(..., followers, days)``: the mean over the stocks it reported
(NaN on a day it reported nothing). Expected pay is the mean over days. Leading axes (candidates, seeds)
broadcast. ``deviation_pay`` is the pay of follower i alone switching to ``candidates[k, i]`` while the
others keep ``profile``: the quantity every best response and deviation gain is built from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PayContext:
    """What the mechanism pays against: the realised target (days, stocks) and the consensus weights.

    ``weights``: each follower's weight omega_i in the consensus / aggregate (normalised to sum 1; None =
    equal). ``buckets``: the realised bucket index of the target (days, stocks), for the log score only.
    """

    target: FloatArray
    weights: FloatArray | None = None
    buckets: npt.NDArray[np.int64] | None = None
    min_stocks: int = 5

    def omega(self, n_followers: int) -> FloatArray:
        if self.weights is None:
            return np.full(n_followers, 1.0 / n_followers)
        w = np.asarray(self.weights, dtype=np.float64)
        if w.shape != (n_followers,) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"weights must be {n_followers} non-negative numbers with a positive sum")
        return w / w.sum()


def stock_mean(values: FloatArray) -> FloatArray:
    """Mean over the last axis of the finite entries; NaN where none (no warning)."""
    ok = np.isfinite(values)
    n = ok.sum(-1)
    total = np.where(ok, values, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def others_sums(profile: FloatArray, omega: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Weighted sum and weight of the *other* followers' reports, per follower: both (..., F, D, S).

    A follower's consensus when it reports ``r`` is ``(N_{-i} + omega_i r) / (W_{-i} + omega_i)`` on the
    stocks it reports: weights renormalised over the reporters of each stock.
    """
    ok = np.isfinite(profile)
    w = omega[:, None, None]
    num = np.where(ok, profile, 0.0) * w
    den = ok * w
    return num.sum(-3, keepdims=True) - num, den.sum(-3, keepdims=True) - den


def weighted_consensus(own: FloatArray, n_minus: FloatArray, w_minus: FloatArray, omega: FloatArray) -> FloatArray:
    """Consensus seen by follower i reporting ``own`` (NaN where i does not report)."""
    w = omega[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n_minus + w * own) / (w_minus + w)


class PaymentRule(ABC):
    """A payment rule: vectorised pay, its documented theoretical claim and reference.

    Subclasses set ``name``, ``claim``, ``reference`` and implement ``pay``; ``deviation_pay`` has a generic
    (loop over followers, vectorised over candidates, days and stocks) version that fast rules override.
    ``quadratic_terms`` is not None for rules whose pay is a concave quadratic in the own report with
    Gaussian information: they have a closed-form best response (``responses.linear_best_response``).
    """

    name: ClassVar[str] = ""
    claim: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    #: does truthful reporting of the view form an equilibrium, according to theory ("yes", "no", "open")?
    truthful: ClassVar[str] = "open"

    @abstractmethod
    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        """Pay of every follower per day, ``(..., followers, days)`` (see the module's conventions)."""

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        """Pay (K, F, D) of follower i reporting ``candidates[k, i]`` while the others keep ``profile``."""
        cand = np.asarray(candidates, dtype=np.float64)
        prof = np.asarray(profile, dtype=np.float64)
        out = np.empty(cand.shape[:2] + prof.shape[1:2])
        for i in range(prof.shape[0]):  # a loop over followers only: days and stocks stay vectorised
            full = np.broadcast_to(prof, cand.shape[:1] + prof.shape).copy()
            full[:, i] = cand[:, i]
            out[:, i] = self.pay(full, ctx)[:, i]
        return out

    def quadratic_terms(self, omega_i: float) -> FloatArray | None:
        """Rows ``(lam, s, u, v)``: pay_i = -sum lam (s r_i + u theta + v Abar_{-i})^2 + (terms free of r_i).

        ``Abar_{-i}`` is the others' weighted mean report (weights renormalised). None: not quadratic.
        """
        return None

    def option_string(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<payment rule {self.option_string()}>"
