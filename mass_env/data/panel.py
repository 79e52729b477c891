"""The one point-in-time market panel type every loader produces and every view reads.

Arrays are dense ``(T, N)`` over a trading calendar and a fixed symbol list, so that hot paths
(features, forward returns, scoring) are plain numpy slices. Missing data is NaN, never zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DataError
from .quality import DataReport

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Valuation / price-value fields a panel may carry (all optional, ``(T, N)``).
VALUATION_FIELDS = ("pe", "pb", "ps", "turnover")


@dataclass(frozen=True, eq=False)
class MarketPanel:
    """Daily market data for ``T`` trading days and ``N`` symbols.

    Attributes:
        dates: trading calendar, strictly increasing (``T``).
        symbols: symbol codes (``N``), unique.
        close: raw close (``T, N``), NaN when not listed / no data.
        adj_close: adjusted close used for every return computation (``T, N``).
        open, high, low, volume: optional OHLCV (``T, N``); NaN-filled when a vendor lacks them.
        tradable: False on suspended days or when there is no price (``T, N``).
        is_st: special-treatment flag (``T, N``), False when unknown.
        member: index membership by day (``T, N``); the universe of day t is ``member & tradable``.
        industry: industry code per symbol (``N``), -1 when unknown.
        industry_names: names of the industry codes.
        industry_returns: daily return of each industry (``T, I``), as of the close of that day.
        valuation: name -> (``T, N``) valuation features (``pe``, ``pb``, ``ps``, ``turnover``).
        macro: (``T, M``) macro series already aligned by *release* date (value known at close t).
        macro_names: names of the macro columns.
        name: free-text description of where the panel came from.
        labels: horizon -> (``T, N``) forward returns given by a vendor instead of computed from
            ``adj_close`` (MASS's ``ih_label.parq``: row t is the return of a signal of day t, T+1
            entry); empty (default) = close-to-close (``returns.forward_returns``).
        report: what loading masked or normalised (``quality.DataReport``; empty for clean input).
    """

    dates: pd.DatetimeIndex
    symbols: tuple[str, ...]
    close: FloatArray
    adj_close: FloatArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    volume: FloatArray
    tradable: BoolArray
    is_st: BoolArray
    member: BoolArray
    industry: npt.NDArray[np.int64]
    industry_names: tuple[str, ...]
    industry_returns: FloatArray
    valuation: Mapping[str, FloatArray] = field(default_factory=dict)
    macro: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    macro_names: tuple[str, ...] = ()
    name: str = "panel"
    labels: Mapping[int, FloatArray] = field(default_factory=dict)
    report: DataReport = field(default_factory=DataReport)

    def __post_init__(self) -> None:
        dates = pd.DatetimeIndex(self.dates)
        object.__setattr__(self, "dates", dates)
        T, N = len(dates), len(self.symbols)
        if T == 0 or N == 0:
            raise DataError(f"panel {self.name!r} is empty: {T} days x {N} symbols")
        if not dates.is_monotonic_increasing or dates.has_duplicates:
            raise DataError("panel dates must be strictly increasing and unique")
        if len(set(self.symbols)) != N:
            raise DataError("panel symbols must be unique")
        for fname in ("close", "adj_close", "open", "high", "low", "volume"):
            _check_shape(self, fname, (T, N), np.float64)
        for fname in ("tradable", "is_st", "member"):
            _check_shape(self, fname, (T, N), np.bool_)
        ind = np.asarray(self.industry, dtype=np.int64)
        if ind.shape != (N,):
            raise DataError(f"industry must have shape ({N},), got {ind.shape}")
        n_ind = len(self.industry_names)
        if ind.size and (ind.max(initial=-1) >= n_ind or ind.min(initial=0) < -1):
            raise DataError("industry codes must lie in [-1, len(industry_names))")
        object.__setattr__(self, "industry", ind)
        ir = np.asarray(self.industry_returns, dtype=np.float64)
        if ir.shape != (T, n_ind):
            raise DataError(f"industry_returns must have shape ({T}, {n_ind}), got {ir.shape}")
        object.__setattr__(self, "industry_returns", ir)
        val = {}
        for key, arr in dict(self.valuation).items():
            a = np.asarray(arr, dtype=np.float64)
            if a.shape != (T, N):
                raise DataError(f"valuation[{key!r}] must have shape ({T}, {N}), got {a.shape}")
            val[key] = a
        object.__setattr__(self, "valuation", val)
        labels = {}
        for h, arr in dict(self.labels).items():
            a = np.asarray(arr, dtype=np.float64)
            if int(h) < 1 or a.shape != (T, N):
                raise DataError(f"labels[{h!r}] must be a horizon >= 1 with shape ({T}, {N}), got {a.shape}")
            labels[int(h)] = a
        object.__setattr__(self, "labels", labels)
        mac = np.asarray(self.macro, dtype=np.float64)
        if mac.size == 0:
            mac = np.zeros((T, 0))
        if mac.shape != (T, len(self.macro_names)):
            raise DataError(
                f"macro must have shape ({T}, {len(self.macro_names)}), got {mac.shape}"
            )
        object.__setattr__(self, "macro", mac)
        for arr in self._arrays():
            arr.setflags(write=False)
        empty = ~np.isfinite(self.close).any(axis=1)
        if empty.any():
            raise DataError(f"days without any price (empty days): {[str(d.date()) for d in dates[empty][:5]]}")
        if not np.isfinite(self.adj_close[self.tradable]).all():
            raise DataError("a tradable (symbol, day) has no finite adjusted close")

    # ------------------------------------------------------------------ shape helpers
    @property
    def n_days(self) -> int:
        return len(self.dates)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def universe(self) -> BoolArray:
        """Stocks that can be scored on day t: index members that trade that day."""
        return self.member & self.tradable

    def symbol_index(self, symbols: str | list[str] | tuple[str, ...]) -> npt.NDArray[np.int64]:
        """Column indices of ``symbols``; raises ``DataError`` naming any unknown symbol."""
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        lookup = {s: i for i, s in enumerate(self.symbols)}
        missing = [s for s in wanted if s not in lookup]
        if missing:
            raise DataError(f"unknown symbols: {missing[:10]}{' ...' if len(missing) > 10 else ''}")
        return np.array([lookup[s] for s in wanted], dtype=np.int64)

    def day_index(self, date: str | pd.Timestamp) -> int:
        """Index of a trading date; raises ``DataError`` if it is not a trading day of the panel."""
        ts = pd.Timestamp(date)
        pos = self.dates.get_indexer([ts])[0]
        if pos < 0:
            raise DataError(f"{ts.date()} is not a trading day of panel {self.name!r}")
        return int(pos)

    def slice_days(self, start: int, stop: int) -> MarketPanel:
        """A panel restricted to days ``[start, stop)`` (used to build perturbation tests, windows)."""
        sl = slice(start, stop)
        return replace(
            self,
            dates=self.dates[sl],
            close=self.close[sl], adj_close=self.adj_close[sl], open=self.open[sl],
            high=self.high[sl], low=self.low[sl], volume=self.volume[sl],
            tradable=self.tradable[sl], is_st=self.is_st[sl], member=self.member[sl],
            industry_returns=self.industry_returns[sl],
            valuation={k: v[sl] for k, v in self.valuation.items()},
            macro=self.macro[sl], labels={h: v[sl] for h, v in self.labels.items()},
        )

    def with_arrays(self, **arrays: object) -> MarketPanel:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **arrays)  # type: ignore[arg-type]

    def _arrays(self) -> list[np.ndarray]:
        out = [self.close, self.adj_close, self.open, self.high, self.low, self.volume,
               self.tradable, self.is_st, self.member, self.industry, self.industry_returns,
               self.macro]
        out.extend(self.valuation.values())
        out.extend(self.labels.values())
        return out

    def summary(self) -> str:
        uni = self.universe.sum(axis=1)
        return (
            f"{self.name}: {self.n_days} days {self.dates[0].date()}..{self.dates[-1].date()}, "
            f"{self.n_symbols} symbols (universe {int(uni.min())}-{int(uni.max())}/day), "
            f"{len(self.industry_names)} industries, valuation {sorted(self.valuation)}, "
            f"macro {list(self.macro_names)}"
            + (f"; data faults fixed while loading: {self.report.text()}" if self.report else "")
        )


def _check_shape(panel: MarketPanel, fname: str, shape: tuple[int, int], dtype: type) -> None:
    arr = np.asarray(getattr(panel, fname))
    if arr.shape != shape:
        raise DataError(f"panel field {fname!r} must have shape {shape}, got {arr.shape}")
    if dtype is np.bool_:
        if arr.dtype != np.bool_:
            raise DataError(f"panel field {fname!r} must be boolean, got {arr.dtype}")
    else:
        arr = arr.astype(np.float64, copy=True)
    object.__setattr__(panel, fname, np.array(arr, copy=True))
