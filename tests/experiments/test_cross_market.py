"""Cross-market panels (US S&P 500, CSI300): named datasets, point-in-time membership and sectors,
investor types whose views really differ, and clear errors for bad dataset names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from repo_paths import SHARED_DATA

from mass_env.data.clusters import clusters_asof, return_clusters
from mass_env.data.datasets import DATASETS, load_csi300, load_named, load_us, parse_dataset_spec
from mass_env.data.modalities import DailyFeatures, modality_combinations
from mass_env.data.panel import MarketPanel
from mass_env.data.view import PointInTimeView
from mass_env.errors import DataError

SHARED = SHARED_DATA
requires_shared = pytest.mark.skipif(not (SHARED / "us_yfinance_dieperdev").is_dir()
                                     or not (SHARED / "wywzxxz_hs300_baostock").is_dir(),
                                     reason="shared data folder absent")


# ------------------------------------------------------------------------------------------ registry
def test_registry_lists_the_cross_market_datasets():
    assert {"us", "csi300"} <= set(DATASETS.available())
    assert DATASETS.canonical("sp500") == "us"


def test_dataset_specs_parse_and_bad_names_or_options_are_clear(tmp_path: Path):
    assert parse_dataset_spec("us:start=2023-01-03, end=2023-02-28,macro=false,sectors=5") == (
        "us", {"start": "2023-01-03", "end": "2023-02-28", "macro": False, "sectors": 5})
    with pytest.raises(DataError, match=r"'nope' is neither .* datasets: sse50, sse50-pretraining, csi300, us"):
        load_named("nope", tmp_path)
    with pytest.raises(DataError, match=r"dataset 'us' takes no option 'colour'; options: start, end, macro"):
        load_named("us:colour=red", tmp_path)
    with pytest.raises(DataError, match="not key=value"):
        load_named("us:2023", tmp_path)


def test_cli_names_a_dataset_that_does_not_exist(capsys: pytest.CaptureFixture[str]):
    from experiments.cli import main

    assert main(["data", "--data", "no-such-market"]) == 2
    err = capsys.readouterr().err
    assert "no-such-market" in err and "datasets: sse50" in err and "csi300" in err and "us" in err


# ------------------------------------------------------------------------------------------ clustering
def _sector_prices(T: int = 260, n_sectors: int = 4, per: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(n_sectors), per)
    factors = rng.normal(0, 0.015, (T, n_sectors))
    r = 0.01 * rng.normal(size=(T, 1)) + factors[:, truth] + rng.normal(0, 0.006, (T, truth.size))
    return 100 * np.exp(np.cumsum(r, axis=0)), truth


def test_return_clusters_recover_planted_sectors():
    adj, truth = _sector_prices()
    lab = clusters_asof(adj, 200, 150, 4)
    assert (lab >= 0).all()
    # same partition as the truth up to a renaming of the clusters
    assert len(set(zip(lab.tolist(), truth.tolist()))) == 4 == len(set(lab.tolist()))


def test_clusters_at_day_t_ignore_the_future():
    adj, _ = _sector_prices()
    t = 200
    before = clusters_asof(adj, t, 150, 4)
    future = adj.copy()
    rng = np.random.default_rng(1)
    future[t + 1:] *= np.exp(rng.normal(0, 0.2, future[t + 1:].shape))  # scramble every later price
    future[t + 1:, :5] = np.nan
    assert np.array_equal(clusters_asof(future, t, 150, 4), before)
    past = adj.copy()
    past[:, [0, 20]] = past[:, [20, 0]]  # swapping two stocks' past (different sectors) moves the labels
    moved = clusters_asof(past, t, 150, 4)
    assert moved[0] == moved[12] != moved[1] == moved[20] and not np.array_equal(moved, before)


def test_clusters_leave_short_histories_unknown_and_reject_early_days():
    adj, _ = _sector_prices()
    adj[:120, 0] = np.nan  # listed late: too little history in the window
    lab = clusters_asof(adj, 200, 150, 4)
    assert lab[0] == -1 and (lab[1:] >= 0).all()
    with pytest.raises(DataError, match="lookback <= asof"):
        clusters_asof(adj, 100, 150, 4)
    assert (return_clusters(np.full((10, 3), np.nan), 2) == -1).all()


# ------------------------------------------------------------------------------------------ shared data
def _distinct_views(panel: MarketPanel, day: int) -> int:
    """How many of the 8 information sets show different data on ``day`` (columns that are NaN for
    every stock carry no information and are dropped before comparing)."""
    feats = DailyFeatures(PointInTimeView(panel, day))
    views = set()
    for m in modality_combinations():
        block = feats.for_modalities(m)
        vals = block.values[:, np.isfinite(block.values).any(0)]
        views.add(np.round(np.nan_to_num(vals, nan=9.0), 10).tobytes())
    return len(views)


def _member_days(history: pd.DataFrame, symbol: str, days: pd.DatetimeIndex) -> list[bool]:
    """Membership straight from the index-constitution intervals: opt-in <= day < opt-out."""
    rows = history[history["symbol"] == symbol]
    out = np.zeros(len(days), bool)
    for opt_in, opt_out in zip(pd.to_datetime(rows["opt-in"]), pd.to_datetime(rows["opt-out"])):
        out |= (days >= opt_in) & ((days < opt_out) if pd.notna(opt_out) else True)
    return out.tolist()


@requires_shared
def test_us_panel_is_point_in_time_with_sectors_and_release_dated_macro():
    p = load_us(SHARED, start="2023-01-03", end="2023-03-31")
    assert str(p.dates[0].date()) == "2023-01-03" and str(p.dates[-1].date()) == "2023-03-31"
    hist = pd.read_csv(SHARED / "pypi/index_constitution_history_sp500.csv")
    changes = hist[(pd.to_datetime(hist["opt-in"]).between(p.dates[1], p.dates[-1]))
                   | (pd.to_datetime(hist["opt-out"]).between(p.dates[1], p.dates[-1]))]
    changed = [s for s in changes["symbol"] if s in p.symbols]
    assert changed, "no index change inside the window to test"
    for s in changed:  # a stock is in the cross-section only on the days it was a member
        j = p.symbols.index(s)
        assert p.member[:, j].tolist() == _member_days(hist, s, p.dates)
    assert 480 <= p.universe.sum(1).min() and p.universe.sum(1).max() <= 505
    assert len(p.industry_names) == 11 and (p.industry >= 0).mean() > 0.95
    assert {"cpi_yoy", "unemployment", "ism_pmi", "vix"} <= set(p.macro_names) and p.valuation == {}
    cpi = p.macro[:, p.macro_names.index("cpi_yoy")]
    # Dec-2022 CPI was published 2023-01-12: released data only from the 20th after the month end
    assert abs(cpi[p.day_index("2023-01-19")] - cpi[0]) < 1e-12 and cpi[p.day_index("2023-01-20")] != cpi[0]
    # sectors are formed before the first day: a longer future leaves them unchanged
    longer = load_us(SHARED, start="2023-01-03", end="2023-06-30", macro=False)
    shared = [s for s in p.symbols if s in longer.symbols]
    assert longer.industry_names == p.industry_names
    assert np.array_equal(longer.industry[longer.symbol_index(shared)], p.industry[p.symbol_index(shared)])
    # OHLCV, +sectors, +macro, +both: the value modality is absent on this market (no fundamentals)
    assert _distinct_views(p, 30) == 4


@requires_shared
def test_csi300_types_see_eight_different_views_and_suspensions_do_not_trade():
    p = load_csi300(SHARED, start="2023-01-03", end="2023-03-31")
    assert _distinct_views(p, 30) == 8
    raw = pd.read_parquet(next((SHARED / "wywzxxz_hs300_baostock").glob("*.parquet")),
                          columns=["date", "code", "tradestatus"])
    raw = raw[(raw["date"] >= "2023-01-03") & (raw["date"] <= "2023-03-31")]
    assert (raw["tradestatus"] == 0).sum() > 0 and (~p.tradable).sum() >= (raw["tradestatus"] == 0).sum()
    assert p.universe.sum(1).max() < 300  # point-in-time: the 2025 constituents were not all members
