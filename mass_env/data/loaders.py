"""Turn market data tables into ``MarketPanel``s.

Everything goes through one canonical *long* table (``from_long_frame``): one row per (date, symbol)
with columns

    required  date, symbol, close
    optional  adj_close (else close), open, high, low, volume, tradable, is_st, member,
              pe, pb, ps, turnover, industry

``normalise_columns`` maps the column conventions of common vendors (baostock, tushare, akshare,
yfinance) onto it; the ``load_*`` functions read the research fixtures under ``shared/data`` (see its
README) and take its path as an argument, so the package never depends on that folder.

Point-in-time conventions: every value on row ``t`` must be known at the close of ``t``. Industry
returns are as of that close; macro series are aligned by *release* date (``macro.align_by_release``).
A-share codes are normalised to the bare 6-digit exchange code ("sh.600000", "600000.SH",
"SH600000" -> "600000"), which is unique across the Shanghai, Shenzhen and Beijing exchanges.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DataError
from .macro import MacroSeries, align_by_release, parse_dates
from .panel import VALUATION_FIELDS, BoolArray, FloatArray, MarketPanel

REQUIRED_COLUMNS = ("date", "symbol", "close")
PRICE_COLUMNS = ("close", "adj_close", "open", "high", "low", "volume")
_UNKNOWN_INDUSTRY = {"", "-", "--", "nan", "none", "null", "<na>"}
_TEXT_ID_COLUMNS = ("symbol", "code", "ts_code", "ticker", "Ticker", "股票代码", "代码", "Stock")

MacroInput = pd.DataFrame | Mapping[str, pd.DataFrame | MacroSeries] | tuple[npt.ArrayLike, Sequence[str]] | None


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


def cn_code(codes: pd.Series) -> pd.Series:
    """Bare 6-digit A-share code from any vendor spelling; other codes are kept as they are."""
    s = codes.astype("string").str.strip()
    six = s.str.extract(r"(?<!\d)(\d{6})(?!\d)", expand=False)
    short = s.str.extract(r"^(\d{1,5})(?:\.0)?$", expand=False).str.zfill(6)  # 1 -> "000001"
    return six.fillna(short).fillna(s).astype(object)


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
def from_long_frame(
    df: pd.DataFrame,
    *,
    name: str = "panel",
    industry_map: Mapping[str, str] | pd.Series | None = None,
    industry_returns: pd.DataFrame | None = None,
    macro: MacroInput = None,
    member_column: str | None = None,
) -> MarketPanel:
    """A ``MarketPanel`` from the canonical long table (see module docstring).

    The calendar is the sorted set of dates in ``df``, the symbols its sorted symbols; cells without a
    row are NaN, not tradable and not members. ``tradable`` defaults to "has a close and an adjusted
    close > 0 and volume > 0" (a given column is also ANDed with having prices). ``member`` defaults
    to True where a row exists. ``industry_returns`` (wide, dates x industry names, values known at
    each close) is computed, when absent, as the equal-weighted return of the industry's tradable
    stocks. ``macro`` is a mapping for ``align_by_release``, a wide frame indexed by the day values
    became known, or an already aligned ``(array, names)`` pair.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"from_long_frame needs a DataFrame, got {type(df).__name__}")
    _require(df, REQUIRED_COLUMNS, "market table")
    if df.empty:
        raise DataError("market table has no rows")
    dates = parse_dates(df["date"], "date")
    if dates.isna().any():
        raise DataError(f"{int(dates.isna().sum())} rows have no date")
    if df["symbol"].isna().any():
        raise DataError(f"{int(df['symbol'].isna().sum())} rows have no symbol")
    sym = df["symbol"].astype(str).reset_index(drop=True)
    keys = pd.DataFrame({"date": dates, "symbol": sym})
    dup = keys.duplicated(keep=False)
    if dup.any():
        ex = keys[dup].head(3).astype(str).agg(" ".join, axis=1).tolist()
        raise DataError(f"{int(keys.duplicated().sum())} duplicate (date, symbol) rows, e.g. {ex}")

    di, cal = pd.factorize(dates, sort=True)
    si, symbols = pd.factorize(sym, sort=True)
    cal, symbols = pd.DatetimeIndex(cal), pd.Index(symbols)
    T, N = len(cal), len(symbols)

    def grid(values: np.ndarray, fill: float | bool = np.nan) -> np.ndarray:
        out = np.full((T, N), fill, dtype=np.asarray(values).dtype if isinstance(fill, bool) else np.float64)
        out[di, si] = values
        return out

    num = {c: grid(_numeric(df[c].reset_index(drop=True), c)) for c in PRICE_COLUMNS if c in df.columns}
    close = num["close"]
    adj = num.get("adj_close", close.copy())
    present = grid(np.ones(len(df), bool), False)
    priced = present & np.isfinite(close) & np.isfinite(adj) & (adj > 0)
    if "tradable" in df.columns:
        tradable = grid(_boolean(df["tradable"].reset_index(drop=True), "tradable"), False) & priced
    else:
        tradable = priced & (num["volume"] > 0) if "volume" in num else priced
    mcol = member_column or ("member" if "member" in df.columns else None)
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
    return MarketPanel(
        dates=cal, symbols=tuple(str(s) for s in symbols), close=close, adj_close=adj,
        open=num.get("open", nanfill), high=num.get("high", nanfill), low=num.get("low", nanfill),
        volume=num.get("volume", nanfill), tradable=tradable, is_st=is_st, member=member,
        industry=code, industry_names=industry_names, industry_returns=ind_ret,
        valuation=valuation, macro=mac, macro_names=mac_names, name=name,
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


# ---------------------------------------------------------------------------------------- vendors
def _with_symbol(out: pd.DataFrame, symbol: str | None, vendor: str) -> pd.DataFrame:
    if "symbol" not in out.columns:
        if symbol is None:
            raise DataError(f"{vendor} table has no ticker/code column: pass symbol=...")
        out["symbol"] = symbol
    return out


def _chain_pct(df: pd.DataFrame, pct: str) -> npt.NDArray[np.float64]:
    """Adjusted close chained from a vendor's %-change (the vendor's ex-right pre-close makes it
    dividend/split adjusted); a missing %-change (suspension) counts as 0."""
    d = df.reset_index(drop=True)
    order = d.assign(_d=parse_dates(d["date"]).to_numpy()).sort_values(["symbol", "_d"], kind="stable")
    sym = order["symbol"].astype(str)
    g = 1.0 + pd.Series(_numeric(order[pct], pct), index=order.index).fillna(0.0) / 100.0
    g[~sym.duplicated()] = 1.0
    base = pd.Series(_numeric(order["close"], "close"), index=order.index).groupby(sym).transform("first")
    return (g.groupby(sym).cumprod() * base).sort_index().to_numpy(np.float64)


def _baostock(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """baostock ``query_history_k_data_plus``: code "sh.600000", tradestatus 0 = suspended, pctChg in %,
    isST, peTTM/pbMRQ/psTTM, turn (% of float), volume in shares, amount in CNY."""
    _require(df, ["date", "close"], "baostock table")
    out = df.rename(columns={"peTTM": "pe", "pbMRQ": "pb", "psTTM": "ps", "turn": "turnover", "isST": "is_st",
                             "pctChg": "pct_chg"})
    out = out.drop(columns=["symbol"], errors="ignore")
    if "code" in df.columns:
        out["symbol"] = df["code"]
    out = _with_symbol(out, symbol, "baostock")
    out["symbol"] = cn_code(out["symbol"])
    if "adj_close_hfq" in df.columns:
        out["adj_close"] = df["adj_close_hfq"]
    elif "adjustflag" in df.columns and set(pd.to_numeric(df["adjustflag"], errors="coerce").dropna()) <= {1, 2}:
        out["adj_close"] = df["close"]  # already back/forward adjusted by baostock
    elif "pct_chg" in out.columns:
        out["adj_close"] = _chain_pct(out, "pct_chg")
    if "tradestatus" in df.columns:
        out["tradable"] = _numeric(df["tradestatus"], "tradestatus") == 1
    return out


def _tushare(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """tushare ``daily`` (+ ``daily_basic`` / ``adj_factor``): ts_code "600000.SH", trade_date YYYYMMDD,
    vol in lots of 100 shares, amount in thousand CNY, pct_chg in %. Suspended days have no row."""
    _require(df, ["trade_date", "close"], "tushare table")
    out = df.rename(columns={"trade_date": "date", "turnover_rate": "turnover"})
    out = out.drop(columns=[c for c in ("symbol", "volume") if c in out.columns])
    if "ts_code" in df.columns:
        out["symbol"] = df["ts_code"]
    out = _with_symbol(out, symbol, "tushare")
    out["symbol"] = cn_code(out["symbol"])
    if "vol" in df.columns:
        out["volume"] = _numeric(df["vol"], "vol") * 100.0
    if "amount" in df.columns:
        out["amount"] = _numeric(df["amount"], "amount") * 1000.0
    for canon, ttm in (("pe", "pe_ttm"), ("ps", "ps_ttm")):
        if ttm in df.columns:
            out[canon] = df[ttm]
    if "adj_factor" in df.columns:
        out["adj_close"] = _numeric(df["close"], "close") * _numeric(df["adj_factor"], "adj_factor")
    return out


_AKSHARE = {"日期": "date", "股票代码": "symbol", "代码": "symbol", "开盘": "open", "收盘": "close",
            "最高": "high", "最低": "low", "成交量": "volume", "成交额": "amount", "换手率": "turnover",
            "涨跌幅": "pct_chg", "涨跌额": "change", "振幅": "amplitude"}


def _akshare(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """akshare ``stock_zh_a_hist`` (East Money): Chinese headers, 成交量 in lots of 100 shares, 成交额 in
    CNY, 换手率 in %. Prices are whatever ``adjust=`` was requested ("hfq" gives returns-safe prices),
    so 收盘 is used as both close and adjusted close."""
    _require(df, ["日期", "收盘"], "akshare table")
    out = df.drop(columns=[c for c in ("symbol", "date", "close", "volume") if c in df.columns])
    out = out.rename(columns=_AKSHARE)
    out = out.loc[:, ~out.columns.duplicated()]
    out = _with_symbol(out, symbol, "akshare")
    out["symbol"] = cn_code(out["symbol"])
    if "volume" in out.columns:
        out["volume"] = _numeric(out["volume"], "成交量") * 100.0
    return out


def _yfinance(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """yfinance ``download`` / ``history``: Date (column or index), Open/High/Low/Close, Adj Close
    (absent with auto_adjust=True: Close is then adjusted), Volume in shares, an optional ticker column
    or a (Price, Ticker) column MultiIndex."""
    if isinstance(df.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in df.columns.names else df.columns.nlevels - 1
        df = df.stack(level=level).rename_axis(index=[df.index.name or "Date", "Ticker"]).reset_index()
    elif not any(c in df.columns for c in ("Date", "Datetime", "date")):
        df = df.reset_index().rename(columns={"index": "Date"})
    out = df.rename(columns={"Date": "date", "Datetime": "date", "Open": "open", "High": "high", "Low": "low",
                             "Close": "close", "Adj Close": "adj_close", "AdjClose": "adj_close",
                             "Volume": "volume", "ticker": "symbol", "Ticker": "symbol", "Symbol": "symbol"})
    out.columns.name = None
    _require(out, ["date", "close"], "yfinance table")
    return _with_symbol(out, symbol, "yfinance")


def _canonical(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    return _with_symbol(df.copy(), symbol, "canonical")


Adapter = Callable[..., pd.DataFrame]
ADAPTERS: dict[str, Adapter] = {
    "baostock": _baostock, "tushare": _tushare, "akshare": _akshare, "yfinance": _yfinance,
    "canonical": _canonical,
}


def normalise_columns(df: pd.DataFrame, vendor: str, *, symbol: str | None = None) -> pd.DataFrame:
    """``df`` with ``vendor``'s columns and units mapped to the canonical long table.

    ``symbol`` names the instrument of single-ticker downloads that carry no code column.
    """
    key = str(vendor).strip().lower()
    if key not in ADAPTERS:
        raise DataError(f"unknown vendor {vendor!r}; known: {sorted(ADAPTERS)}")
    return ADAPTERS[key](df, symbol=symbol)


def guess_vendor(df: pd.DataFrame) -> str:
    """The vendor whose signature columns ``df`` has (vendor signatures before the canonical names,
    since vendor files may also carry a ``symbol`` column); ``DataError`` when none matches."""
    cols = set(map(str, df.columns.get_level_values(0) if isinstance(df.columns, pd.MultiIndex) else df.columns))
    if "ts_code" in cols or "trade_date" in cols:
        return "tushare"
    if "日期" in cols and "收盘" in cols:
        return "akshare"
    if "code" in cols and cols & {"tradestatus", "pctChg", "adjustflag", "peTTM", "adj_close_hfq"}:
        return "baostock"
    if {"date", "symbol", "close"} <= cols:
        return "canonical"
    if "Close" in cols:
        return "yfinance"
    raise DataError(f"cannot guess the vendor of a table with columns {sorted(cols)[:20]}")


# ---------------------------------------------------------------------------------------- shared data
SSE50_WINDOW = "derived/sse50_daily_2022-12_2023-06.csv"
CSI300_DIR = "wywzxxz_hs300_baostock"
US_DIR = "us_yfinance_dieperdev"

#: MASS example macro files: (file, value column, frequency). LPR rows are dated on announcement days
#: (the 20th since 2019-08), yields / PE / sentiment on the day they print, CPI by the month described.
MASS_MACRO: Mapping[str, tuple[str, str, str]] = {
    "cpi_yoy": ("China_CPI_YoY_Current_Month.csv", "Value", "monthly"),
    "lpr_1y": ("China_1-Year_Loan_Prime_Rate_LPR.csv", "Value", "daily"),
    "cgb_10y": ("yield_on_China_10_year_government_bonds.csv", "Value", "daily"),
    "csi300_pe": ("csi_300_pe_ttm.csv", "Value", "daily"),
    "sentiment": ("Market_Sentiment_Index.csv", "Close", "daily"),
}


def _root(data_root: str | os.PathLike[str]) -> Path:
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"shared data folder not found: {root}")
    return root


def _file(root: Path, rel: str) -> Path:
    p = root / rel
    if not p.exists():
        raise DataError(f"{rel} not found under {root}")
    return p


def _single_parquet(root: Path, folder: str) -> Path:
    files = sorted(_file(root, folder).glob("*.parquet"))
    if len(files) != 1:
        raise DataError(f"expected one parquet file in {root / folder}, found {len(files)}")
    return files[0]


def mass_industry_map(data_root: str | os.PathLike[str]) -> pd.Series:
    """6-digit code -> industry board name from MASS ``stock_basic_data.parq`` ("-" = unknown)."""
    sb = pd.read_parquet(_file(_root(data_root), "mass/stock_basic_data.parq"), columns=["Stock", "Industry"])
    return pd.Series(sb["Industry"].to_numpy(), index=cn_code(sb["Stock"]).to_numpy(), dtype=object)


def mass_industry_returns(data_root: str | os.PathLike[str]) -> pd.DataFrame:
    """Wide (date x board) MASS industry returns, re-dated to the first close at which they are known.

    ``industry_ret.parq`` row D is NOT the close-to-close return of day D: against equal-weighted
    CSI300 members of the same board (2020-2023) its correlation is 0.85 with open(D)->open(D+1),
    0.66 with close(D-1)->close(D) and 0.42 with the overnight gap into D+1, i.e. it ends at the open
    of D+1 (it is the MASS 1-day label window, shifted one day). Shifting it one trading day makes the
    value of row D visible at the close of D+1, the first close after it is complete.
    """
    ir = pd.read_parquet(_file(_root(data_root), "mass/industry_ret.parq"))
    wide = ir.pivot(index="Date", columns="Industry", values="Daily_Return").sort_index()
    wide.index = parse_dates(wide.index)
    return wide.astype(np.float64).shift(1)


def mass_macro(data_root: str | os.PathLike[str]) -> dict[str, MacroSeries]:
    """The MASS macro CSVs as ``MacroSeries`` ready for ``align_by_release``."""
    folder = _file(_root(data_root), "mass/macro_data")
    out = {}
    for name, (fname, col, freq) in MASS_MACRO.items():
        frame = pd.read_csv(_file(folder, fname), usecols=["Date", col])
        out[name] = MacroSeries(frame, frequency=freq, date_column="Date", value_column=col)
    return out


def load_sse50_window(data_root: str | os.PathLike[str], *, macro: bool = True) -> MarketPanel:
    """The paper's SSE50 setting: 58 stocks x 140 days (2022-12..2023-06), point-in-time membership
    (``in_sse50_that_day``), MASS industry boards and returns (re-dated, see
    ``mass_industry_returns``) and the MASS macro series aligned by release date."""
    root = _root(data_root)
    df = normalise_columns(read_table(_file(root, SSE50_WINDOW)), "baostock")
    return from_long_frame(
        df, name="sse50 2022-12..2023-06 (baostock, survivorship: 600837 absent)",
        industry_map=mass_industry_map(root), industry_returns=mass_industry_returns(root),
        macro=mass_macro(root) if macro else None, member_column="in_sse50_that_day",
    )


def _interval_membership(dates: pd.Series, symbols: pd.Series, history: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Member on day t when opt-in <= t < opt-out for one of the symbol's intervals."""
    rows = pd.DataFrame({"date": parse_dates(dates), "symbol": symbols.astype(str).to_numpy(),
                         "row": np.arange(len(dates))})
    m = rows.merge(history, on="symbol", how="inner")
    inside = (m["date"] >= m["opt_in"]) & (m["date"] < m["opt_out"])
    out = np.zeros(len(dates), bool)
    out[m.loc[inside, "row"].to_numpy()] = True
    return out


def _constituent_history(path: Path, cn: bool) -> pd.DataFrame:
    h = pd.read_csv(path, dtype={"symbol": str})
    _require(h, ["symbol", "opt-in", "opt-out"], path.name)
    return pd.DataFrame({
        "symbol": (cn_code(h["symbol"]) if cn else h["symbol"].astype(str)).to_numpy(),
        "opt_in": parse_dates(h["opt-in"]), "opt_out": parse_dates(h["opt-out"]).fillna(pd.Timestamp("2262-01-01")),
    })


def _add_membership(df: pd.DataFrame, history_path: Path, *, cn: bool) -> str:
    """Set ``df["member"]`` from an index-constitution history when the file exists; say which."""
    if not history_path.exists():
        return "membership unknown: all True"
    df["member"] = _interval_membership(df["date"], df["symbol"], _constituent_history(history_path, cn=cn))
    return "point-in-time membership (index-constitution)"


def _between(df: pd.DataFrame, start: str | pd.Timestamp | None, end: str | pd.Timestamp | None) -> pd.DataFrame:
    d = parse_dates(df["date"])
    keep = np.ones(len(df), bool)
    if start is not None:
        keep &= d >= pd.Timestamp(start)
    if end is not None:
        keep &= d <= pd.Timestamp(end)
    if not keep.any():
        raise DataError(f"no rows between {start} and {end}")
    return df.loc[keep].reset_index(drop=True)


def load_csi300(data_root: str | os.PathLike[str], start: str | pd.Timestamp | None = None,
                end: str | pd.Timestamp | None = None, *, macro: bool = True) -> MarketPanel:
    """CSI300 (the 300 constituents of 2025) from baostock, 2020-01..2025-04.

    Returns use ``adj_close_hfq`` (raw prices are unadjusted); valuations missing on a whole day (all
    NaN on 2023-12-11) are carried forward from the previous day; industries are MASS boards with
    equal-weighted industry returns computed from the panel; membership is point in time from
    ``pypi/index_constitution_history_csi300.csv`` when present, else True on every listed day.
    """
    root = _root(data_root)
    cols = ["date", "code", "open", "high", "low", "close", "volume", "amount", "turn", "tradestatus",
            "pctChg", "peTTM", "pbMRQ", "psTTM", "isST", "adj_close_hfq"]
    df = _between(pd.read_parquet(_single_parquet(root, CSI300_DIR), columns=cols), start, end)
    df = normalise_columns(df, "baostock").sort_values(["symbol", "date"], kind="stable")
    val = [c for c in ("pe", "pb", "ps") if c in df.columns]
    day_gap = df[val].isna().groupby(df["date"]).transform("all")
    filled = df.groupby("symbol")[val].ffill()
    df[val] = df[val].where(~day_gap, filled)
    how = _add_membership(df, root / "pypi/index_constitution_history_csi300.csv", cn=True)
    ind_map = mass_industry_map(root) if (root / "mass/stock_basic_data.parq").exists() else None
    mac = mass_macro(root) if macro and (root / "mass/macro_data").is_dir() else None
    return from_long_frame(df, name=f"csi300 (2025 constituents, survivorship-biased; {how})",
                           industry_map=ind_map, macro=mac)


def load_us(data_root: str | os.PathLike[str], start: str | pd.Timestamp | None = None,
            end: str | pd.Timestamp | None = None) -> MarketPanel:
    """S&P 500 (550 names that were members at some point 2018-01..2024-03) from Yahoo daily bars.

    Membership is point in time from ``pypi/index_constitution_history_sp500.csv`` when present; no
    industries or macro series (``industry_returns`` has zero columns)."""
    root = _root(data_root)
    df = _between(normalise_columns(pd.read_parquet(_single_parquet(root, US_DIR)), "yfinance"), start, end)
    how = _add_membership(df, root / "pypi/index_constitution_history_sp500.csv", cn=False)
    return from_long_frame(df, name=f"us sp500 members 2018-2024 (yfinance; {how})")


def load_panel(path_or_root: str | os.PathLike[str], *, vendor: str | None = None,
               symbol: str | None = None, **kwargs: object) -> MarketPanel:
    """Convenience: the SSE50 window for a shared-data folder, else ``from_long_frame`` of one file
    whose vendor is ``vendor`` or guessed from its columns (``kwargs`` go to ``from_long_frame``)."""
    p = Path(path_or_root)
    if p.is_dir():
        if (p / SSE50_WINDOW).exists():
            return load_sse50_window(p)
        raise DataError(f"{p} is a folder but not the shared data root (no {SSE50_WINDOW}); pass a file")
    df = read_table(p)
    v = vendor or guess_vendor(df)
    kwargs.setdefault("name", f"{p.name} ({v})")
    return from_long_frame(normalise_columns(df, v, symbol=symbol), **kwargs)  # type: ignore[arg-type]
