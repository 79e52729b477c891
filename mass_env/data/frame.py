"""The canonical long table and the one road from it to a ``MarketPanel``.

Every source of market data (a vendor download, the shared research files, a hand-made frame) is
first brought to one *long* table, one row per (date, symbol), and only ``from_long_frame`` turns
tables into panels, so the checks, the defaults and the point-in-time rules live in one place:

    required  date, symbol, close
    optional  adj_close (else close), open, high, low, volume, tradable, is_st, member,
              pe, pb, ps, turnover, industry

Point-in-time conventions: every value on row ``t`` must be known at the close of ``t``. Industry
returns are as of that close; macro series are aligned by *release* date (``macro.align_by_release``).
Vendor column conventions are mapped onto this table in ``vendors``; named datasets in ``datasets``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DataError
from .macro import MacroSeries, align_by_release, parse_dates
from .panel import VALUATION_FIELDS, BoolArray, FloatArray, MarketPanel
from .quality import DataQualityWarning, DataReport, clean_prices, warn_report

REQUIRED_COLUMNS = ("date", "symbol", "close")
PRICE_COLUMNS = ("close", "adj_close", "open", "high", "low", "volume")
_UNKNOWN_INDUSTRY = {"", "-", "--", "nan", "none", "null", "<na>"}
#: Membership columns used when ``member_column`` is not given (first present wins).
MEMBER_COLUMNS = ("member", "in_sse50_that_day", "in_index")
#: Largest gap between consecutive trading days (calendar days) before a table is refused.
MAX_GAP_DAYS = 31
_TEXT_ID_COLUMNS = ("symbol", "code", "ts_code", "ticker", "Ticker", "股票代码", "代码", "Stock")

MacroInput: TypeAlias = (
    pd.DataFrame | Mapping[str, pd.DataFrame | MacroSeries] | tuple[npt.ArrayLike, Sequence[str]] | None
)


# ---------------------------------------------------------------------------------------- helpers
def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{what} is missing required columns {missing}; it has {list(df.columns)}")


def _numeric(values: pd.Series, what: str) -> npt.NDArray[np.float64]:
    """float64 values; blanks become NaN, anything else non-numeric is an error (not silently NaN)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(np.float64)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values).to_numpy(np.float64, na_value=np.nan)
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna() & values.notna() & (values.astype("string").str.strip() != "")
    if bad.any():
        raise DataError(f"column {what!r} must be numeric; found {values[bad].head(3).tolist()}")
    return out.to_numpy(np.float64, na_value=np.nan)


def _boolean(values: pd.Series, what: str) -> npt.NDArray[np.bool_]:
    """Booleans from bool / 0-1 / "true"-"false" columns; missing counts as False."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).to_numpy(bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return (pd.to_numeric(values).fillna(0) != 0).to_numpy(bool)
    txt = values.astype("string").str.strip().str.lower()
    truthy, falsy = {"true", "t", "yes", "y", "1", "1.0"}, {"false", "f", "no", "n", "0", "0.0", ""}
    bad = txt.notna() & ~txt.isin(truthy | falsy)
    if bad.any():
        raise DataError(f"column {what!r} must be boolean; found {values[bad].head(3).tolist()}")
    return txt.isin(truthy).fillna(False).to_numpy(bool)


# ---------------------------------------------------------------------------------------- industries, macro
def _ew_industry_returns(adj: FloatArray, tradable: BoolArray, industry: npt.NDArray[np.int64],
                         n_ind: int) -> FloatArray:
    """Equal-weighted close-to-close return of each industry's tradable stocks (known at that close)."""
    T, N = adj.shape
    r = np.full((T, N), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r[1:] = adj[1:] / adj[:-1] - 1.0
    ok = tradable & np.isfinite(r)
    onehot = np.zeros((N, n_ind))
    known = industry >= 0
    onehot[np.flatnonzero(known), industry[known]] = 1.0
    sums = np.where(ok, r, 0.0) @ onehot
    counts = ok.astype(np.float64) @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)


def _industry_of(symbols: pd.Index, df: pd.DataFrame, sym: pd.Series,
                 industry_map: Mapping[str, str] | pd.Series | None) -> pd.Series:
    """Industry name per symbol: ``industry_map`` first, else the latest non-null ``industry`` row."""
    if industry_map is not None:
        m = industry_map if isinstance(industry_map, pd.Series) else pd.Series(dict(industry_map), dtype=object)
        m.index = m.index.astype(str)
        names = m[~m.index.duplicated(keep="last")].reindex(symbols)
    elif "industry" in df.columns:
        names = pd.Series(df["industry"].to_numpy(), index=sym.to_numpy()).groupby(level=0).last().reindex(symbols)
    else:
        names = pd.Series(np.nan, index=symbols, dtype=object)
    names = names.astype("string").str.strip()
    return names.where(~names.str.lower().isin(_UNKNOWN_INDUSTRY), pd.NA)


def _industry_frame(industry_returns: pd.DataFrame, cal: pd.DatetimeIndex,
                    names: Sequence[str]) -> FloatArray:
    ir = industry_returns
    if "date" in ir.columns:
        ir = ir.set_index("date")
    ir = ir.copy()
    ir.index = parse_dates(ir.index, "industry_returns index")
    if ir.index.has_duplicates:
        raise DataError("industry_returns has duplicate dates")
    missing = [n for n in names if n not in ir.columns]
    if missing:
        raise DataError(f"industry_returns lacks columns for industries {missing[:10]}"
                        f"{' ...' if len(missing) > 10 else ''} (columns must be industry names)")
    block = pd.DataFrame({n: _numeric(ir[n], f"industry_returns[{n}]") for n in names}, index=ir.index)
    return block.reindex(cal).to_numpy(np.float64).reshape(len(cal), len(names))


def _macro_arrays(macro: MacroInput, cal: pd.DatetimeIndex) -> tuple[FloatArray, tuple[str, ...]]:
    if macro is None:
        return np.zeros((len(cal), 0)), ()
    if isinstance(macro, tuple):
        arr, names = macro
        return np.asarray(arr, dtype=np.float64), tuple(str(n) for n in names)
    if isinstance(macro, pd.DataFrame):  # wide, indexed by the day each value became known
        idx = macro.index if "date" not in macro.columns else macro["date"]
        wide = macro.drop(columns=["date"], errors="ignore")
        frames = {str(c): pd.DataFrame({"date": np.asarray(idx), "value": wide[c].to_numpy()}) for c in wide}
        return align_by_release(frames, cal, frequency="daily")
    return align_by_release(macro, cal)


# ---------------------------------------------------------------------------------------- canonical
def _check_calendar(dates: pd.DatetimeIndex, max_gap_days: int | None) -> None:
    """Refuse dates after today (market data cannot come from the future) and calendar holes: a
    panel's k-day return must span k trading days, not a 5-year gap between two downloads."""
    cal = pd.DatetimeIndex(dates.unique()).sort_values()
    future = cal[cal > pd.Timestamp.now().normalize() + pd.Timedelta(days=1)]
    if len(future):
        n = int((dates >= future[0]).sum())
        raise DataError(f"{n} rows are dated after today (e.g. {[str(d.date()) for d in future[:3]]}); "
                        "fix or drop them")
    if max_gap_days is not None and len(cal) > 1:
        gaps = np.diff(cal.asi8) // (86_400 * 10**9)
        worst = int(np.argmax(gaps))
        if gaps[worst] > max_gap_days:
            raise DataError(f"the calendar has a {int(gaps[worst])}-day hole between {cal[worst].date()} and "
                            f"{cal[worst + 1].date()} (more than {max_gap_days} days): returns would span it; load "
                            "the periods as separate panels or pass max_gap_days=None")


#: A day with rows for fewer than this share of the stocks of the days around it is dropped (``sparse_days``).
MIN_DAY_COVERAGE = 0.2
SPARSE_DAYS = "sparse days dropped (a stray row on a non-trading day)"


def from_long_frame(
    df: pd.DataFrame,
    *,
    name: str = "panel",
    industry_map: Mapping[str, str] | pd.Series | None = None,
    industry_returns: pd.DataFrame | None = None,
    macro: MacroInput = None,
    member_column: str | None = None,
    max_gap_days: int | None = MAX_GAP_DAYS,
    min_day_coverage: float | None = MIN_DAY_COVERAGE,
) -> MarketPanel:
    """A ``MarketPanel`` from the canonical long table (see module docstring).

    The calendar is the sorted set of dates in ``df``, the symbols its sorted symbols; cells without a
    row are NaN, not tradable and not members. ``tradable`` defaults to "has a close and an adjusted
    close > 0 and volume > 0" (a given column is also ANDed with having prices). ``member`` defaults
    to True where a row exists (or comes from the first of ``MEMBER_COLUMNS`` present, e.g. the shared
    SSE50 file's ``in_sse50_that_day``). Invalid prices are masked and counted (``quality``; the
    panel's ``report``); symbols are stripped of surrounding spaces (counted); dates after today and
    calendar holes longer than ``max_gap_days`` calendar days (None: no limit) are errors. A *sparse
    day*, one with rows for fewer than ``min_day_coverage`` of the stocks that the days around it have
    (a stray row on a weekend or holiday), is dropped, warned about and counted (``sparse_days``;
    None keeps every day): it would add a near-empty trading day that moves every return and score.
    ``industry_returns`` (wide, dates x industry names, values known at each close) is computed, when
    absent, as the equal-weighted return of the industry's tradable stocks. ``macro`` is a mapping for
    ``align_by_release``, a wide frame indexed by the day values became known, or an already aligned
    ``(array, names)`` pair.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"from_long_frame needs a DataFrame, got {type(df).__name__}")
    _require(df, REQUIRED_COLUMNS, "market table")
    if df.empty:
        raise DataError("market table has no rows")
    dates = parse_dates(df["date"], "date")
    if dates.isna().any():
        raise DataError(f"{int(dates.isna().sum())} rows have no date")
    sparse = sparse_days(dates, min_day_coverage)
    if len(sparse):
        shown = ", ".join(str(d.date()) for d in sparse[:3])
        warnings.warn(f"{name}: {len(sparse)} sparse day(s) dropped, e.g. {shown}: "
                      f"rows for under {min_day_coverage:.0%} of the stocks of the days around them (a stray row "
                      "on a non-trading day?); from_long_frame(..., min_day_coverage=None) keeps them",
                      DataQualityWarning, stacklevel=2)
        keep = ~np.asarray(pd.Index(dates).isin(sparse))
        df, dates = df.loc[keep], dates[keep]
        if isinstance(dates, pd.Series):
            dates = dates.reset_index(drop=True)
    _check_calendar(dates, max_gap_days)
    if df["symbol"].isna().any():
        raise DataError(f"{int(df['symbol'].isna().sum())} rows have no symbol")
    raw_sym = df["symbol"].astype(str).reset_index(drop=True)
    sym = raw_sym.str.strip()
    fixes: dict[str, int] = {"symbols with surrounding spaces (stripped)": int((sym != raw_sym).sum()),
                             SPARSE_DAYS: len(sparse)}
    if (sym == "").any():
        raise DataError(f"{int((sym == '').sum())} rows have a blank symbol")
    keys = pd.DataFrame({"date": dates, "symbol": sym})
    dup = keys.duplicated(keep=False)
    if dup.any():
        ex = keys[dup].head(3).astype(str).agg(" ".join, axis=1).tolist()
        raise DataError(f"{int(keys.duplicated().sum())} duplicate (date, symbol) rows, e.g. {ex}"
                        + (" (after stripping spaces from symbols)" if fixes["symbols with surrounding spaces "
                                                                            "(stripped)"] else ""))

    di, cal = pd.factorize(dates, sort=True)
    si, symbols = pd.factorize(sym, sort=True)
    cal, symbols = pd.DatetimeIndex(cal), pd.Index(symbols)
    T, N = len(cal), len(symbols)

    def grid(values: np.ndarray, fill: float | bool = np.nan) -> np.ndarray:
        out = np.full((T, N), fill, dtype=np.asarray(values).dtype if isinstance(fill, bool) else np.float64)
        out[di, si] = values
        return out

    num = {c: grid(_numeric(df[c].reset_index(drop=True), c)) for c in PRICE_COLUMNS if c in df.columns}
    fixes.update(clean_prices(num, grid(np.ones(len(df), bool), False)))
    close = num["close"]
    adj = num.get("adj_close", close.copy())
    present = grid(np.ones(len(df), bool), False)
    priced = present & np.isfinite(close) & np.isfinite(adj) & (adj > 0)
    if "tradable" in df.columns:
        tradable = grid(_boolean(df["tradable"].reset_index(drop=True), "tradable"), False) & priced
    else:
        tradable = priced & (num["volume"] > 0) if "volume" in num else priced
    mcol = member_column or next((c for c in MEMBER_COLUMNS if c in df.columns), None)
    if mcol is not None:
        _require(df, [mcol], "market table (member_column)")
        member = grid(_boolean(df[mcol].reset_index(drop=True), mcol), False)
    else:
        member = present
    is_st = (grid(_boolean(df["is_st"].reset_index(drop=True), "is_st"), False)
             if "is_st" in df.columns else np.zeros((T, N), bool))
    valuation = {k: grid(_numeric(df[k].reset_index(drop=True), k)) for k in VALUATION_FIELDS if k in df.columns}

    ind_names = _industry_of(symbols, df.reset_index(drop=True), sym, industry_map)
    industry_names = tuple(sorted(ind_names.dropna().unique().tolist()))
    code = pd.Index(industry_names).get_indexer(ind_names.fillna("\0").astype(object)).astype(np.int64)
    if industry_returns is not None:
        ind_ret = _industry_frame(industry_returns, cal, industry_names)
    else:
        ind_ret = _ew_industry_returns(adj, tradable, code, len(industry_names))
    mac, mac_names = _macro_arrays(macro, cal)

    nanfill = np.full((T, N), np.nan)
    report = DataReport({k: v for k, v in fixes.items() if v})
    warn_report(report, name)
    return MarketPanel(
        dates=cal, symbols=tuple(str(s) for s in symbols), close=close, adj_close=adj,
        open=num.get("open", nanfill), high=num.get("high", nanfill), low=num.get("low", nanfill),
        volume=num.get("volume", nanfill), tradable=tradable, is_st=is_st, member=member,
        industry=code, industry_names=industry_names, industry_returns=ind_ret,
        valuation=valuation, macro=mac, macro_names=mac_names, name=name, report=report,
    )


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV (optionally compressed) or parquet file; id columns keep their leading zeros."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no such file: {p}")
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".parq", ".pq"):
        return pd.read_parquet(p)
    if ".csv" in suffixes or ".tsv" in suffixes or ".txt" in suffixes:
        sep = "\t" if ".tsv" in suffixes else ","
        return pd.read_csv(p, sep=sep, dtype={c: str for c in _TEXT_ID_COLUMNS}, encoding="utf-8-sig")
    raise DataError(f"cannot tell the format of {p.name}: expected .csv[.gz] / .tsv / .parquet / .parq")


def sparse_days(dates: pd.Series, min_coverage: float | None, window: int = 11, min_stocks: int = 5
                ) -> pd.DatetimeIndex:
    """Dates whose row count is under ``min_coverage`` x the median count of the ``window`` dates
    around them (only where that median is at least ``min_stocks``: a tiny table is left as it is).
    Local, not global: a universe that grows over the years keeps its early days."""
    if min_coverage is None or not len(dates):
        return pd.DatetimeIndex([])
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise DataError(f"min_day_coverage must lie in [0, 1] or be None, got {min_coverage}")
    counts = dates.value_counts().sort_index()
    around = counts.rolling(window, center=True, min_periods=1).median()
    bad = (counts < float(min_coverage) * around) & (around >= min_stocks)
    return pd.DatetimeIndex(counts.index[bad.to_numpy()])
