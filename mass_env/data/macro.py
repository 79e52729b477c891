"""Macro series on a trading calendar, visible only from the day they were *released*.

A monthly number describes a month but is published weeks later; indexing it by the month it describes
lets a simulation trade on it before anyone could. ``align_by_release`` therefore places every value on
the first trading day on or after its release date and forward-fills from there, so row ``t`` of the
result holds exactly what was public at the close of day ``t``.

Release dates come from an explicit column when the data has one, otherwise from the period the value
describes plus a conservative publication lag (``DEFAULT_RELEASE_LAG_DAYS``). Dates are day-level: a
value released during day ``d`` counts as known at the close of ``d``; for releases after the close
(e.g. US data at 20:00 exchange time) pass ``lag_days=1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DataError

FloatArray = npt.NDArray[np.float64]

FREQUENCIES = ("daily", "weekly", "monthly", "quarterly", "annual")

#: Days between the END of the period a value describes and the day it is treated as public.
#: daily: a market close is known at that close. monthly: China's NBS CPI/PPI come out around the
#: 9th-12th, but holidays push them as late as the 16th-20th (Dec-2010 CPI on 2011-01-20, Jan-2022
#: CPI on 2022-02-16), PBoC money data ~10th-15th, NBS activity data ~15th-17th; the 20th of the
#: following month covers all of them. Official PMI (last day of the month) could use 0-1.
#: quarterly: GDP ~15-20 days (China) / ~30 days (US advance). annual: ~2 months.
DEFAULT_RELEASE_LAG_DAYS: Mapping[str, int] = {
    "daily": 0, "weekly": 7, "monthly": 20, "quarterly": 30, "annual": 90,
}

_PERIOD_CODE = {"weekly": "W-SUN", "monthly": "M", "quarterly": "Q", "annual": "Y"}
_CN_MONTH = re.compile(r"^\s*(\d{4})\s*年\s*(\d{1,2})\s*月")


@dataclass(frozen=True)
class MacroSeries:
    """One macro table and how to date it.

    ``frame`` has an observation/period date column and a value column. If ``release_column`` is
    set (and present), the value is public from that date plus ``lag_days`` (default 0); otherwise
    from the end of the ``frequency`` period containing the observation date plus ``lag_days``
    (default ``DEFAULT_RELEASE_LAG_DAYS[frequency]``).
    """

    frame: pd.DataFrame
    frequency: str = "daily"
    date_column: str = "date"
    value_column: str = "value"
    release_column: str | None = None
    lag_days: int | None = None


#: Explicit formats tried on a text date column, each on the whole column (never row by row).
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y",
                "%d.%m.%Y", "%d/%m/%y", "%m/%d/%y", "%b %d, %Y", "%d %b %Y", "%Y-%m-%d %H:%M:%S",
                "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def _text_dates(txt: pd.Series, what: str) -> pd.DatetimeIndex:
    """One format for the whole column: every explicit format that parses all values is a candidate;
    candidates that disagree on any value make the column ambiguous (an error), none falls back to
    ISO 8601 (time zones, fractional seconds). Guessing per row read 03/04 and 13/04 differently."""
    vals = txt.dropna()
    if vals.empty:
        return pd.DatetimeIndex(pd.to_datetime(txt, format="ISO8601"))
    uniq = pd.Series(vals.unique())
    fits: dict[str, pd.Series] = {}
    for fmt in DATE_FORMATS:
        got = pd.to_datetime(uniq, format=fmt, errors="coerce")
        if got.notna().all():
            fits[fmt] = got
    if fits:
        first_fmt, first = next(iter(fits.items()))
        clash = [f for f, g in fits.items() if not g.equals(first)]
        if clash:
            i = int(np.flatnonzero((fits[clash[0]] != first).to_numpy())[0])
            raise DataError(f"{what} dates are ambiguous: {uniq.iloc[i]!r} reads as {first.iloc[i].date()} with "
                            f"{first_fmt!r} but {fits[clash[0]].iloc[i].date()} with {clash[0]!r}; write them as "
                            "yyyy-mm-dd (ISO 8601)")
        return pd.DatetimeIndex(pd.to_datetime(txt, format=first_fmt))
    try:
        return pd.DatetimeIndex(pd.to_datetime(txt, format="ISO8601"))
    except (ValueError, TypeError, OverflowError):
        bad = uniq[pd.to_datetime(uniq, format="ISO8601", errors="coerce").isna()]
        raise DataError(f"cannot parse {what} values (e.g. {bad.head(3).tolist()}): no single date format fits "
                        f"the whole column; use yyyy-mm-dd (ISO 8601) or one of {list(DATE_FORMATS)}") from None


def parse_dates(values: pd.Series | pd.Index | npt.ArrayLike, what: str = "date") -> pd.DatetimeIndex:
    """Day-level timestamps from datetimes, ``YYYYMMDD`` integers/strings, text dates in one format per
    column (``DATE_FORMATS`` or ISO 8601; ambiguous day/month order is an error) or Chinese month labels
    (``2023年01月份`` -> 2023-01-01). Timezones are dropped keeping the local calendar day."""
    s = pd.Series(values).reset_index(drop=True)
    try:
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out = pd.DatetimeIndex(s)
        elif pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            ints = pd.to_numeric(s).astype("Int64").astype("string")
            out = pd.DatetimeIndex(pd.to_datetime(ints, format="%Y%m%d"))
        else:
            txt = s.astype("string").str.strip()
            cn = txt.str.extract(_CN_MONTH)
            has_cn = cn[0].notna()
            if has_cn.any():
                txt = txt.where(~has_cn, cn[0] + "-" + cn[1].str.zfill(2) + "-01")
            out = _text_dates(txt, what)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, DataError):
            raise
        sample = s.astype(str).head(3).tolist()
        raise DataError(f"cannot parse {what} values (e.g. {sample}): {exc}") from None
    if out.tz is not None:
        out = out.tz_localize(None)
    return out.normalize().as_unit("ns")


def release_dates(observed: pd.DatetimeIndex, frequency: str, lag_days: int | None = None) -> pd.DatetimeIndex:
    """Conservative first day each value is public: end of its period + ``lag_days``."""
    if frequency not in FREQUENCIES:
        raise DataError(f"unknown macro frequency {frequency!r}; expected one of {FREQUENCIES}")
    lag = DEFAULT_RELEASE_LAG_DAYS[frequency] if lag_days is None else int(lag_days)
    if lag < 0:
        raise DataError(f"release lag must be >= 0 days, got {lag}")
    obs = pd.DatetimeIndex(observed)
    if frequency == "daily":
        end = obs.normalize()
    else:
        end = obs.to_period(_PERIOD_CODE[frequency]).to_timestamp(how="end").normalize()
    return pd.DatetimeIndex(end + pd.Timedelta(days=lag)).as_unit("ns")


def _check_calendar(calendar: pd.DatetimeIndex | npt.ArrayLike) -> pd.DatetimeIndex:
    cal = pd.DatetimeIndex(calendar)
    if cal.tz is not None:
        cal = cal.tz_localize(None)
    cal = cal.normalize().as_unit("ns")
    if len(cal) == 0 or not cal.is_monotonic_increasing or cal.has_duplicates:
        raise DataError("calendar must be a non-empty, strictly increasing list of days")
    return cal


def _align_one(name: str, spec: MacroSeries, cal: pd.DatetimeIndex) -> FloatArray:
    df = spec.frame
    need = [spec.date_column, spec.value_column] + ([spec.release_column] if spec.release_column else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"macro series {name!r} lacks columns {missing}; has {list(df.columns)}")
    raw = df[spec.value_column].reset_index(drop=True)
    vals = pd.to_numeric(raw, errors="coerce")
    bad = vals.isna() & raw.notna() & (raw.astype("string").str.strip() != "")
    if bad.any():
        raise DataError(f"macro series {name!r} has non-numeric values, e.g. {raw[bad].head(3).tolist()}")
    observed = parse_dates(df[spec.date_column], f"{name}.{spec.date_column}")
    if spec.release_column:
        released = parse_dates(df[spec.release_column], f"{name}.{spec.release_column}")
        released = released + pd.Timedelta(days=int(spec.lag_days or 0))
    else:
        released = release_dates(observed, spec.frequency, spec.lag_days)
    keep = vals.notna().to_numpy() & ~released.isna() & ~observed.isna()
    pos = cal.searchsorted(released[keep], side="left")  # first trading day on/after release
    table = pd.DataFrame({
        "pos": pos, "rel": released[keep], "obs": observed[keep], "v": vals.to_numpy(np.float64)[keep],
    })
    table = table[table["pos"] < len(cal)].sort_values(["pos", "rel", "obs"], kind="stable")
    latest = table.groupby("pos", sort=True)["v"].last()  # latest release (then latest period) wins
    out = pd.Series(np.nan, index=np.arange(len(cal)))
    out.iloc[latest.index.to_numpy()] = latest.to_numpy()
    return out.ffill().to_numpy(np.float64)


def align_by_release(
    series_frames: Mapping[str, pd.DataFrame | MacroSeries],
    calendar: pd.DatetimeIndex | npt.ArrayLike,
    *,
    frequency: str | Mapping[str, str] = "daily",
    lag_days: int | Mapping[str, int] | None = None,
    date_column: str = "date",
    value_column: str = "value",
    release_column: str = "release_date",
) -> tuple[FloatArray, tuple[str, ...]]:
    """``(T, M)`` values known at each close of ``calendar`` and the ``M`` series names.

    Each entry is a ``MacroSeries`` or a plain DataFrame; plain frames use ``date_column`` /
    ``value_column``, their ``release_column`` if present, else ``frequency`` and ``lag_days``
    (a single value or a per-name mapping). Values released on non-trading days appear on the next
    trading day; later releases replace earlier ones (revisions); days before the first release and
    NaN values leave NaN / the previous value.
    """
    cal = _check_calendar(calendar)
    names = tuple(str(n) for n in series_frames)
    cols: list[FloatArray] = []
    for name, item in series_frames.items():
        if isinstance(item, MacroSeries):
            spec = item
        elif isinstance(item, pd.DataFrame):
            freq = frequency.get(name, "daily") if isinstance(frequency, Mapping) else frequency
            lag = lag_days.get(name) if isinstance(lag_days, Mapping) else lag_days
            spec = MacroSeries(
                item, frequency=freq, date_column=date_column, value_column=value_column,
                release_column=release_column if release_column in item.columns else None, lag_days=lag,
            )
        else:
            raise DataError(f"macro series {name!r} must be a DataFrame or MacroSeries, got {type(item).__name__}")
        cols.append(_align_one(str(name), spec, cal))
    arr = np.column_stack(cols) if cols else np.zeros((len(cal), 0))
    return arr.astype(np.float64), names
