"""Claims judged on ``DifferenceCI``s: directional parts, Holm-corrected combined claims, and ratio claims
as linear contrasts (the rules: ``experiments.stats.inference``'s module docstring, section Claims).

Kept apart from the standard error itself so that each module stays one idea: ``inference`` says how
precisely a seeds x days difference is known; this module turns those intervals into verdicts
(holds / does not hold / unresolved) with the error rate of a whole claim controlled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from experiments.stats.inference import DifferenceCI, FloatArray, difference_ci
from experiments.stats.statistics import FAILS, HOLDS, UNRESOLVED


@dataclass(frozen=True)
class Part:
    """One directional part of a claim: ``direction * (quantity - threshold) > 0``."""

    label: str
    ci: DifferenceCI
    direction: int = 1
    threshold: float = 0.0


@dataclass(frozen=True)
class PartVerdict:
    label: str
    verdict: str
    estimate: float
    lo: float
    hi: float
    level: float       # the part's Holm level
    p_adjusted: float


@dataclass(frozen=True)
class ClaimVerdict:
    verdict: str
    parts: tuple[PartVerdict, ...]
    note: str = ""

    def text(self, fmt: str = "+.3f") -> str:
        body = "; ".join(f"{p.label} = {p.estimate:{fmt}} [{p.lo:{fmt}}, {p.hi:{fmt}}] "
                         f"({int(round(p.level * 1000)) / 10:g}% CI)" for p in self.parts)
        return (self.note + ("; " if self.note and body else "") + body) if body else self.note


def combine(verdicts: Sequence[str]) -> str:
    """All hold -> holds; any does not hold -> does not hold; otherwise unresolved."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return FAILS if FAILS in verdicts else UNRESOLVED


def holm(p_values: Sequence[float]) -> tuple[FloatArray, FloatArray]:
    """Holm step-down adjusted p-values and each hypothesis' Holm level factor ``1 / (m - rank + 1)``
    (NaN p-values are never rejected and count in ``m``)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    q = np.where(np.isfinite(p), p, 1.0)
    order = np.argsort(q, kind="stable")
    adj_sorted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * q[order]))
    adj = np.empty(m)
    adj[order] = adj_sorted
    factor = np.empty(m)
    factor[order] = 1.0 / (m - np.arange(m))
    return adj, factor


def judge(parts: Sequence[Part], level: float = 0.95) -> ClaimVerdict:
    """A combined claim: every part at its Holm-corrected level (module docstring)."""
    alpha = 1 - level
    pv = [pt.ci.p_value(pt.threshold) for pt in parts]
    adj, factor = holm(pv)
    out = []
    for pt, pa, f in zip(parts, adj, factor):
        lev = 1 - alpha * f
        lo, hi = pt.ci.at(lev)
        if not np.isfinite(pa) or pa > alpha or not np.isfinite(pt.ci.estimate):
            v = UNRESOLVED
        else:
            v = HOLDS if pt.direction * (pt.ci.estimate - pt.threshold) > 0 else FAILS
        out.append(PartVerdict(pt.label, v, pt.ci.estimate, lo, hi, lev, float(pa)))
    return ClaimVerdict(combine([p.verdict for p in out]), tuple(out))


def ratio_claim(num: npt.ArrayLike, den: npt.ArrayLike, band: tuple[float, float], horizon: int,
                level: float = 0.95, label: str = "num / den") -> ClaimVerdict:
    """"``band[0] <= mean(num) / mean(den) <= band[1]``" judged as two linear contrasts, once the
    denominator's interval excludes zero (otherwise unresolved: the ratio is not pinned down)."""
    n, dd = np.asarray(num, np.float64), np.asarray(den, np.float64)
    lo_b, hi_b = band
    den_ci = difference_ci(dd, horizon, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = float(np.nanmean(n) / np.nanmean(dd))
    head = f"{label} = {point:.2f}"
    if not (np.isfinite(den_ci.lo) and np.isfinite(den_ci.hi)) or den_ci.lo <= 0 <= den_ci.hi:
        return ClaimVerdict(UNRESOLVED, (), head + f"; denominator {den_ci.estimate:+.3f} "
                            f"[{den_ci.lo:+.3f}, {den_ci.hi:+.3f}] does not exclude zero")
    sign = 1 if den_ci.estimate > 0 else -1
    parts = [Part(f"{label} >= {lo_b:.2f} (num - {lo_b:.2f} den)", difference_ci(n - lo_b * dd, horizon, level),
                  direction=sign),
             Part(f"{label} <= {hi_b:.2f} ({hi_b:.2f} den - num)", difference_ci(hi_b * dd - n, horizon, level),
                  direction=sign)]
    v = judge(parts, level)
    return ClaimVerdict(v.verdict, v.parts, head)
