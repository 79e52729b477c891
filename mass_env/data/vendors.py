"""Vendor adapters: each data vendor's column names, units and code spellings -> the canonical table.

Why a registry: a vendor is one adapter, registered right where it is defined together with the
rule that recognises its tables, so ``normalise_columns`` and ``guess_vendor`` pick up a new vendor
(in this file, or from a package through the ``mass_mechanism.vendors`` entry-point group) without
edits anywhere else. An adapter is ``adapter(df, symbol=None) -> DataFrame`` in the canonical long
format of ``frame`` (``symbol`` names the instrument of single-ticker downloads).

A-share codes are normalised to the bare 6-digit exchange code ("sh.600000", "600000.SH",
"SH600000" -> "600000"), which is unique across the Shanghai, Shenzhen and Beijing exchanges.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DataError
from ..registry import Registry, UnknownNameError
from .frame import _numeric, _require
from .macro import parse_dates
from .quality import DataQualityWarning

Adapter = Callable[..., pd.DataFrame]
#: ``detect(columns) -> bool``: does a table with these column names come from this vendor?
Detector = Callable[[frozenset[str]], bool]

VENDORS: Registry[pd.DataFrame] = Registry("vendor adapter", entry_point_group="mass_mechanism.vendors")
_DETECTORS: dict[Adapter, tuple[int, Detector]] = {}  # adapter -> (rank, detect), see register_vendor


def register_vendor(name: str, *, detect: Detector | None = None, rank: int = 50,
                    aliases: Iterable[str] = ()) -> Callable[[Adapter], Adapter]:
    """Decorator: register an adapter as vendor ``name`` with the rule that recognises its tables.

    ``guess_vendor`` asks the ``detect`` rules in ``rank`` order (lower first, ties in registration
    order): the built-in vendor signatures rank 10-30, a new vendor 50 by default, and the loose
    fallbacks last (``canonical`` 80: date/symbol/close, ``yfinance`` 90: any ``Close`` column), since
    vendor files may also carry canonical-looking columns. Without ``detect`` a vendor is never guessed.
    """

    def deco(adapter: Adapter) -> Adapter:
        VENDORS.register(name, adapter, aliases=aliases)
        if detect is not None:
            _DETECTORS[adapter] = (rank, detect)
        return adapter

    return deco


# ---------------------------------------------------------------------------------------- shared helpers
def cn_code(codes: pd.Series) -> pd.Series:
    """Bare 6-digit A-share code from any vendor spelling; other codes are kept as they are."""
    s = codes.astype("string").str.strip()
    six = s.str.extract(r"(?<!\d)(\d{6})(?!\d)", expand=False)
    short = s.str.extract(r"^(\d{1,5})(?:\.0)?$", expand=False).str.zfill(6)  # 1 -> "000001"
    return six.fillna(short).fillna(s).astype(object)


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


# ---------------------------------------------------------------------------------------- adapters
@register_vendor("baostock", rank=30, detect=lambda cols: "code" in cols and bool(
    cols & {"tradestatus", "pctChg", "adjustflag", "peTTM", "adj_close_hfq"}))
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


@register_vendor("tushare", rank=10, detect=lambda cols: "ts_code" in cols or "trade_date" in cols)
def _tushare(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """tushare ``daily`` (+ ``daily_basic`` / ``adj_factor``): ts_code "600000.SH", trade_date YYYYMMDD,
    vol in lots of 100 shares, amount in thousand CNY, pct_chg in %. Suspended days have no row, or a
    zero volume (kept: such days are untradable). Without ``adj_factor`` the adjusted close is chained
    from ``pct_chg`` (tushare computes it against the ex-right pre-close, so splits do not look like
    crashes); with neither, raw close is used and a ``DataQualityWarning`` says so."""
    _require(df, ["trade_date", "close"], "tushare table")
    out = df.rename(columns={"trade_date": "date", "turnover_rate": "turnover"})
    out = out.drop(columns=[c for c in ("symbol",) + (("volume",) if "vol" in df.columns else ())
                            if c in out.columns])
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
    elif "pct_chg" in df.columns:
        out["adj_close"] = _chain_pct(out, "pct_chg")
    elif "adj_close" not in out.columns:
        warnings.warn("tushare table has neither adj_factor nor pct_chg: returns use the raw close, so splits and "
                      "dividends look like price moves", DataQualityWarning, stacklevel=3)
    return out


_AKSHARE = {"日期": "date", "股票代码": "symbol", "代码": "symbol", "开盘": "open", "收盘": "close",
            "最高": "high", "最低": "low", "成交量": "volume", "成交额": "amount", "换手率": "turnover",
            "涨跌幅": "pct_chg", "涨跌额": "change", "振幅": "amplitude"}


@register_vendor("akshare", rank=20, detect=lambda cols: "日期" in cols and "收盘" in cols)
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


#: yfinance column names with case, spaces, dots and underscores removed (Adj Close, Adj_Close, adjclose...)
_YF = {"date": "date", "datetime": "date", "open": "open", "high": "high", "low": "low", "close": "close",
       "adjclose": "adj_close", "adjustedclose": "adj_close", "volume": "volume", "ticker": "symbol",
       "symbol": "symbol"}


@register_vendor("yfinance", rank=90, detect=lambda cols: "Close" in cols)
def _yfinance(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """yfinance ``download`` / ``history``: Date (column or index), Open/High/Low/Close, Adj Close
    (absent with auto_adjust=True: Close is then adjusted), Volume in shares, an optional ticker column
    or a (Price, Ticker) column MultiIndex."""
    if isinstance(df.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in df.columns.names else df.columns.nlevels - 1
        df = df.stack(level=level).rename_axis(index=[df.index.name or "Date", "Ticker"]).reset_index()
    elif not any(c in df.columns for c in ("Date", "Datetime", "date")):
        df = df.reset_index().rename(columns={"index": "Date"})
    out = df.rename(columns=lambda c: _YF.get(re.sub(r"[^a-z]", "", str(c).lower()), c))
    out.columns.name = None
    _require(out, ["date", "close"], "yfinance table")
    return _with_symbol(out, symbol, "yfinance")


@register_vendor("canonical", rank=80, detect=lambda cols: {"date", "symbol", "close"} <= cols)
def _canonical(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
    """Already the canonical long table (see ``frame``): copied, with ``symbol`` filled in if absent."""
    return _with_symbol(df.copy(), symbol, "canonical")


# ---------------------------------------------------------------------------------------- lookup
def normalise_columns(df: pd.DataFrame, vendor: str, *, symbol: str | None = None) -> pd.DataFrame:
    """``df`` with ``vendor``'s columns and units mapped to the canonical long table.

    ``symbol`` names the instrument of single-ticker downloads that carry no code column.
    """
    try:
        adapter = VENDORS.get(vendor)
    except UnknownNameError as exc:
        raise DataError(str(exc)) from None
    return adapter(df, symbol=symbol)


def guess_vendor(df: pd.DataFrame) -> str:
    """The first vendor whose ``detect`` rule accepts ``df``'s column names (first level of a column
    MultiIndex), in ``rank`` order (see ``register_vendor``); ``DataError`` when none matches."""
    cols = frozenset(map(str, df.columns.get_level_values(0) if isinstance(df.columns, pd.MultiIndex)
                         else df.columns))
    rules = []
    for order, name in enumerate(VENDORS.available()):
        rule = _DETECTORS.get(VENDORS.get(name))
        if rule is not None:
            rules.append((rule[0], order, name, rule[1]))
    for _, _, name, detect in sorted(rules, key=lambda r: r[:2]):
        if detect(cols):
            return name
    raise DataError(f"cannot guess the vendor of a table with columns {sorted(cols)[:20]}")
