import numpy as np
import pytest

from mass_env import DataError, LookAheadError, MarketPanel, SyntheticConfig, synthetic_market
from mass_env.data.modalities import DailyFeatures, Modality
from mass_env.data.returns import ReturnSpec, forward_returns
from mass_env.data.view import ForwardReturnCache, PointInTimeView
from mass_env.game.metrics import rank_ic


def test_synthetic_is_deterministic_and_has_suspensions():
    p1, _ = synthetic_market(SyntheticConfig(n_days=120), seed=7)
    p2, _ = synthetic_market(SyntheticConfig(n_days=120), seed=7)
    p3, _ = synthetic_market(SyntheticConfig(n_days=120), seed=8)
    np.testing.assert_array_equal(p1.adj_close, p2.adj_close)
    assert not np.array_equal(p1.adj_close, p3.adj_close)
    assert (~p1.tradable).any() and (~p1.member).any() and p1.is_st.any()
    assert np.isnan(p1.volume[~p1.tradable]).all()


def test_forward_returns_definition_and_suspension(small_market):
    p, _ = small_market
    spec = ReturnSpec(horizon=5, lag=1)
    R = forward_returns(p, spec)
    t, n = 10, 3
    expected = p.adj_close[t + 6, n] / p.adj_close[t + 1, n] - 1
    if p.tradable[t + 1, n] and p.tradable[t + 6, n]:
        assert R[t, n] == pytest.approx(expected)
    assert np.isnan(R[-6:]).all()  # exit beyond the data
    sus = ~p.tradable
    rows, cols = np.nonzero(sus[1:-6])
    assert np.isnan(R[rows, cols]).all()  # cannot enter on a suspended day


def test_view_refuses_the_future(small_market):
    p, _ = small_market
    v = PointInTimeView(p, 30)
    assert v.history("close").shape[0] == 31
    assert v.history("close", 5).shape == (5, p.n_symbols)
    with pytest.raises(LookAheadError):
        v.at("close", 31)
    with pytest.raises(LookAheadError):
        v.universe(40)
    spec = ReturnSpec(10, 1)
    rr = v.realised_returns(spec)
    assert np.isnan(rr[30 - 10:]).all()  # days 20..30 not realised at the close of 30
    full = forward_returns(p, spec)
    np.testing.assert_array_equal(rr[:20], full[:20])
    with pytest.raises(KeyError):
        v.history("no_such_field")


def test_features_only_use_the_past(small_market):
    from mass_env.testing import perturb_after
    p, _ = small_market
    q = perturb_after(p, 40, seed=1)
    for m in Modality:
        a = DailyFeatures(PointInTimeView(p, 40)).blocks[m].values
        b = DailyFeatures(PointInTimeView(q, 40)).blocks[m].values
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(DailyFeatures(PointInTimeView(p, 45)).blocks[Modality.OHLCV].values,
                              DailyFeatures(PointInTimeView(q, 45)).blocks[Modality.OHLCV].values)


def test_each_modality_carries_its_tuned_signal():
    """Switching one modality's strength on makes exactly its feature predictive."""
    cfg = SyntheticConfig(n_days=260, strength={"ohlcv": 0.0, "industry": 0.0, "value": 1.0, "macro": 0.0})
    p, truth = synthetic_market(cfg, seed=0)
    cache = ForwardReturnCache(p)
    R = cache.get(ReturnSpec(10))
    bp, ret5 = [], []
    for t in range(40, 240, 2):
        f = DailyFeatures(PointInTimeView(p, t, cache))
        bp.append(rank_ic(f.blocks[Modality.VALUE].values[:, 1], R[t]))
        ret5.append(rank_ic(-f.blocks[Modality.OHLCV].values[:, 1], R[t]))
    assert np.nanmean(bp) > 0.15
    assert abs(np.nanmean(ret5)) < 0.08
    assert truth.modality_power(Modality.OHLCV | Modality.VALUE) > truth.modality_power(Modality.OHLCV)


def _arrays(T=5, N=3):
    f = np.ones((T, N))
    b = np.ones((T, N), bool)
    return dict(dates=np.array(["2023-01-02", "2023-01-03", "2023-01-04", "2023-01-05", "2023-01-06"],
                               dtype="datetime64[ns]")[:T],
                symbols=tuple(f"s{i}" for i in range(N)), close=f, adj_close=f, open=f, high=f, low=f,
                volume=f, tradable=b, is_st=~b, member=b, industry=np.zeros(N, int),
                industry_names=("a",), industry_returns=np.zeros((T, 1)))


def test_panel_validation_errors():
    MarketPanel(**_arrays())
    bad = _arrays()
    bad["close"] = np.ones((4, 3))
    with pytest.raises(DataError, match="close"):
        MarketPanel(**bad)
    bad = _arrays()
    bad["symbols"] = ("a", "a", "b")
    with pytest.raises(DataError, match="unique"):
        MarketPanel(**bad)
    bad = _arrays()
    bad["tradable"] = np.ones((5, 3))
    with pytest.raises(DataError, match="boolean"):
        MarketPanel(**bad)
    bad = _arrays()
    bad["adj_close"] = np.full((5, 3), np.nan)
    with pytest.raises(DataError, match="tradable"):
        MarketPanel(**bad)
    bad = _arrays()
    bad["industry"] = np.array([0, 5, 0])
    with pytest.raises(DataError, match="industry"):
        MarketPanel(**bad)
    bad = _arrays()
    bad["close"] = np.ones((5, 3))
    bad["close"][2] = np.nan
    bad["tradable"] = np.ones((5, 3), bool)
    bad["tradable"][2] = False
    with pytest.raises(DataError, match="empty days"):
        MarketPanel(**bad)
    p = MarketPanel(**_arrays())
    with pytest.raises(DataError, match="unknown symbols"):
        p.symbol_index(["s0", "zz"])
    with pytest.raises(DataError, match="not a trading day"):
        p.day_index("2023-01-07")
    with pytest.raises(ValueError):
        p.close[0, 0] = 2.0  # read-only
