"""Forward returns and when they become known.

Convention (``ReturnSpec``): a signal formed with information as of the close of day ``t`` is
traded at the close of ``t + lag`` and held ``horizon`` trading days, so its return is
``adj_close[t+lag+h] / adj_close[t+lag] - 1`` and it is *realised* (known) at the close of day
``t + lag + h``. ``lag=1`` is the default: nobody trades at the close whose data they are reading.
The return is NaN when the stock cannot trade on the entry or exit day, or the exit is past the data.

A panel may instead carry a vendor's labels for a horizon (``MarketPanel.labels``, MASS's
``ih_label.parq``, a T+1-entry convention): they are used as the lag-1 forward returns of that
horizon, realised at the same close ``t + 1 + h``; other lags have no label and are an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .panel import FloatArray, MarketPanel

HEADLINE_HORIZON = 10
REPORT_HORIZONS = (1, 5, 10)


@dataclass(frozen=True)
class ReturnSpec:
    """Horizon ``h`` (trading days) and execution lag of a forward return."""

    horizon: int = HEADLINE_HORIZON
    lag: int = 1

    def __post_init__(self) -> None:
        if int(self.horizon) < 1:
            raise DataError(f"horizon must be >= 1 trading day, got {self.horizon}")
        if int(self.lag) < 0:
            raise DataError(f"lag must be >= 0, got {self.lag}")

    @property
    def delay(self) -> int:
        """Days between the decision day and the day its return is known."""
        return self.horizon + self.lag

    def realised_on(self, day: int) -> int:
        """Day index at whose close the return of decision day ``day`` is known."""
        return day + self.delay


def forward_returns(panel: MarketPanel, spec: ReturnSpec) -> FloatArray:
    """``(T, N)`` forward returns of every decision day (NaN where not tradable / not yet in data)."""
    if panel.labels:
        if spec.lag != 1:
            raise DataError(f"the panel's labels are T+1 returns; a lag of {spec.lag} has none")
        if spec.horizon not in panel.labels:
            raise DataError(f"the panel has labels for horizons {sorted(panel.labels)}, not {spec.horizon}")
        return np.array(panel.labels[spec.horizon], dtype=np.float64)
    T = panel.n_days
    out = np.full((T, panel.n_symbols), np.nan)
    entry, exit_ = spec.lag, spec.delay
    n = T - exit_
    if n <= 0:
        return out
    p0 = panel.adj_close[entry:entry + n]
    p1 = panel.adj_close[exit_:exit_ + n]
    ok = panel.tradable[entry:entry + n] & panel.tradable[exit_:exit_ + n] & (p0 > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:n] = np.where(ok, p1 / p0 - 1.0, np.nan)
    return out


def realised_mask(n_days: int, asof: int, spec: ReturnSpec) -> np.ndarray:
    """Boolean ``(n_days,)``: decision days whose return is known at the close of ``asof``."""
    return np.arange(n_days) + spec.delay <= asof
