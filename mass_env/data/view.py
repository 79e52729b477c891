"""Point-in-time access to a panel: the only door through which followers and principals see data.

A ``PointInTimeView`` is pinned to an as-of day. Anything that would reveal information after the
close of that day raises ``LookAheadError``; forward returns are visible only once realised.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import LookAheadError
from .panel import FloatArray, MarketPanel
from .returns import ReturnSpec, forward_returns

_DAILY_FIELDS = ("close", "adj_close", "open", "high", "low", "volume", "tradable", "is_st", "member")


class ForwardReturnCache:
    """Forward returns per ``ReturnSpec`` for one panel, computed once and shared by views."""

    def __init__(self, panel: MarketPanel) -> None:
        self.panel = panel
        self._cache: dict[ReturnSpec, FloatArray] = {}

    def get(self, spec: ReturnSpec) -> FloatArray:
        if spec not in self._cache:
            arr = forward_returns(self.panel, spec)
            arr.setflags(write=False)
            self._cache[spec] = arr
        return self._cache[spec]


class PointInTimeView:
    """Read-only view of ``panel`` as of the close of day index ``asof``."""

    def __init__(self, panel: MarketPanel, asof: int, returns: ForwardReturnCache | None = None) -> None:
        if not 0 <= asof < panel.n_days:
            raise LookAheadError(f"as-of day {asof} outside the panel's {panel.n_days} days")
        self.panel = panel
        self.asof = int(asof)
        self._returns = returns if returns is not None and returns.panel is panel else ForwardReturnCache(panel)

    # ------------------------------------------------------------------ calendar
    @property
    def date(self) -> pd.Timestamp:
        return self.panel.dates[self.asof]

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.panel.symbols

    def _check(self, day: int) -> int:
        if day > self.asof:
            raise LookAheadError(
                f"day {day} ({self.panel.dates[min(day, self.panel.n_days - 1)].date()}) is after "
                f"the as-of day {self.asof} ({self.date.date()})"
            )
        if day < 0:
            raise LookAheadError(f"negative day index {day}")
        return day

    def _start(self, lookback: int | None) -> int:
        if lookback is None:
            return 0
        if lookback < 1:
            raise ValueError(f"lookback must be >= 1, got {lookback}")
        return max(0, self.asof + 1 - lookback)

    # ------------------------------------------------------------------ stock data
    def history(self, field: str, lookback: int | None = None) -> np.ndarray:
        """``(L, N)`` rows of a daily field up to and including the as-of day."""
        if field in _DAILY_FIELDS:
            arr = getattr(self.panel, field)
        elif field in self.panel.valuation:
            arr = self.panel.valuation[field]
        else:
            raise KeyError(
                f"unknown field {field!r}; daily fields {_DAILY_FIELDS}, valuation {sorted(self.panel.valuation)}"
            )
        return arr[self._start(lookback): self.asof + 1]

    def at(self, field: str, day: int | None = None) -> np.ndarray:
        """``(N,)`` values of a daily field on ``day`` (default: the as-of day)."""
        d = self.asof if day is None else self._check(day)
        return self.history(field)[d]

    def universe(self, day: int | None = None) -> np.ndarray:
        d = self.asof if day is None else self._check(day)
        return self.panel.universe[d]

    def industry_returns(self, lookback: int | None = None) -> FloatArray:
        return self.panel.industry_returns[self._start(lookback): self.asof + 1]

    def macro(self, lookback: int | None = None) -> FloatArray:
        """Macro values known at each close (already aligned by release date in the panel)."""
        return self.panel.macro[self._start(lookback): self.asof + 1]

    # ------------------------------------------------------------------ outcomes
    def realised_returns(self, spec: ReturnSpec, lookback: int | None = None) -> FloatArray:
        """Forward returns of decision days up to ``asof``; NaN where not realised by ``asof``."""
        full = self._returns.get(spec)
        start = self._start(lookback)
        rows = full[start: self.asof + 1].copy()
        days = np.arange(start, self.asof + 1)
        rows[days + spec.delay > self.asof] = np.nan
        return rows

    @cached_property
    def dates(self) -> pd.DatetimeIndex:
        return self.panel.dates[: self.asof + 1]
