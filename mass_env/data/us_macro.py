"""US macro series (``us_macro_marketsage/``: FRED + Yahoo, 1999-2024) dated by when they were PUBLIC.

``data_raw.csv`` indexes every value by the period it describes (a monthly value on the 1st of its
month, a daily value on its day), which is not when anyone could trade on it. Each series used here
carries an explicit release rule, applied by ``macro.align_by_release`` (a value shows on the first
trading day on or after its release day and is forward-filled):

=============  ==========================  ==================================================================
series         source column / frequency   treated as public
=============  ==========================  ==================================================================
cpi_yoy        US_CPI (CPIAUCSL), monthly  end of the month described + 20 days (BLS CPI prints ~10th-15th of
                                           the next month; 12-month change of the index)
unemployment   US_UNEMPLOYMENT, monthly    end of month + 10 days (BLS jobs report: first Friday, <= the 10th)
ism_pmi        pmi.csv ``Actual``          the file's DATE (the 1st of the RELEASE month: ISM prints on the
                                           first business day at 10:00 ET) + 3 days, covering weekends and
                                           Labor Day
fed_funds      FEDFUNDS (EFFR), daily      next day (the NY Fed publishes day d's rate at 9:00 on d+1)
ust_10y        GS10 (^TNX), daily          next day (the rule for every daily series: FRED/H.15 and ICE
t10y2y         T10Y2Y, daily               values appear after the 16:00 close, VIX settles at 16:15)
hy_spread      HIGH_YIELD_SPREAD, daily    next day
vix            VIX, daily                  next day
=============  ==========================  ==================================================================

The monthly lags hold for every release from 2018 to 2024 (the span of the US panel). What remains:
FRED serves the LATEST vintage, so seasonally adjusted CPI and unemployment carry later revisions
(annual seasonal-factor updates, a few hundredths of a point); real-time vintages (ALFRED) are not in
the shared data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .macro import MacroSeries, parse_dates

US_MACRO_DIR = "us_macro_marketsage"


@dataclass(frozen=True)
class ReleaseRule:
    """Where a series is in ``data_raw.csv`` and how late it becomes public (see module docstring)."""

    column: str
    frequency: str
    lag_days: int
    yoy: bool = False


#: name -> rule, in the order the macro columns appear in a panel.
US_MACRO: Mapping[str, ReleaseRule] = {
    "cpi_yoy": ReleaseRule("US_CPI", "monthly", 20, yoy=True),
    "unemployment": ReleaseRule("US_UNEMPLOYMENT", "monthly", 10),
    "fed_funds": ReleaseRule("FEDFUNDS", "daily", 1),
    "ust_10y": ReleaseRule("GS10", "daily", 1),
    "t10y2y": ReleaseRule("T10Y2Y", "daily", 1),
    "hy_spread": ReleaseRule("HIGH_YIELD_SPREAD", "daily", 1),
    "vix": ReleaseRule("VIX", "daily", 1),
}
#: ISM manufacturing PMI: dated by the 1st of its release month; public 3 days later at the latest.
ISM_PMI_LAG_DAYS = 3


def _yoy(frame: pd.DataFrame) -> pd.DataFrame:
    """12-month change of a monthly index, only where the month 12 months earlier is present."""
    s = pd.Series(frame["value"].to_numpy(float), index=frame["date"].dt.to_period("M"))
    s = s[~s.index.duplicated(keep="last")].sort_index()
    prev = s.reindex(s.index - 12).to_numpy()
    out = pd.DataFrame({"date": s.index.to_timestamp(), "value": s.to_numpy() / prev - 1.0})
    return out.dropna()


def us_macro(data_root: str | os.PathLike[str]) -> dict[str, MacroSeries]:
    """The US macro series as ``MacroSeries`` with their release rules, ready for ``align_by_release``."""
    folder = Path(data_root) / US_MACRO_DIR
    raw_path, pmi_path = folder / "data_raw.csv", folder / "pmi.csv"
    for p in (raw_path, pmi_path):
        if not p.is_file():
            raise DataError(f"{p} not found (US macro needs {US_MACRO_DIR}/data_raw.csv and pmi.csv)")
    raw = pd.read_csv(raw_path, usecols=["DATE"] + [r.column for r in US_MACRO.values()])
    date = parse_dates(raw["DATE"], "data_raw.csv DATE")
    out: dict[str, MacroSeries] = {}
    for name, rule in US_MACRO.items():
        frame = pd.DataFrame({"date": date, "value": pd.to_numeric(raw[rule.column], errors="coerce")}).dropna()
        if rule.yoy:
            frame = _yoy(frame)
        out[name] = MacroSeries(frame, frequency=rule.frequency, lag_days=rule.lag_days)
    pmi = pd.read_csv(pmi_path, usecols=["DATE", "Actual"]).dropna()
    out["ism_pmi"] = MacroSeries(pmi, date_column="DATE", value_column="Actual", release_column="DATE",
                                 lag_days=ISM_PMI_LAG_DAYS)
    return out
