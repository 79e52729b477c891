"""Named datasets: choose a market by name (``load_dataset("csi300", root)``), not by loader.

Why a registry: sweeps, the command line and plugins pick a market by name, and each data layout is
one factory ``factory(root, **options) -> MarketPanel`` registered in ``DATASETS`` right where it is
defined (a package can add more through the ``mass_mechanism.datasets`` entry-point group). The
shared research data (see ``shared/data/README``) is always reached through ``root``, an argument,
so the package never depends on that folder; the embedded ``synthetic`` market ignores it.
``load_panel`` is the convenience that takes either the shared-data folder or one vendor file.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import DataError
from ..registry import Registry
from .clusters import clusters_asof
from .frame import _require, from_long_frame, read_table
from .macro import MacroSeries, parse_dates
from .panel import MarketPanel
from .synthetic import SyntheticConfig, synthetic_market
from .us_macro import US_MACRO_DIR, us_macro
from .vendors import cn_code, guess_vendor, normalise_columns

#: ``factory(root, **options) -> MarketPanel``
DatasetFactory = Callable[..., MarketPanel]
DATASETS: Registry[MarketPanel] = Registry("dataset", entry_point_group="mass_mechanism.datasets")


def register_dataset(name: str, *, aliases: Iterable[str] = ()) -> Callable[[DatasetFactory], DatasetFactory]:
    """Decorator: register ``factory(root, **options) -> MarketPanel`` as dataset ``name``."""

    def deco(factory: DatasetFactory) -> DatasetFactory:
        return DATASETS.register(name, factory, aliases=aliases)

    return deco


def load_dataset(name: str, root: str | os.PathLike[str] | None, **options: Any) -> MarketPanel:
    """The dataset registered as ``name``, read from the data folder ``root`` (``DATASETS.make``);
    an unknown name raises ``UnknownNameError`` listing the valid ones."""
    return DATASETS.make(name, root=root, **options)


def _option_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(low)
    except ValueError:
        return text.strip()


def parse_dataset_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"us:start=2022-12-01,end=2023-06-30"`` -> ``("us", {"start": "2022-12-01", ...})``.

    Values ``true``/``false`` become booleans and integers become ints; everything else stays text.
    """
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise DataError(f"dataset option {item!r} in {spec!r} is not key=value (e.g. us:start=2023-01-01)")
        options[key.strip().replace("-", "_")] = _option_value(value)
    return name.strip(), options


def load_named(spec: str, default_root: str | os.PathLike[str] | None) -> MarketPanel:
    """The dataset named by ``spec`` (``NAME[:key=value,...]``, see ``parse_dataset_spec``), read from the
    option ``root`` or ``default_root``. An unknown name or an option the dataset does not take is a
    ``DataError`` that lists the valid names / options."""
    name, options = parse_dataset_spec(spec)
    if name.lower() not in DATASETS:
        raise DataError(f"{spec!r} is neither an existing file or folder nor a dataset name; "
                        f"datasets: {', '.join(DATASETS.available())}")
    factory = DATASETS.get(name)
    root = options.pop("root", default_root)
    params = inspect.signature(factory).parameters
    valid = [p for p in params if p != "root"]
    bad = [k for k in options if k not in valid]
    if bad:
        raise DataError(f"dataset {name!r} takes no option {bad[0]!r}; options: {', '.join(valid) or 'none'}")
    return factory(root, **options)


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


#: SSE50 valuation sources (``valuations=``) and label sources (``labels=``) of ``load_sse50_window``.
SSE50_VALUATIONS = ("baostock", "mass_anonymised")
SSE50_LABELS = ("close", "mass")


@register_dataset("sse50")
def load_sse50_window(root: str | os.PathLike[str], *, macro: bool = True, valuations: str = "baostock",
                      labels: str = "close", start: str | None = None, end: str | None = None) -> MarketPanel:
    """The paper's SSE50 setting: 58 stocks x 140 days (2022-12..2023-06), point-in-time membership
    (``in_sse50_that_day``), MASS industry boards and returns (re-dated, see
    ``mass_industry_returns``) and the MASS macro series aligned by release date.

    ``start`` / ``end`` (dates) take the same stocks from the longer 2020-2025 panel instead (MASS
    membership; identical prices on the common days), e.g. to start early enough for every feature to
    be warm on the paper's first evaluated day. ``valuations="mass_anonymised"`` replaces the baostock
    valuations by MASS's anonymised price-value features (``with_mass_price_value``);
    ``labels="mass"`` makes MASS's labels the panel's forward returns (``with_mass_labels``).
    """
    if valuations not in SSE50_VALUATIONS or labels not in SSE50_LABELS:
        raise DataError(f"valuations must be one of {SSE50_VALUATIONS} and labels one of {SSE50_LABELS}, "
                        f"got {valuations!r} / {labels!r}")
    root = _root(root)
    if start is None and end is None:
        df = normalise_columns(read_table(_file(root, SSE50_WINDOW)), "baostock")
        panel = from_long_frame(
            df, name="sse50 2022-12..2023-06 (baostock, survivorship: 600837 absent)",
            industry_map=mass_industry_map(root), industry_returns=mass_industry_returns(root),
            macro=mass_macro(root) if macro else None, member_column="in_sse50_that_day",
        )
    else:
        s, e = str(start or "2022-12-01"), str(end or "2023-06-30")
        panel = _sse50_members(root, s, e, f"sse50 members {s}..{e} (point-in-time)", macro=macro)
    if valuations == "mass_anonymised":
        panel = with_mass_price_value(panel, root)
    if labels == "mass":
        panel = with_mass_labels(panel, root)
    return panel


def _mass_grid(panel: MarketPanel, path: Path, columns: Iterable[str]) -> dict[str, npt.NDArray[np.float64]]:
    """Columns of a MASS (Stock, Date) parquet on the panel's (dates x symbols) grid; NaN where absent."""
    cols = list(columns)
    raw = pd.read_parquet(path, columns=["Stock", "Date", *cols])
    raw["Date"] = pd.to_datetime(raw["Date"].astype(str), format="%Y%m%d")
    raw["Stock"] = cn_code(raw["Stock"])
    raw = raw[raw["Date"].isin(panel.dates) & raw["Stock"].isin(panel.symbols)]
    out = {}
    for c in cols:
        wide = raw.pivot(index="Date", columns="Stock", values=c).reindex(index=panel.dates, columns=panel.symbols)
        out[c] = wide.to_numpy(dtype=np.float64)
    return out


def with_mass_price_value(panel: MarketPanel, data_root: str | os.PathLike[str]) -> MarketPanel:
    """``panel`` whose valuations are MASS's anonymised ``price_value_feature_0..5``
    (``mass/sub_fudamental_data.parq``, value of date D known at the close of D, as MASS shows it on D)
    as ``pv_0..pv_5``: what the VALUE modality then shows (``modalities.MASS_PV_FEATURES``)."""
    cols = [f"price_value_feature_{i}" for i in range(6)]
    grid = _mass_grid(panel, _file(_root(data_root), "mass/sub_fudamental_data.parq"), cols)
    val = {f"pv_{i}": grid[c] for i, c in enumerate(cols)}
    return replace(panel, valuation=val, name=panel.name + "; MASS anonymised price-value features")


#: MASS label columns by horizon (``mass/ih_label.parq``).
MASS_LABELS: Mapping[int, str] = {1: "1_15_labelB", 5: "5_15_labelB", 10: "10_15_labelB"}


def with_mass_labels(panel: MarketPanel, data_root: str | os.PathLike[str]) -> MarketPanel:
    """``panel`` whose forward returns at 1, 5 and 10 days are MASS's labels (``mass/ih_label.parq``):
    row t is the return of a signal of day t from about t+1 (``returns.forward_returns``). NaN where
    MASS has no label (non-members)."""
    grid = _mass_grid(panel, _file(_root(data_root), "mass/ih_label.parq"), MASS_LABELS.values())
    return replace(panel, labels={h: grid[c] for h, c in MASS_LABELS.items()},
                   name=panel.name + "; MASS labels")


# ---------------------------------------------------------------------------------------- index membership
@register_dataset("sse50-pretraining")
def load_sse50_pretraining(root: str | os.PathLike[str], *, start: str = "2021-01-01", end: str = "2022-11-30"
                           ) -> MarketPanel:
    """SSE50 stocks before the paper's window (2021-01..2022-11 by default), point-in-time members.

    Built from the shared folder's ``derived/sse50_evermembers_daily_2020_2025.parquet`` with the
    daily SSE50 membership of ``derived/sse50_membership_daily_2018_2023_from_MASS.csv``, MASS industry
    boards and returns, and the MASS macro series (aligned by release date), as
    ``load_sse50_window``; the RL leaders of the SSE50 table train here.
    A leader's observation is type-level, so a policy trained here acts on the window's 58 stocks.
    """
    return _sse50_members(Path(root), start, end,
                          f"sse50 members {start[:7]}..{end[:7]} (pre-window, point-in-time)")


def _sse50_members(root: Path, start: str, end: str, name: str, *, macro: bool = True) -> MarketPanel:
    df = pd.read_parquet(root / "derived/sse50_evermembers_daily_2020_2025.parquet")
    d = pd.to_datetime(df["date"])
    df = normalise_columns(df[(d >= pd.Timestamp(start)) & (d <= pd.Timestamp(end))].reset_index(drop=True),
                           "baostock")
    mem = pd.read_csv(root / "derived/sse50_membership_daily_2018_2023_from_MASS.csv", dtype={"symbol": str})
    keys = set(zip(pd.to_datetime(mem["date"]), mem["symbol"].str.zfill(6)))
    df["member"] = [(t, s) in keys for t, s in zip(pd.to_datetime(df["date"]), df["symbol"].astype(str))]
    return from_long_frame(df, name=name, industry_map=mass_industry_map(root),
                           industry_returns=mass_industry_returns(root),
                           macro=mass_macro(root) if macro else None, member_column="member")


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


# ---------------------------------------------------------------------------------------- more markets
@register_dataset("csi300")
def load_csi300(root: str | os.PathLike[str], start: str | pd.Timestamp | None = None,
                end: str | pd.Timestamp | None = None, *, macro: bool = True) -> MarketPanel:
    """CSI300 (the 300 constituents of 2025) from baostock, 2020-01..2025-04.

    Returns use ``adj_close_hfq`` (raw prices are unadjusted); valuations missing on a whole day (all
    NaN on 2023-12-11) are carried forward from the previous day; industries are MASS boards with
    equal-weighted industry returns computed from the panel; membership is point in time from
    ``pypi/index_constitution_history_csi300.csv`` when present, else True on every listed day.
    """
    root = _root(root)
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


#: US sectors: k-means clusters of past returns (``clusters``), formed before the panel's first day.
US_SECTORS, US_FORMATION_DAYS = 11, 252


@register_dataset("us", aliases=("sp500",))
def load_us(root: str | os.PathLike[str], start: str | pd.Timestamp | None = None,
            end: str | pd.Timestamp | None = None, *, macro: bool = True, sectors: int = US_SECTORS,
            formation_days: int = US_FORMATION_DAYS) -> MarketPanel:
    """S&P 500 (550 names that were members at some point 2018-01..2024-03) from Yahoo daily bars.

    Returns use ``AdjClose``. Membership is point in time from ``pypi/index_constitution_history_sp500.csv``
    when present. Industries: the shared data ships no US sector map (index-constitution lists only
    symbol, name and dates; Yahoo bars carry none), so ``sectors`` statistical sectors are
    formed from the ``formation_days`` daily returns that END BEFORE the panel's first day
    (``clusters.clusters_asof``) and held fixed over the panel; the panel therefore starts no earlier
    than ``formation_days`` + 1 trading days into the file. Macro: ``us_macro`` (FRED/Yahoo, aligned by
    release date). Valuations are ABSENT: Yahoo bars carry no earnings, book values or share counts,
    so the value modality shows nothing (types that differ only by it see the same data).
    """
    root = _root(root)
    since = None if start is None else pd.Timestamp(start) - pd.Timedelta(days=formation_days * 7 // 5 + 30)
    rows = [("Date", ">=", since)] if since is not None else []
    rows += [("Date", "<=", pd.Timestamp(end))] if end is not None else []
    raw = normalise_columns(pd.read_parquet(_single_parquet(root, US_DIR), filters=rows or None), "yfinance")
    raw = _between(raw, since, end)
    raw["date"] = parse_dates(raw["date"])
    cal = pd.DatetimeIndex(np.sort(raw["date"].unique()))
    first = int(cal.searchsorted(pd.Timestamp(start))) if start is not None else 0
    first = max(first, formation_days + 1)
    if first >= len(cal):
        raise DataError(f"us: no trading day left after {formation_days} formation days and start={start} "
                        f"(data {cal[0].date()}..{cal[-1].date()})")
    adj = raw.pivot(index="date", columns="symbol", values="adj_close").reindex(cal[:first])
    labels = clusters_asof(adj.to_numpy(np.float64), first - 1, formation_days, sectors)
    width = len(str(sectors))
    names = pd.Series([f"cluster{c + 1:0{width}d}" if c >= 0 else "-" for c in labels], index=adj.columns,
                      dtype=object)
    df = raw[raw["date"] >= cal[first]].reset_index(drop=True)
    how = _add_membership(df, root / "pypi/index_constitution_history_sp500.csv", cn=False)
    mac = us_macro(root) if macro and (root / US_MACRO_DIR).is_dir() else None
    return from_long_frame(
        df, industry_map=names, macro=mac,
        name=(f"us sp500 members 2018-2024 (yfinance; {how}; {sectors} return-cluster sectors formed on "
              f"{formation_days} days to {cal[first - 1].date()}; no valuations; survivorship: delisted names "
              "absent)"),
    )


@register_dataset("synthetic")
def load_synthetic(root: str | os.PathLike[str] | None = None, *, n_days: int = 160, seed: int = 0) -> MarketPanel:
    """The embedded synthetic market (no files, ``root`` is ignored): ``synthetic_market`` with
    ``SyntheticConfig(n_days=n_days)`` and ``seed``, i.e. ``mass_env.env.default_market``."""
    return synthetic_market(SyntheticConfig(n_days=n_days), seed=seed)[0]


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
