"""Data faults found while a table becomes a panel: masked or normalised, and always counted.

Why: a bad print (a negative or infinite price, a 1e-300, a x1000 spike) that only makes a stock
untradable still reaches the followers' features through the trailing returns, and moves every
Rank IC downstream. Loaders therefore mask invalid values to NaN *before* anything is computed from
them, and count each kind of fix in a ``DataReport`` that the panel carries (``MarketPanel.report``)
and prints (``MarketPanel.summary``); ``from_long_frame`` also emits one ``DataQualityWarning``.

Price checks are point in time: a price is judged against the symbol's last valid price, never
against later ones, so a mask cannot leak the future. The one exception is a symbol's *first* price,
which has no past: it is checked against the next two prices (it is dropped only when it disagrees
with both while they agree with each other). A jump by more than ``JUMP`` (20x up or down) in one
trading day is impossible for an adjusted price and is masked; if the new level persists for
``REANCHOR`` consecutive prints it is accepted as the new level (the first of them stay masked).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: One-day move (either direction) beyond which an adjusted price is treated as a bad print.
JUMP = 20.0
#: Consecutive prints at a new level after which the level is accepted (the earlier ones stay masked).
REANCHOR = 3


class DataQualityWarning(UserWarning):
    """Loading fixed (masked or normalised) some of the input; ``MarketPanel.report`` counts what."""


@dataclass(frozen=True)
class DataReport:
    """What loading masked or normalised, as ``kind -> count`` (empty: the input was clean)."""

    counts: Mapping[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.counts.values())

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return ((k, v) for k, v in self.counts.items() if v)

    def __getitem__(self, kind: str) -> int:
        return int(self.counts.get(kind, 0))

    def text(self) -> str:
        return ", ".join(f"{v} {k}" for k, v in self) if self else "none"

    def merged(self, other: Mapping[str, int]) -> DataReport:
        out = dict(self.counts)
        for k, v in other.items():
            out[k] = out.get(k, 0) + int(v)
        return DataReport(out)


def warn_report(report: DataReport, what: str) -> None:
    """One visible warning naming every fix (nothing when the input was clean)."""
    if report:
        warnings.warn(f"{what}: data faults fixed while loading: {report.text()} "
                      "(see MarketPanel.report)", DataQualityWarning, stacklevel=3)


def _first_price_outliers(logp: FloatArray, lim: float) -> BoolArray:
    """``(T, N)`` True at a symbol's first price when it disagrees with its next two prices, which agree."""
    T, N = logp.shape
    out = np.zeros((T, N), bool)
    ok = np.isfinite(logp)
    order = np.cumsum(ok, axis=0) * ok  # 1 at the first observed price, 2 at the second, ...
    firsts = []
    for k in (1, 2, 3):
        rows = np.argmax(order == k, axis=0)
        has = (order == k).any(axis=0)
        firsts.append((rows, np.where(has, logp[rows, np.arange(N)], np.nan)))
    (r1, p1), (_, p2), (_, p3) = firsts
    with np.errstate(invalid="ignore"):
        bad = (np.abs(p1 - p2) > lim) & (np.abs(p1 - p3) > lim) & (np.abs(p2 - p3) <= lim)
    out[r1[bad], np.flatnonzero(bad)] = True
    return out


def price_jumps(adj: FloatArray, *, jump: float = JUMP, reanchor: int = REANCHOR) -> BoolArray:
    """``(T, N)`` True where a finite positive price jumps more than ``jump``-fold from the symbol's
    last valid price (point in time; see the module docstring). Loops over days, vectorised over stocks."""
    T, N = adj.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        logp = np.where(np.isfinite(adj) & (adj > 0), np.log(np.where(adj > 0, adj, 1.0)), np.nan)
    lim = float(np.log(jump))
    bad = _first_price_outliers(logp, lim)
    ref = np.full(N, np.nan)  # log of the last valid price
    run_ref = np.full(N, np.nan)  # level of the current run of rejected prints
    run_len = np.zeros(N, np.int64)
    for t in range(T):
        x = logp[t]
        ok = np.isfinite(x) & ~bad[t]
        with np.errstate(invalid="ignore"):
            far = ok & np.isfinite(ref) & (np.abs(x - ref) > lim)
            same = far & (np.abs(x - run_ref) <= lim)
        run_len = np.where(far, np.where(same, run_len + 1, 1), np.where(ok, 0, run_len))
        run_ref = np.where(far & ~same, x, np.where(ok & ~far, np.nan, run_ref))
        accept = far & (run_len >= reanchor)
        bad[t] |= far & ~accept
        ref = np.where(ok & ~bad[t], x, ref)
        run_len = np.where(accept, 0, run_len)
        run_ref = np.where(accept, np.nan, run_ref)
    return bad


def clean_prices(num: dict[str, FloatArray], present: BoolArray) -> dict[str, int]:
    """Mask invalid values of the price/volume grids in ``num`` in place; return counts by kind.

    Prices (close, adj_close, open, high, low) must be finite and > 0; volume finite and >= 0; the
    adjusted close (the one every return and feature uses) must not jump (``price_jumps``). A bad
    close or adjusted close masks the whole bar (all prices of that cell), since which one is wrong
    cannot be told.
    """
    counts: dict[str, int] = {}
    bar_bad = np.zeros(present.shape, bool)
    for col in ("close", "adj_close", "open", "high", "low"):
        if col not in num:
            continue
        v = num[col]
        with np.errstate(invalid="ignore"):
            nonfinite = present & np.isinf(v)
            nonpos = present & np.isfinite(v) & (v <= 0)
        counts[f"{col}: infinite"] = int(nonfinite.sum())
        counts[f"{col}: <= 0"] = int(nonpos.sum())
        bad = nonfinite | nonpos
        v[bad] = np.nan
        if col in ("close", "adj_close"):
            bar_bad |= bad
    adj = num.get("adj_close", num["close"])
    jumps = price_jumps(adj) & ~bar_bad
    counts[f"{'adj_close' if 'adj_close' in num else 'close'}: >{JUMP:g}x one-day jump"] = int(jumps.sum())
    bar_bad |= jumps
    for col in ("close", "adj_close", "open", "high", "low"):
        if col in num:
            num[col][bar_bad] = np.nan
    counts["bars masked (all prices NaN, untradable)"] = int((bar_bad & present).sum())
    if "volume" in num:
        v = num["volume"]
        with np.errstate(invalid="ignore"):
            badv = present & (np.isinf(v) | (v < 0))
        counts["volume: negative or infinite"] = int(badv.sum())
        v[badv] = np.nan
    return {k: n for k, n in counts.items() if n}
