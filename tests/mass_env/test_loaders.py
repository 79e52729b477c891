"""Loading market data and release-date macro alignment: canonical table (``data.frame``), vendor
adapters (``data.vendors``), named datasets and shared-data fixtures (``data.datasets``), old paths."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from repo_paths import SHARED_DATA

from mass_env.data.datasets import (
    DATASETS,
    load_csi300,
    load_dataset,
    load_panel,
    load_sse50_window,
    load_us,
    mass_macro,
)
from mass_env.data.frame import from_long_frame, read_table
from mass_env.data.macro import (
    MacroSeries,
    align_by_release,
    parse_dates,
    release_dates,
)
from mass_env.data.synthetic import SyntheticConfig, synthetic_market
from mass_env.data.vendors import (
    VENDORS,
    guess_vendor,
    normalise_columns,
    register_vendor,
)
from mass_env.errors import DataError
from mass_env.registry import UnknownNameError


# ------------------------------------------------------------------------------------------ fixtures
def long_frame(n_days: int = 8, symbols: tuple[str, ...] = ("000002", "600000", "600519"),
               seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2023-01-02", periods=n_days)
    idx = pd.MultiIndex.from_product([dates, symbols], names=["date", "symbol"])
    df = idx.to_frame(index=False)
    n = len(df)
    df["close"] = 10 + rng.random(n)
    df["adj_close"] = df["close"] * 1.5
    df["open"], df["high"], df["low"] = df["close"] - 0.1, df["close"] + 0.2, df["close"] - 0.3
    df["volume"] = rng.integers(1, 1000, n).astype(float)
    df["pe"] = rng.normal(20, 3, n)
    df["industry"] = df["symbol"].map({"000002": "realty", "600000": "bank", "600519": "bank"})
    return df.sample(frac=1.0, random_state=1).reset_index(drop=True)  # row order must not matter


def pivot(df: pd.DataFrame, col: str) -> np.ndarray:
    return df.pivot(index="date", columns="symbol", values=col).sort_index().sort_index(axis=1).to_numpy()


# ------------------------------------------------------------------------------------------ canonical
def test_round_trip_dense_arrays():
    df = long_frame()
    p = from_long_frame(df, name="toy")
    assert p.symbols == ("000002", "600000", "600519")
    assert p.n_days == 8 and p.dates.is_monotonic_increasing
    for col in ("close", "adj_close", "open", "high", "low", "volume"):
        np.testing.assert_array_equal(getattr(p, col), pivot(df, col))
    np.testing.assert_array_equal(p.valuation["pe"], pivot(df, "pe"))
    assert set(p.valuation) == {"pe"}
    assert p.tradable.all() and p.member.all() and not p.is_st.any()
    assert p.industry_names == ("bank", "realty")
    np.testing.assert_array_equal(p.industry, [1, 0, 0])
    # equal-weighted industry return of tradable stocks, known at that close
    adj = pivot(df, "adj_close")
    r = adj[1:] / adj[:-1] - 1
    np.testing.assert_allclose(p.industry_returns[1:, 0], r[:, 1:].mean(1))
    np.testing.assert_allclose(p.industry_returns[1:, 1], r[:, 0])
    assert np.isnan(p.industry_returns[0]).all()


def test_defaults_missing_rows_and_derived_tradable():
    df = long_frame().drop(columns=["adj_close", "industry"])
    day = df["date"].sort_values().unique()
    df = df[~((df["date"] == day[0]) & (df["symbol"] == "600519"))]  # not listed yet
    df.loc[(df["date"] == day[2]) & (df["symbol"] == "600000"), "volume"] = 0.0  # no trading
    df.loc[(df["date"] == day[3]) & (df["symbol"] == "600000"), "volume"] = np.nan
    df.loc[(df["date"] == day[4]) & (df["symbol"] == "000002"), "close"] = np.nan
    p = from_long_frame(df)
    np.testing.assert_array_equal(p.adj_close[np.isfinite(p.close)], p.close[np.isfinite(p.close)])
    assert not p.tradable[0, 2] and not p.member[0, 2] and np.isnan(p.close[0, 2])
    assert not p.tradable[2, 1] and not p.tradable[3, 1] and not p.tradable[4, 0]
    assert p.member[2, 1] and p.member[4, 0]  # still index members, just not tradable
    assert p.tradable.sum() == p.tradable.size - 4
    assert p.industry_names == () and (p.industry == -1).all() and p.industry_returns.shape == (8, 0)


def test_flags_member_column_industry_map_and_given_industry_returns():
    df = long_frame()
    df["halted"] = df["symbol"] == "600519"
    df["tradable"] = ~df["halted"]
    df["is_st"] = np.where(df["symbol"] == "000002", "1", "0")
    df["in_index"] = df["symbol"] != "000002"
    ir = pd.DataFrame({"B": np.arange(8.0), "R": -np.arange(8.0), "extra": 1.0},
                      index=pd.bdate_range("2023-01-02", periods=8))
    p = from_long_frame(df, industry_map={"000002": "R", "600000": "B", "600519": "-"},
                        industry_returns=ir, member_column="in_index")
    assert not p.tradable[:, 2].any() and p.tradable[:, :2].all()
    assert p.is_st[:, 0].all() and not p.is_st[:, 1:].any()
    assert not p.member[:, 0].any() and p.member[:, 1:].all()
    assert p.industry_names == ("B", "R") and list(p.industry) == [1, 0, -1]
    np.testing.assert_array_equal(p.industry_returns, ir[["B", "R"]].to_numpy())
    np.testing.assert_array_equal(p.universe[:, 1], True)


def test_macro_inputs():
    df = long_frame()
    cal = pd.bdate_range("2023-01-02", periods=8)
    wide = pd.DataFrame({"rate": [1.0, 2.0]}, index=pd.to_datetime(["2023-01-03", "2023-01-07"]))  # Sat
    p = from_long_frame(df, macro=wide)
    np.testing.assert_array_equal(p.macro[:, 0], [np.nan, 1, 1, 1, 1, 2, 2, 2])  # Sat -> Mon 01-09
    arr = np.arange(8.0)[:, None]
    assert from_long_frame(df, macro=(arr, ["x"])).macro_names == ("x",)
    spec = {"cpi": MacroSeries(pd.DataFrame({"date": ["2022-11-30", "2022-12-31"], "value": [1.0, 2.0]}),
                               frequency="monthly", lag_days=4)}
    p = from_long_frame(df, macro=spec)
    assert p.macro_names == ("cpi",)
    np.testing.assert_array_equal(p.macro[:, 0], np.where(cal >= "2023-01-04", 2.0, 1.0))


# ------------------------------------------------------------------------------------------ errors
def test_missing_required_columns_are_named():
    df = long_frame().drop(columns=["close", "symbol"])
    with pytest.raises(DataError, match=r"missing required columns \['symbol', 'close'\]"):
        from_long_frame(df)


def test_duplicate_rows_rejected():
    df = long_frame()
    with pytest.raises(DataError, match="duplicate"):
        from_long_frame(pd.concat([df, df.iloc[:2]]))


def test_non_numeric_prices_rejected_but_blanks_are_nan():
    df = long_frame()
    df["close"] = df["close"].astype(object)
    df.loc[3, "close"] = "n/a"
    with pytest.raises(DataError, match="'close' must be numeric"):
        from_long_frame(df)
    df.loc[3, "close"] = ""
    df["close"] = df["close"].astype(str).replace("nan", "")
    p = from_long_frame(df)
    assert np.isnan(p.close).sum() == 1 and not p.tradable[np.isnan(p.close)].any()


def test_other_bad_inputs():
    df = long_frame()
    with pytest.raises(DataError, match="unknown vendor"):
        normalise_columns(df, "bloomberg")
    with pytest.raises(DataError, match="member_column"):
        from_long_frame(df, member_column="nope")
    with pytest.raises(DataError, match="industries"):
        from_long_frame(df, industry_returns=pd.DataFrame({"bank": [0.0]}, index=[pd.Timestamp("2023-01-02")]))
    with pytest.raises(DataError, match="cannot parse date"):
        from_long_frame(df.assign(date="not a date"))
    with pytest.raises(DataError, match="no rows"):
        from_long_frame(df.iloc[:0])
    with pytest.raises(DataError, match="cannot guess"):
        guess_vendor(pd.DataFrame({"foo": [1]}))


def test_read_table(tmp_path: Path):
    df = long_frame()
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        back = read_table(tmp_path / name)
        assert set(back["symbol"]) == {"000002", "600000", "600519"}  # leading zeros kept
        p = load_panel(tmp_path / name)
        np.testing.assert_allclose(p.close, pivot(df, "close"))
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(DataError, match="format"):
        read_table(tmp_path / "t.xlsx")
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="not the shared data root"):
        load_panel(tmp_path)


# ------------------------------------------------------------------------------------------ vendors
def test_baostock_adapter_suspension_st_and_units():
    raw = pd.DataFrame({  # query_history_k_data_plus returns strings, "" when missing
        "date": ["2023-01-03", "2023-01-04", "2023-01-05"] * 2,
        "code": ["sh.600000"] * 3 + ["sz.000001"] * 3,
        "open": ["7.0", "7.1", "7.2", "12", "12", "12"], "high": "13", "low": "6",
        "close": ["7.0", "7.1", "7.1", "12.0", "12.0", "12.6"],
        "volume": ["100", "200", "", "300", "0", "400"],
        "tradestatus": ["1", "1", "0", "1", "0", "1"],
        "pctChg": ["", "1.428571", "", "", "", "5.0"],
        "peTTM": "5.1", "pbMRQ": "0.4", "psTTM": "1.2", "turn": "0.3", "isST": ["0"] * 3 + ["1"] * 3,
    })
    assert guess_vendor(raw) == "baostock"
    canon = normalise_columns(raw, "baostock")
    p = from_long_frame(canon)
    assert p.symbols == ("000001", "600000")
    np.testing.assert_array_equal(p.tradable, [[True, True], [False, True], [True, False]])
    assert p.is_st[:, 0].all() and not p.is_st[:, 1].any()
    assert set(p.valuation) == {"pe", "pb", "ps", "turnover"}
    # no adj_close_hfq: adjusted close chained from pctChg, suspended days flat
    np.testing.assert_allclose(p.adj_close[:, 0], [12.0, 12.0, 12.6])
    np.testing.assert_allclose(p.adj_close[:, 1], [7.0, 7.1, 7.1], rtol=1e-6)
    hfq = normalise_columns(raw.assign(adj_close_hfq=[1, 2, 3, 4, 5, 6]), "baostock")
    np.testing.assert_array_equal(from_long_frame(hfq).adj_close, [[4, 1], [5, 2], [6, 3]])


def test_tushare_adapter_units():
    raw = pd.DataFrame({
        "ts_code": ["600000.SH", "600000.SH", "000001.SZ"], "trade_date": [20230103, 20230104, 20230104],
        "open": 1.0, "high": 1.0, "low": 1.0, "close": [7.0, 7.2, 12.0], "pre_close": 1.0,
        "pct_chg": 0.0, "vol": [10.0, 20.0, 30.0], "amount": [7.0, 14.4, 36.0],
        "pe_ttm": 5.0, "pb": 0.5, "ps_ttm": 1.0, "turnover_rate": 0.2, "adj_factor": [2.0, 2.0, 3.0],
    })
    assert guess_vendor(raw) == "tushare"
    canon = normalise_columns(raw, "tushare")
    np.testing.assert_array_equal(canon["volume"], [1000.0, 2000.0, 3000.0])  # lots of 100 -> shares
    np.testing.assert_array_equal(canon["amount"], [7000.0, 14400.0, 36000.0])  # thousand CNY -> CNY
    p = from_long_frame(canon)
    assert p.symbols == ("000001", "600000")
    assert str(p.dates[0].date()) == "2023-01-03"
    np.testing.assert_array_equal(p.adj_close, [[np.nan, 14.0], [36.0, 14.4]])
    assert not p.tradable[0, 0] and not p.member[0, 0]  # tushare has no row on suspended days
    assert set(p.valuation) == {"pe", "pb", "ps", "turnover"}


def test_akshare_adapter():
    raw = pd.DataFrame({"日期": ["2023-01-03", "2023-01-04"], "股票代码": ["600000", "600000"],
                        "开盘": [7.0, 7.1], "收盘": [7.1, 7.2], "最高": [7.3, 7.3], "最低": [6.9, 7.0],
                        "成交量": [50, 0], "成交额": [3.5e4, 0.0], "振幅": 1.0, "涨跌幅": 1.0, "涨跌额": 0.1,
                        "换手率": [0.2, 0.0]})
    assert guess_vendor(raw) == "akshare"
    p = from_long_frame(normalise_columns(raw, "akshare"))
    assert p.symbols == ("600000",)
    np.testing.assert_array_equal(p.volume[:, 0], [5000.0, 0.0])
    np.testing.assert_array_equal(p.tradable[:, 0], [True, False])
    assert "turnover" in p.valuation
    with pytest.raises(DataError, match="symbol="):
        normalise_columns(raw.drop(columns=["股票代码"]), "akshare")
    p2 = from_long_frame(normalise_columns(raw.drop(columns=["股票代码"]), "akshare", symbol="sh600000"))
    assert p2.symbols == ("600000",)


def test_yfinance_adapter_flat_and_multiindex():
    flat = pd.DataFrame({"Date": pd.to_datetime(["2024-01-02", "2024-01-03"] * 2),
                         "Open": 1.0, "High": 2.0, "Low": 0.5, "Close": [10.0, 11.0, 20.0, 21.0],
                         "Adj Close": [9.0, 10.0, 19.0, 20.0], "Volume": [5, 6, 7, 8], "ticker": ["A", "A", "B", "B"]})
    assert guess_vendor(flat) == "yfinance"
    p = from_long_frame(normalise_columns(flat, "yfinance"))
    assert p.symbols == ("A", "B")
    np.testing.assert_array_equal(p.adj_close, [[9.0, 19.0], [10.0, 20.0]])
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="Date", tz="America/New_York")
    cols = pd.MultiIndex.from_product([["Adj Close", "Close", "High", "Low", "Open", "Volume"], ["A", "B"]],
                                      names=["Price", "Ticker"])
    wide = pd.DataFrame(np.arange(1.0, 25.0).reshape(2, 12), index=idx, columns=cols)
    q = from_long_frame(normalise_columns(wide, "yfinance"))
    assert q.symbols == ("A", "B") and str(q.dates[0].date()) == "2024-01-02"
    np.testing.assert_array_equal(q.close, [[3.0, 4.0], [15.0, 16.0]])
    np.testing.assert_array_equal(q.adj_close, [[1.0, 2.0], [13.0, 14.0]])
    single = flat[flat["ticker"] == "A"].drop(columns=["ticker"]).set_index("Date")
    assert from_long_frame(normalise_columns(single, "yfinance", symbol="A")).symbols == ("A",)


def test_vendor_registry_lists_and_guesses_the_five_vendors():
    assert VENDORS.available() == ("baostock", "tushare", "akshare", "yfinance", "canonical")
    one = {"baostock": {"date": ["2023-01-03"], "code": ["sh.600000"], "close": [1.0], "tradestatus": [1]},
           "tushare": {"trade_date": ["20230103"], "ts_code": ["600000.SH"], "close": [1.0]},
           "akshare": {"日期": ["2023-01-03"], "股票代码": ["600000"], "收盘": [1.0]},
           "yfinance": {"Date": ["2023-01-03"], "Close": [1.0]},
           "canonical": {"date": ["2023-01-03"], "symbol": ["A"], "close": [1.0]}}
    for vendor, cols in one.items():
        assert guess_vendor(pd.DataFrame(cols)) == vendor
    # vendor signatures win over the loose fallbacks: a baostock file with a symbol column, yfinance-ish
    # tables with canonical names
    assert guess_vendor(pd.DataFrame({**one["baostock"], "symbol": ["x"]})) == "baostock"
    assert guess_vendor(pd.DataFrame({**one["canonical"], "Close": [1.0]})) == "canonical"
    assert guess_vendor(long_frame()) == "canonical"


def test_a_registered_vendor_is_used_by_normalise_columns_and_guessed():
    def refinitiv(df: pd.DataFrame, symbol: str | None = None) -> pd.DataFrame:
        return pd.DataFrame({"date": df["DATE"], "symbol": df["RIC"].str.split(".").str[0], "close": df["CLOSE"]})

    raw = pd.DataFrame({"DATE": ["2023-01-03", "2023-01-04"], "RIC": ["600000.SS", "600000.SS"],
                        "CLOSE": [10.0, 10.5]})
    with pytest.raises(DataError, match="cannot guess"):
        guess_vendor(raw)
    register_vendor("refinitiv", detect=lambda cols: "RIC" in cols)(refinitiv)
    try:
        assert "refinitiv" in VENDORS.available()
        assert guess_vendor(raw) == "refinitiv"
        p = from_long_frame(normalise_columns(raw, "Refinitiv"))
        assert p.symbols == ("600000",) and p.close[:, 0].tolist() == [10.0, 10.5]
    finally:
        VENDORS.unregister("refinitiv")
    assert "refinitiv" not in VENDORS
    with pytest.raises(DataError, match="unknown vendor adapter 'refinitiv'; available: baostock"):
        normalise_columns(raw, "refinitiv")
    with pytest.raises(DataError, match="cannot guess"):
        guess_vendor(raw)


# ------------------------------------------------------------------------------------------ datasets
def test_unknown_dataset_lists_the_valid_names(tmp_path: Path):
    with pytest.raises(UnknownNameError) as err:
        load_dataset("nope", tmp_path)
    assert str(err.value) == "unknown dataset 'nope'; available: sse50, sse50-pretraining, csi300, us, synthetic"
    assert {"sse50", "csi300", "us", "synthetic"} <= set(DATASETS.available())


def test_synthetic_dataset_is_the_embedded_market():
    got = load_dataset("synthetic", None)
    want = synthetic_market(SyntheticConfig(n_days=160), seed=0)[0]
    assert got.dates.equals(want.dates) and got.symbols == want.symbols and got.name == want.name
    assert got.industry_names == want.industry_names and got.macro_names == want.macro_names
    for field in ("close", "adj_close", "open", "high", "low", "volume", "tradable", "is_st", "member",
                  "industry", "industry_returns", "macro"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
    assert set(got.valuation) == set(want.valuation)
    for k in want.valuation:
        np.testing.assert_array_equal(got.valuation[k], want.valuation[k])
    other = load_dataset("synthetic", None, n_days=60, seed=4)
    assert other.n_days == 60
    np.testing.assert_array_equal(other.close, synthetic_market(SyntheticConfig(n_days=60), seed=4)[0].close)


# ------------------------------------------------------------------------------------------ macro
CAL = pd.bdate_range("2023-01-02", "2023-06-30")


def test_parse_dates_formats():
    assert list(parse_dates(pd.Series([20230131, 20230228]))) == list(pd.to_datetime(["2023-01-31", "2023-02-28"]))
    cn = parse_dates(pd.Series(["2025年07月份", "2025年6月"]))
    assert list(cn) == list(pd.to_datetime(["2025-07-01", "2025-06-01"]))
    assert parse_dates(pd.Series(["20230131"]))[0] == pd.Timestamp("2023-01-31")


def test_monthly_value_visible_only_from_release():
    cpi = pd.DataFrame({"date": ["2023-01-31", "2023-02-28"], "value": [2.1, 1.0]})
    arr, names = align_by_release({"cpi": cpi}, CAL, frequency="monthly")
    assert names == ("cpi",)
    s = pd.Series(arr[:, 0], index=CAL)
    # default monthly lag: the 20th of the following month (Mon 2023-02-20, Mon 2023-03-20)
    assert s[:"2023-02-17"].isna().all() and s["2023-02-20"] == 2.1
    assert (s["2023-02-20":"2023-03-17"] == 2.1).all() and (s["2023-03-20":] == 1.0).all()
    # a month labelled by its first day is the same period
    arr2, _ = align_by_release({"cpi": cpi.assign(date=["2023-01-01", "2023-02-01"])}, CAL, frequency="monthly")
    np.testing.assert_array_equal(arr2, arr)
    arr3, _ = align_by_release({"cpi": cpi}, CAL, frequency="monthly", lag_days={"cpi": 9})
    assert pd.Series(arr3[:, 0], index=CAL).first_valid_index() == pd.Timestamp("2023-02-09")


def test_release_column_weekend_rolls_forward_and_revisions_win():
    df = pd.DataFrame({"date": ["2023-01-31", "2023-02-28", "2023-01-31"],
                       "release_date": ["2023-02-11", "2023-03-10", "2023-03-14"],  # Sat; Fri; revision Tue
                       "value": [1.0, 2.0, 1.5]})
    arr, _ = align_by_release({"x": df}, CAL)
    s = pd.Series(arr[:, 0], index=CAL)
    assert s[:"2023-02-10"].isna().all() and s["2023-02-13"] == 1.0
    assert s["2023-03-10"] == 2.0 and s["2023-03-13"] == 2.0 and s["2023-03-14"] == 1.5


def test_daily_series_known_at_close_and_errors():
    d = pd.DataFrame({"Date": ["2023-01-02", "2023-01-07", "2023-01-09"], "Close": [1.0, 2.0, np.nan]})
    arr, _ = align_by_release({"y": MacroSeries(d, date_column="Date", value_column="Close")}, CAL)
    np.testing.assert_array_equal(arr[:7, 0], [1, 1, 1, 1, 1, 2, 2])  # Sat print -> Mon; NaN keeps last
    with pytest.raises(DataError, match="frequency"):
        align_by_release({"y": d}, CAL, frequency="hourly", date_column="Date", value_column="Close")
    with pytest.raises(DataError, match="lacks columns"):
        align_by_release({"y": d}, CAL)
    with pytest.raises(DataError, match="non-numeric"):
        align_by_release({"y": pd.DataFrame({"date": ["2023-01-02"], "value": ["x"]})}, CAL)
    with pytest.raises(DataError, match="calendar"):
        align_by_release({}, CAL[::-1])


@pytest.mark.parametrize("mode", ["release_column", "monthly", "quarterly", "daily"])
def test_perturbing_later_releases_never_changes_earlier_rows(mode: str):
    """Property: for every day t, values released after t cannot move rows <= t."""
    rng = np.random.default_rng(7)
    cal = pd.bdate_range("2020-01-01", periods=300)
    n = 80
    obs = pd.Timestamp("2019-10-01") + pd.to_timedelta(np.sort(rng.integers(0, 450, n)), unit="D")
    df = pd.DataFrame({"date": obs, "value": rng.normal(size=n)})
    if mode == "release_column":
        df["release_date"] = obs + pd.to_timedelta(rng.integers(0, 40, n), unit="D")
        released = pd.DatetimeIndex(df["release_date"])
        freq = "daily"
    else:
        freq = mode
        released = release_dates(pd.DatetimeIndex(obs), freq)
    base, _ = align_by_release({"m": df}, cal, frequency=freq)
    # nothing is ever visible before its release: each visible value's release <= that day
    for t in range(len(cal)):
        v = base[t, 0]
        if np.isfinite(v):
            assert (released[df["value"].to_numpy() == v] <= cal[t]).any()
    for t in rng.choice(len(cal), 25, replace=False):
        later = np.asarray(released > cal[t])
        bumped = df.assign(value=np.where(later, rng.normal(size=n) * 100, df["value"]))
        pert, _ = align_by_release({"m": bumped}, cal, frequency=freq)
        np.testing.assert_array_equal(pert[: t + 1], base[: t + 1])
        dropped, _ = align_by_release({"m": df[~later]}, cal, frequency=freq)
        np.testing.assert_array_equal(dropped[: t + 1], base[: t + 1])


# ------------------------------------------------------------------------------------------ shared data
def _shared_root() -> Path | None:
    env = os.environ.get("MASS_SHARED_DATA")
    root = Path(env) if env else SHARED_DATA
    return root if root.is_dir() else None


SHARED = _shared_root()


def requires_shared(fn):
    """Mark a test ``shared_data`` and skip it cleanly when the folder is absent."""
    fn = pytest.mark.shared_data(fn)
    return pytest.mark.skipif(SHARED is None, reason="shared data folder absent (set MASS_SHARED_DATA)")(fn)


@pytest.fixture(scope="module")
def sse50():
    return load_sse50_window(SHARED)


@requires_shared
def test_sse50_window_shape_and_universe(sse50):
    p = sse50
    assert p.n_days == 140 and p.n_symbols == 58
    assert str(p.dates[0].date()) == "2022-12-01" and str(p.dates[-1].date()) == "2023-06-30"
    uni = p.universe.sum(1)
    assert uni.min() >= 49 and uni.max() == 50
    assert p.tradable.all() and (p.industry >= 0).all() and len(p.industry_names) == 33
    assert set(p.valuation) == {"pe", "pb", "ps", "turnover"}
    assert p.macro_names == ("cpi_yoy", "lpr_1y", "cgb_10y", "csi300_pe", "sentiment")
    assert np.isfinite(p.macro).all() and np.isfinite(p.industry_returns).all()
    assert load_panel(SHARED).symbols == p.symbols
    by_name = load_dataset("sse50", SHARED, macro=False)
    assert by_name.symbols == p.symbols and by_name.macro.shape == (140, 0)
    np.testing.assert_array_equal(by_name.adj_close, p.adj_close)


@requires_shared
def test_sse50_industry_returns_are_redated_one_day(sse50):
    """industry_ret.parq row D ends at the open of D+1; the panel shows it from the close of D+1."""
    p = sse50
    raw = pd.read_parquet(SHARED / "mass/industry_ret.parq").pivot(
        index="Date", columns="Industry", values="Daily_Return")[list(p.industry_names)]
    prev = raw.index.get_indexer(p.dates) - 1
    np.testing.assert_array_equal(p.industry_returns, raw.to_numpy(np.float64)[prev])
    # look-ahead check: the raw row predicts the board's NEXT close-to-close return, the panel's does not
    adj = p.adj_close
    cc = np.vstack([np.full((1, p.n_symbols), np.nan), adj[1:] / adj[:-1] - 1])
    onehot = np.eye(len(p.industry_names))[p.industry]
    ew = (cc @ onehot) / onehot.sum(0)

    def next_day_corr(x: np.ndarray) -> float:
        return float(np.mean([np.corrcoef(x[1:-1, k], ew[2:, k])[0, 1] for k in range(x.shape[1])]))

    unshifted = raw.to_numpy(np.float64)[prev + 1]
    assert next_day_corr(unshifted) > 0.2
    assert abs(next_day_corr(p.industry_returns)) < 0.1


@requires_shared
def test_sse50_macro_has_no_look_ahead(sse50):
    p = sse50
    cpi = pd.Series(p.macro[:, 0], index=p.dates)
    assert cpi["2023-01-19"] == 1.6 and cpi["2023-01-20"] == 1.8  # Dec-2022 CPI from Jan 20 on
    specs = mass_macro(SHARED)
    for t in (0, 30, 77, 139):
        cut = {}
        for name, s in specs.items():
            obs = parse_dates(s.frame[s.date_column])
            rel = release_dates(obs, s.frequency, s.lag_days)
            cut[name] = MacroSeries(s.frame[(rel <= p.dates[t])], s.frequency, s.date_column, s.value_column)
        arr, _ = align_by_release(cut, p.dates)
        np.testing.assert_array_equal(arr[: t + 1], p.macro[: t + 1])
    # the conservative monthly lag is never earlier than the actual NBS CPI release (Jin10 dates)
    jin10 = SHARED / "cn_macro_akshare_dao1023/macro_china_cpi_yearly_df.csv"
    if jin10.exists():
        j = pd.read_csv(jin10, encoding="utf-8-sig")
        actual = pd.to_datetime(j["日期"])
        actual = actual[actual >= "2005-01-01"]
        month = (actual.dt.to_period("M") - 1).dt.to_timestamp()
        assert (release_dates(pd.DatetimeIndex(month), "monthly") >= pd.DatetimeIndex(actual)).all()


@requires_shared
def test_csi300_loader():
    p = load_csi300(SHARED)
    assert p.n_symbols == 300 and 1200 < p.n_days < 1400
    raw = pd.read_parquet(next((SHARED / "wywzxxz_hs300_baostock").glob("*.parquet")),
                          columns=["date", "code", "tradestatus"])
    assert (~p.tradable).sum() == (raw["tradestatus"] == 0).sum() + np.isnan(p.close).sum()
    d = p.day_index("2023-12-11")
    listed = np.isfinite(p.close[d])
    assert np.isfinite(p.valuation["pe"][d][listed]).all()
    assert p.member.sum(1).max() <= 300 and p.member.sum(1)[0] < 300  # point-in-time, not all 2025 names
    sub = load_csi300(SHARED, start="2021-01-01", end="2021-03-31", macro=False)
    assert sub.dates[0] >= pd.Timestamp("2021-01-01") and sub.dates[-1] <= pd.Timestamp("2021-03-31")
    assert sub.macro.shape[1] == 0


@requires_shared
def test_us_loader():
    p = load_us(SHARED, start="2023-01-01")
    assert p.n_symbols > 400 and str(p.dates[0].date()) == "2023-01-03"
    uni = p.universe.sum(1)
    assert 400 < uni.min() and uni.max() <= 505
    assert p.industry_returns.shape == (p.n_days, 11)  # return-cluster sectors (see test_cross_market)


@requires_shared
def test_load_panel_on_a_vendor_file():
    p = load_panel(SHARED / "derived/sse50_daily_2022-12_2023-06.csv", member_column="in_sse50_that_day")
    assert p.n_days == 140 and p.n_symbols == 58 and "baostock" in p.name
    assert p.universe.sum(1).max() == 50
