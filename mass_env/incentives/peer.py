"""Peer-prediction rules: pay without the realised return, by comparing a follower's report with its peers'.

Reports are binarised per follower and day: ``b = 1[report > the day's median of that follower's reports]``
(above / below the cross-sectional median, over the stocks it reported); stock-days are the *tasks*. A
follower's pay is the mean over its peers j != i. No target is needed (``ctx.target`` is ignored).
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from ._base import FloatArray, PayContext, PaymentRule


def binarise(reports: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(b, ok): b = 1 above the row's median (over finite entries), 0 at or below; ok = reported."""
    ok = np.isfinite(reports)
    with warnings.catch_warnings():  # a row with no report has no median: its b is masked by ok anyway
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(np.where(ok, reports, np.nan), axis=-1, keepdims=True)
    b = (np.where(ok, reports, -np.inf) > med).astype(np.float64)
    return b * ok, ok.astype(np.float64)


def _pair_counts(b_a: FloatArray, ok_a: FloatArray, b_b: FloatArray, ok_b: FloatArray) -> dict[str, FloatArray]:
    """Counts over the stocks both report, for every pair (i from a, j from b): arrays (..., F, F, D)."""
    z_a, z_b = ok_a - b_a, ok_b - b_b  # 1 where reported and below the median
    e = "...ids,...jds->...ijd"
    return {
        "n": np.einsum(e, ok_a, ok_b), "n11": np.einsum(e, b_a, b_b), "n00": np.einsum(e, z_a, z_b),
        "n1a": np.einsum(e, b_a, ok_b), "n0a": np.einsum(e, z_a, ok_b),
        "n1b": np.einsum(e, ok_a, b_b), "n0b": np.einsum(e, ok_a, z_b),
    }


def _mean_over_peers(pair: FloatArray, n_pairs: FloatArray) -> FloatArray:
    """Mean over j != i of ``pair[..., i, j, d]`` (pairs with no shared stock skipped); NaN if none."""
    f = pair.shape[-2]
    off = ~np.eye(f, dtype=bool)[:, :, None]
    use = off & (n_pairs > 0) & np.isfinite(pair)
    cnt = use.sum(-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, np.where(use, pair, 0.0).sum(-2) / np.maximum(cnt, 1), np.nan)


class _PeerRule(PaymentRule):
    """A rule paid on agreement with the peers' reports (binarised), one pair at a time."""

    @abstractmethod
    def _pair_pay(self, c: dict[str, FloatArray]) -> FloatArray:
        """Pay of each (follower, peer) pair from their agreement counts ``c``."""

    def _pay_against(self, own: FloatArray, peers: FloatArray) -> FloatArray:
        b_a, ok_a = binarise(own)
        b_b, ok_b = binarise(peers)
        c = _pair_counts(b_a, ok_a, b_b, ok_b)
        with np.errstate(invalid="ignore", divide="ignore"):
            pair = self._pair_pay(c)
        return _mean_over_peers(pair, c["n"])

    def pay(self, reports: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        rep = np.asarray(reports, dtype=np.float64)
        return self._pay_against(rep, rep)

    def deviation_pay(self, candidates: npt.ArrayLike, profile: npt.ArrayLike, ctx: PayContext) -> FloatArray:
        # i's own entry of the profile is on the diagonal of the pair array, which the mean skips
        return self._pay_against(np.asarray(candidates, dtype=np.float64), np.asarray(profile, dtype=np.float64))


@dataclass(frozen=True, repr=False)
class OutputAgreement(_PeerRule):
    """``pay = 1[b_is = b_js]`` on shared stocks: the known *non-truthful* control. Claim: any profile in which
    everyone reports the same thing (e.g. a constant: all below the median) earns the maximal pay 1, so
    uninformative herding is an equilibrium. Reference: von Ahn & Dabbish (2004); Waggoner & Chen (2014)."""

    name: ClassVar[str] = "output_agreement"
    claim: ClassVar[str] = "not truthful: a common constant report is an equilibrium with maximal pay"
    reference: ClassVar[str] = "von Ahn & Dabbish (2004); Waggoner & Chen (2014), Output agreement mechanisms"
    truthful: ClassVar[str] = "no"

    def _pair_pay(self, c: dict[str, FloatArray]) -> FloatArray:
        return (c["n11"] + c["n00"]) / c["n"]


@dataclass(frozen=True, repr=False)
class CorrelatedAgreement(_PeerRule):
    """Correlated agreement with stock-days as tasks: ``pay = 1[b_is = b_js] - 1[b_is' = b_js'']``, s a shared
    stock, s' != s'' two other stocks. The penalty is paid in expectation over all ordered pairs s' != s''
    of the day (a lower-variance version of drawing one pair; same expectation; the pair may include s,
    an O(1/n) difference). Claim (binary signals with positive correlation): informed truthful; any
    uninformed strategy (constant, random) earns 0 in expectation, truth earns more.
    Reference: Shnayder, Agarwal, Frongillo & Parkes (2016), EC; Dasgupta & Ghosh (2013), WWW."""

    name: ClassVar[str] = "peer"
    claim: ClassVar[str] = "informed truthful (CA): uninformed strategies earn 0, truth earns more"
    reference: ClassVar[str] = "Shnayder, Agarwal, Frongillo & Parkes (2016); Dasgupta & Ghosh (2013)"
    truthful: ClassVar[str] = "yes (informed truthful, binary signals)"

    def _pair_pay(self, c: dict[str, FloatArray]) -> FloatArray:
        n = c["n"]
        same = (c["n11"] + c["n00"]) / n
        other = (c["n1a"] * c["n1b"] - c["n11"] + c["n0a"] * c["n0b"] - c["n00"]) / (n * (n - 1.0))
        return same - other
