"""Hostile market tables: every fault is a clear error, a counted fix in the panel's
report, or a correct result; never silently wrong numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from repo_paths import SHARED_DATA

from mass_env.data.datasets import SSE50_WINDOW, load_panel
from mass_env.data.frame import SPARSE_DAYS, from_long_frame
from mass_env.data.macro import parse_dates
from mass_env.data.modalities import Modality, compute_block
from mass_env.data.quality import DataQualityWarning, price_jumps
from mass_env.data.vendors import normalise_columns
from mass_env.data.view import PointInTimeView
from mass_env.errors import DataError

SHARED = SHARED_DATA


def table(n_days: int = 40, symbols: tuple[str, ...] = ("000001", "600000", "600519", "601318"),
          seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2023-01-02", periods=n_days)
    df = pd.MultiIndex.from_product([dates, symbols], names=["date", "symbol"]).to_frame(index=False)
    steps = rng.normal(0, 0.01, (n_days, len(symbols)))
    prices = 10 * np.exp(np.cumsum(steps, axis=0)) * np.arange(1, len(symbols) + 1)
    df["close"] = prices.reshape(-1)
    df["volume"] = 1000.0
    df["date"] = df["date"].dt.strftime("%Y-%m-%d")
    return df


def cell(df: pd.DataFrame, day: int, sym: str) -> pd.Index:
    d = sorted(df["date"].unique())[day]
    return df.index[(df["date"] == d) & (df["symbol"] == sym)]


def features(panel, day: int) -> np.ndarray:
    return compute_block(PointInTimeView(panel, day), Modality.OHLCV).values


# -------------------------------------------------------------------------------------- bad prices
@pytest.mark.parametrize("bad", [-5.0, np.inf, -np.inf, 1e-300, "x1000"])
def test_invalid_prices_are_masked_before_features_and_counted(bad):
    clean = table()
    hostile = clean.copy()
    idx = cell(hostile, 20, "600000")
    hostile.loc[idx, "close"] = hostile.loc[idx, "close"] * 1000 if bad == "x1000" else bad
    ref = from_long_frame(clean)
    with pytest.warns(DataQualityWarning, match="data faults fixed"):
        p = from_long_frame(hostile)
    j = p.symbols.index("600000")
    assert np.isnan(p.adj_close[20, j]) and not p.tradable[20, j]
    assert sum(n for k, n in p.report if k.startswith("bars masked")) == 1
    assert "data faults fixed while loading" in p.summary()
    # no feature of any day sees the bad value: the other stocks' values are those of the clean panel
    # with the masked cell, and the bad stock's are finite or NaN, never an extreme from the bad print
    masked = ref.with_arrays(close=np.where(np.isnan(p.close), np.nan, ref.close),
                             adj_close=np.where(np.isnan(p.adj_close), np.nan, ref.adj_close),
                             tradable=p.tradable)
    for day in range(15, 40):
        np.testing.assert_allclose(features(p, day), features(masked, day), equal_nan=True)


def test_first_price_spike_and_a_lasting_level_change():
    df = table()
    first = cell(df, 0, "000001")
    df.loc[first, "close"] *= 1000  # a symbol's first print: no past, checked against the next two
    later = df.index[(df["symbol"] == "601318") & (df["date"] >= sorted(df["date"].unique())[25])]
    df.loc[later, "close"] *= 50  # a level change that persists: accepted after 3 prints
    with pytest.warns(DataQualityWarning):
        p = from_long_frame(df)
    assert np.isnan(p.adj_close[0, 0]) and np.isfinite(p.adj_close[1:, 0]).all()
    k = p.symbols.index("601318")
    assert np.isnan(p.adj_close[25:27, k]).all() and np.isfinite(p.adj_close[27:, k]).all()


def test_price_jumps_never_look_ahead():
    rng = np.random.default_rng(1)
    adj = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (60, 5)), axis=0))
    adj[30, 2] *= 1000
    base = price_jumps(adj)
    for t in range(3, 59):  # scrambling everything after t never changes the mask at or before t
        scrambled = adj.copy()
        scrambled[t + 1:] = rng.lognormal(0, 3, scrambled[t + 1:].shape)
        np.testing.assert_array_equal(price_jumps(scrambled)[: t + 1], base[: t + 1])


def test_negative_volume_masked_and_clean_table_reports_nothing():
    df = table()
    assert not from_long_frame(df).report
    df.loc[cell(df, 10, "600519"), "volume"] = -1.0
    with pytest.warns(DataQualityWarning, match="volume"):
        p = from_long_frame(df)
    assert not p.tradable[10, p.symbols.index("600519")]


# ------------------------------------------------------------------------------------------- dates
def test_day_first_dates_read_once_per_column():
    df = table(n_days=40)
    d = pd.to_datetime(df["date"])
    df["date"] = d.dt.strftime("%d/%m/%Y")  # days 02..27 of Jan-Feb: some > 12 decide the format
    p = from_long_frame(df)
    assert p.dates[0] == pd.Timestamp("2023-01-02") and p.dates.is_monotonic_increasing
    assert p.dates[-1] == d.max()


def test_ambiguous_dates_are_an_error():
    with pytest.raises(DataError, match="ambiguous"):
        parse_dates(["01/02/2023", "03/04/2023", "12/11/2023"])
    with pytest.raises(DataError, match="no single date format"):
        parse_dates(["2023-01-02", "13/04/2023"])


# ---------------------------------------------------------------------------------------- calendar
def test_calendar_hole_and_future_dates_are_errors():
    df = table(n_days=20)
    late = df.copy()
    late["date"] = (pd.to_datetime(late["date"]) + pd.DateOffset(years=-5)).dt.strftime("%Y-%m-%d")
    with pytest.raises(DataError, match="hole"):
        from_long_frame(pd.concat([df, late.iloc[:8]], ignore_index=True))
    future = df.iloc[:3].assign(date="2099-01-05")
    with pytest.raises(DataError, match="after today"):
        from_long_frame(pd.concat([df, future], ignore_index=True), max_gap_days=None)


def test_symbols_with_trailing_spaces_are_stripped_and_counted():
    df = table()
    odd = df.index[df.index % 2 == 0]
    df.loc[odd, "symbol"] = df.loc[odd, "symbol"] + " "
    with pytest.warns(DataQualityWarning, match="spaces"):
        p = from_long_frame(df)
    assert p.n_symbols == 4 and p.report["symbols with surrounding spaces (stripped)"] == len(odd)
    dup = pd.concat([table().iloc[:1], table().iloc[:1].assign(symbol=lambda x: x["symbol"] + " ")])
    with pytest.raises(DataError, match="after stripping"):
        from_long_frame(pd.concat([dup, table().iloc[1:]]))


# ------------------------------------------------------------------------------ vendor conventions
def tushare(with_pct: bool = True) -> pd.DataFrame:
    df = table(n_days=30, symbols=("600000",))
    close = df["close"].to_numpy().copy()
    close[15:] /= 10  # a 10:1 split on day 15
    out = pd.DataFrame({"ts_code": "600000.SH", "trade_date": pd.to_datetime(df["date"]).dt.strftime("%Y%m%d"),
                        "close": close})
    if with_pct:
        pre = np.r_[np.nan, df["close"].to_numpy()[:-1]]
        pre[15:] /= 10  # the ex-right pre-close
        out["pct_chg"] = (close / pre - 1) * 100
    return out


def test_tushare_without_adj_factor_chains_pct_chg():
    p = from_long_frame(normalise_columns(tushare(), "tushare"))
    r = p.adj_close[15, 0] / p.adj_close[14, 0] - 1
    assert abs(r) < 0.1  # not -90%
    with pytest.warns(DataQualityWarning, match="neither adj_factor nor pct_chg"):
        normalise_columns(tushare(with_pct=False), "tushare")


def test_tushare_volume_is_kept_so_suspended_days_are_untradable():
    df = tushare().assign(volume=1000.0)
    df.loc[5, "volume"] = 0.0
    p = from_long_frame(normalise_columns(df, "tushare"))
    assert not p.tradable[5, 0] and p.tradable[6, 0]


@pytest.mark.parametrize("name", ["Adj_Close", "Adj Close", "adjclose", "AdjClose"])
def test_yfinance_adjusted_close_spellings(name):
    df = pd.DataFrame({"Date": pd.bdate_range("2023-01-02", periods=5), "Close": [10.0] * 5,
                       name: [5.0, 5.5, 6.0, 6.5, 7.0], "Volume": 1.0})
    p = from_long_frame(normalise_columns(df, "yfinance", symbol="AAPL"))
    np.testing.assert_allclose(p.adj_close[:, 0], [5.0, 5.5, 6.0, 6.5, 7.0])


def test_membership_column_of_the_shared_sse50_file_is_honoured(tmp_path):
    df = table().assign(in_sse50_that_day=True)
    df.loc[df["symbol"] == "600519", "in_sse50_that_day"] = False
    path = tmp_path / "sse50.csv"
    df.to_csv(path, index=False)
    p = load_panel(path)
    assert not p.member[:, p.symbols.index("600519")].any() and p.member[:, 0].all()
    real = SHARED / SSE50_WINDOW
    if real.exists():
        assert load_panel(real).universe.sum(axis=1).max() == 50


def test_a_stray_row_on_a_weekend_is_dropped_warned_and_counted_not_a_near_empty_day():
    """One of 50 stocks with a row on a Saturday would add a trading day on which 49 stocks have no
    price: every return across it and every score would move. The day is dropped, with a warning that
    names it, and counted in the panel's report; the panel equals the clean one."""
    symbols = tuple(f"S{i:03d}" for i in range(50))
    clean = table(60, symbols)
    stray = clean[clean["date"] == "2023-01-06"].head(1).assign(date="2023-01-07")  # Friday's row on Saturday
    with pytest.warns(DataQualityWarning, match=r"1 sparse day\(s\) dropped, e\.g\. 2023-01-07"):
        panel = from_long_frame(pd.concat([clean, stray], ignore_index=True))
    ref = from_long_frame(clean)
    assert panel.n_days == ref.n_days == 60 and pd.Timestamp("2023-01-07") not in panel.dates
    np.testing.assert_array_equal(panel.adj_close, ref.adj_close)
    assert "sparse days" in panel.summary() and panel.report[SPARSE_DAYS] == 1
    kept = from_long_frame(pd.concat([clean, stray], ignore_index=True), min_day_coverage=None)
    assert kept.n_days == 61  # asked for: every day kept


def test_a_universe_that_grows_keeps_its_early_days():
    """Sparse is judged against the days around a day, not the whole table: 5 stocks listed at first and
    50 a year later is a growing market, not 200 stray days."""
    early = table(40, tuple(f"S{i:03d}" for i in range(5)))
    late = table(40, tuple(f"S{i:03d}" for i in range(50)), seed=1)
    late["date"] = (pd.to_datetime(late["date"]) + pd.offsets.BDay(40)).dt.strftime("%Y-%m-%d")
    panel = from_long_frame(pd.concat([early, late], ignore_index=True))
    assert panel.n_days == 80 and not panel.report
