import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

from mass_env.game.metrics import (
    RankICScorer,
    _pearson_masked,
    average_ranks,
    ic,
    rank_ic,
    summarize,
)
from mass_env.game.rank_rows import _rank_ic_by_day, rank_ic_days, rank_ic_rows


def _scipy_rank_ic(s, r, min_stocks=5):
    m = np.isfinite(s) & np.isfinite(r)
    if m.sum() < min_stocks or np.ptp(s[m]) == 0 or np.ptp(r[m]) == 0:
        return np.nan
    return st.spearmanr(s[m], r[m]).statistic


values = hnp.arrays(np.float64, hs.integers(5, 40),
                    elements=hs.one_of(hs.sampled_from([0.0, 1.0, -1.0, 0.5, np.nan]),
                                       hs.floats(-3, 3, allow_nan=False)))


@settings(max_examples=200, deadline=None)
@given(values, hs.integers(0, 2**31 - 1))
def test_rank_ic_equals_scipy_with_ties_and_nans(s, seed):
    r = np.random.default_rng(seed).normal(size=s.size)
    r[np.random.default_rng(seed + 1).random(s.size) < 0.1] = np.nan
    got = rank_ic(s, r)
    want = _scipy_rank_ic(s, r)
    if np.isnan(want):
        assert np.isnan(got)
    else:
        assert abs(got - want) < 1e-10


def test_scorer_matches_scipy_over_candidates_days(rng):
    P, T, N = 6, 15, 40
    S = rng.integers(0, 3, (P, T, N)).astype(float)  # heavy ties, like MASS selections
    S[rng.random((P, T, N)) < 0.05] = np.nan  # candidate-specific holes -> exact fallback path
    S[:, :5] = rng.normal(size=(P, 5, N))  # some days with a shared mask -> fast path
    R = rng.normal(size=(T, N))
    R[rng.random((T, N)) < 0.1] = np.nan
    got = RankICScorer(R)(S)
    want = np.array([[_scipy_rank_ic(S[p, t], R[t]) for t in range(T)] for p in range(P)])
    np.testing.assert_allclose(got, want, atol=1e-10)
    np.testing.assert_allclose(rank_ic(S, R), want, atol=1e-10)


@settings(max_examples=100, deadline=None)
@given(hs.integers(1, 10), hs.integers(0, 60), hs.integers(0, 2**31 - 1), hs.integers(1, 6))
def test_rank_ic_is_the_textbook_formula_to_the_last_bit(rows, width, seed, min_stocks):
    # exact rank sums in any order: the same bits as the Pearson formula on average ranks (ties, NaN, inf)
    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(size=(rows, width)), int(rng.integers(0, 3)))
    s[rng.random(s.shape) < rng.random() * 0.6] = np.nan
    s[rng.random(s.shape) < 0.03] = np.inf
    r = np.round(rng.normal(size=width), int(rng.integers(0, 3)))
    r[rng.random(width) < 0.1] = np.nan
    sb, rb = np.broadcast_arrays(s, r[None])
    valid = np.isfinite(sb) & np.isfinite(rb)
    want = _pearson_masked(average_ranks(sb, valid), average_ranks(rb, valid), valid, min_stocks)
    for got in (rank_ic(s, r[None], min_stocks=min_stocks), rank_ic_rows(s, r, min_stocks=min_stocks)):
        assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True)


@settings(max_examples=150, deadline=None)
@given(hs.integers(1, 50), hs.integers(0, 60), hs.integers(1, 6), hs.integers(0, 2**31 - 1), hs.integers(1, 6))
def test_rank_ic_days_is_the_general_path_to_the_last_bit(rows, width, n_days, seed, min_stocks):
    # each day's returns sorted once must give the bits of ranking every (row, its day's returns) pair:
    # ties on either side (rounding), NaN and inf on both, constant rows and days, rows below min_stocks
    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(size=(rows, width)), int(rng.integers(0, 3)))
    s[rng.random(s.shape) < rng.random() * 0.6] = np.nan
    s[rng.random(s.shape) < 0.03] = np.inf
    s[rng.random(rows) < 0.1] = 0.5  # constant rows
    r = np.round(rng.normal(size=(n_days, width)), int(rng.integers(0, 3)))
    r[rng.random(r.shape) < rng.random() * 0.3] = np.nan
    r[rng.random(r.shape) < 0.03] = -np.inf
    r[rng.random(n_days) < 0.1] = 1.0  # constant days
    day = rng.integers(0, n_days, rows)
    rd = r[day]
    valid = np.isfinite(s) & np.isfinite(rd)
    want = _pearson_masked(average_ranks(s, valid), average_ranks(rd, valid), valid, min_stocks)
    got = rank_ic_days(s, r, day, min_stocks=min_stocks)
    assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
    if width:  # the day's order at any row count (rank_ic_days takes one pass below a few dozen rows)
        days, at = np.unique(day, return_inverse=True)
        assert np.array_equal(_rank_ic_by_day(s, r[days], at.reshape(-1), min_stocks), want, equal_nan=True)
    assert np.array_equal(got, rank_ic_rows(s, rd, min_stocks=min_stocks), equal_nan=True)
    for i in range(rows) if width else ():
        scipy = _scipy_rank_ic(s[i], rd[i], min_stocks)
        assert np.isnan(got[i]) if np.isnan(scipy) else abs(got[i] - scipy) < 1e-10


@pytest.mark.parametrize("side", ["signal", "returns"])
def test_rank_ic_days_finds_a_single_tie_among_many_rows(rng, side):
    # one tied pair in one row (or one day), next to unusable tails: the tie must still be seen
    s = rng.normal(size=(40, 30))
    s[:, -3:] = np.nan
    r = rng.normal(size=(2, 30))
    if side == "signal":
        s[7, 4] = s[7, 11]
    else:
        r[1, 2] = r[1, 9]
    day = np.arange(40) % 2
    valid = np.isfinite(s) & np.isfinite(r[day])
    want = _pearson_masked(average_ranks(s, valid), average_ranks(r[day], valid), valid, 5)
    assert np.array_equal(rank_ic_days(s, r, day), want)


def test_rank_ic_days_rejects_a_day_count_that_does_not_match_the_rows():
    with pytest.raises(ValueError, match="one returns row per signal row"):
        rank_ic_days(np.zeros((3, 5)), np.zeros((2, 5)), [0, 1])


def test_average_ranks_equal_scipy_rankdata(rng):
    x = rng.integers(0, 5, (7, 30)).astype(float)
    np.testing.assert_array_equal(average_ranks(x), st.rankdata(x, axis=-1))


def test_degenerate_rows_are_nan():
    r = np.arange(10.0)
    assert np.isnan(rank_ic(np.ones(10), r))  # constant signal
    assert np.isnan(rank_ic(np.arange(4.0), np.arange(4.0)))  # fewer than min_stocks
    assert np.isnan(rank_ic(np.full(10, np.nan), r))  # nobody looked
    assert rank_ic(np.arange(10.0), r) == pytest.approx(1.0)
    assert rank_ic(-np.arange(10.0), r) == pytest.approx(-1.0)


def test_pearson_ic_matches_numpy(rng):
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert ic(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)


def test_summary_skips_nan_days():
    s = summarize([0.1, np.nan, 0.3, -0.1])
    assert s.n_days == 3
    assert s.mean == pytest.approx(0.1)
    assert s.ir == pytest.approx(0.1 / np.std([0.1, 0.3, -0.1], ddof=1))
    assert summarize([np.nan]).n_days == 0


@pytest.mark.parametrize("tie_rows", [0, 3, 200])
def test_scorer_tie_paths_agree_with_scipy(rng, tie_rows):
    """No ties, a few tied rows (gathered), and mostly tied rows (ranked in bulk) all match scipy."""
    P, T, N = 8, 30, 25
    S = rng.normal(size=(P, T, N))
    flat = S.reshape(-1, N)
    flat[:tie_rows, : N // 2] = 0.25  # tie half of the stocks in the first rows
    R = rng.normal(size=(T, N))
    got = RankICScorer(R)(S)
    want = np.array([[_scipy_rank_ic(S[p, t], R[t]) for t in range(T)] for p in range(P)])
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("block_elements", [1, 50, 7 * 25, 1 << 17])
def test_scorer_blocks_and_row_boundaries_match_scipy(rng, block_elements):
    """Blocks that split candidates mid-window, values equal across row boundaries (never a tie
    between rows), and a shared missing-return mask all give scipy's answer."""
    P, T, N = 5, 7, 25
    S = np.round(rng.random((P, T, N)), 1)  # dense ties inside rows, values in [0, 1]
    S[..., 0], S[..., 1] = 0.0, 1.0
    S += np.arange(P * T).reshape(P, T, 1)  # sorted, each row ends on the value the next one starts with
    R = rng.normal(size=(T, N))
    R[:2][rng.random((2, N)) < 0.15] = np.nan  # a shared per-day mask on two days (unusable sort last)
    got = RankICScorer(R, block_elements=block_elements)(S)
    want = np.array([[_scipy_rank_ic(S[p, t], R[t]) for t in range(T)] for p in range(P)])
    np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("shape", [(3, 0, 5), (0, 4, 5), (3, 4, 0)])
def test_scorer_empty_inputs(shape):
    got = RankICScorer(np.zeros(shape[1:]))(np.zeros(shape))
    assert got.shape == shape[:2] and np.isnan(got).all()


def test_scorer_rejects_bad_block_size():
    with pytest.raises(ValueError, match="block_elements"):
        RankICScorer(np.zeros((2, 5)), block_elements=0)


@settings(max_examples=60, deadline=None)
@given(hs.integers(1, 4), hs.integers(1, 5), hs.integers(1, 30), hs.integers(1, 200),
       hs.sampled_from(["none", "returns", "shared", "candidate"]), hs.integers(0, 2**31 - 1))
def test_scorer_property_any_shape_block_and_nan_pattern(P, T, N, block, holes, seed):
    """Any (P, T, N), block size and missing-data pattern: the scorer equals scipy row by row."""
    rng = np.random.default_rng(seed)
    S = rng.integers(-3, 4, (P, T, N)) / 2.0  # coarse grid: ties everywhere
    R = rng.normal(size=(T, N))
    if holes == "returns":
        R[rng.random((T, N)) < 0.2] = np.nan
    elif holes == "shared":  # same holes for every candidate: fast path with a day mask
        S[:, rng.random((T, N)) < 0.2] = np.nan
    elif holes == "candidate":  # candidate-specific holes: exact fallback on those days
        S[rng.random((P, T, N)) < 0.2] = np.nan
    got = RankICScorer(R, block_elements=block)(S)
    want = np.array([[_scipy_rank_ic(S[p, t], R[t]) for t in range(T)] for p in range(P)])
    np.testing.assert_allclose(got, want, atol=1e-10)
