"""Cross-sectional IC / Rank IC, vectorised over any leading axes (candidates, days).

Conventions (Qlib's, and scipy's ``spearmanr``): Rank IC is the Pearson correlation of *average*
ranks (ties share the mean rank); a (signal, return) pair is used only where both are finite; a row
with fewer than ``min_stocks`` usable pairs or a constant side gives NaN, and summaries skip NaN days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .rank_rows import rank_ic_rows

FloatArray = npt.NDArray[np.float64]


def average_ranks(x: npt.ArrayLike, valid: npt.ArrayLike | None = None) -> FloatArray:
    """Average ranks (1-based) along the last axis over ``valid`` entries; NaN elsewhere.

    One argsort per row; tie runs are found on the sorted values, so the cost is the sort.
    """
    xa = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(xa) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(xa))
    xs_in = np.where(ok, xa, np.nan)  # NaN sorts last
    order = np.argsort(xs_in, axis=-1, kind="stable")
    avg = _sorted_average_ranks(np.take_along_axis(xs_in, order, axis=-1), ok.sum(-1))
    out = np.empty_like(avg)
    np.put_along_axis(out, order, avg, axis=-1)
    return out


def _sorted_average_ranks(xs: FloatArray, n_valid: npt.ArrayLike) -> FloatArray:
    """Average 1-based ranks of already-sorted rows whose first ``n_valid`` entries are valid.

    All rows are treated as one long sequence of tie runs (row starts force a new run), so the
    work is one comparison pass, one ``flatnonzero`` and one ``repeat``, whatever the tie pattern.
    """
    n = xs.shape[-1]
    if n == 0 or xs.size == 0:
        return np.array(xs, dtype=np.float64, copy=True)
    flat = xs.reshape(-1, n)
    start = np.ones(flat.shape, dtype=bool)
    np.not_equal(flat[:, 1:], flat[:, :-1], out=start[:, 1:])
    first = np.flatnonzero(start)
    lengths = np.diff(np.append(first, start.size))
    avg = (first % n) + (lengths + 1) / 2.0
    out = np.repeat(avg, lengths).reshape(xs.shape)
    invalid = np.arange(n) >= np.asarray(n_valid)[..., None]
    out[np.broadcast_to(invalid, out.shape)] = np.nan
    return out


def _tie_corrections(sorted_rows: FloatArray, g: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Corrections to the no-tie covariance numerator and squared rank norm of ``(M, n)`` sorted rows.

    Without ties, sorted position j has rank j + 1. A run of ``t`` tied values shares the average
    rank instead, which changes the numerator by ``sum_run (avg - j) * g_j`` and the squared norm by
    ``-(t^3 - t) / 12`` (the textbook tie correction). Rows are scanned as one flat sequence with row
    starts forced untied, and only elements in tied runs are gathered, so sparse ties cost little.
    ``avg - j`` is the same in flat and in-row coordinates, so no per-element modulo is needed.
    Unusable entries are ``+inf`` (sorted last) and never tied.
    """
    m, n = sorted_rows.shape
    flat = sorted_rows.reshape(-1)
    size = flat.size
    # tied_prev[i]: element i equals element i - 1 of the same row (padded False at both ends)
    tied_prev = np.zeros(size + 1, dtype=bool)
    np.equal(flat[1:], flat[:-1], out=tied_prev[1:-1])
    tied_prev[1:-1] &= flat[1:] < np.inf  # a run of unusable (+inf) entries is no tie
    tied_prev[n:size:n] = False
    idx = np.flatnonzero(tied_prev[:-1] | tied_prev[1:])  # elements tied to a neighbour
    if idx.size == 0:
        return np.zeros(m), np.zeros(m)
    run_start = ~tied_prev[idx]
    run = np.cumsum(run_start) - 1
    first = idx[run_start]
    length = np.diff(np.append(np.flatnonzero(run_start), idx.size))
    avg = first + (length - 1) * 0.5  # average (flat) position of each run
    num = np.bincount(idx // n, weights=(avg[run] - idx) * g.reshape(-1)[idx], minlength=m)
    ties = np.bincount(first // n, weights=(length.astype(np.float64) ** 3 - length) / 12.0, minlength=m)
    return num.astype(np.float64), ties.astype(np.float64)


def _pearson_masked(a: FloatArray, b: FloatArray, valid: npt.NDArray[np.bool_], min_stocks: int) -> FloatArray:
    n = valid.sum(-1)
    safe_n = np.maximum(n, 1)
    a0 = np.where(valid, a, 0.0)
    b0 = np.where(valid, b, 0.0)
    ac = np.where(valid, a0 - (a0.sum(-1) / safe_n)[..., None], 0.0)
    bc = np.where(valid, b0 - (b0.sum(-1) / safe_n)[..., None], 0.0)
    num = (ac * bc).sum(-1)
    den = np.sqrt((ac * ac).sum(-1) * (bc * bc).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    bad = (n < min_stocks) | ~(den > 1e-300)
    return np.where(bad, np.nan, np.clip(out, -1.0, 1.0))


def ic(signal: npt.ArrayLike, returns: npt.ArrayLike, *, min_stocks: int = 5) -> FloatArray:
    """Pearson IC along the last axis (broadcasting leading axes)."""
    s, r = np.broadcast_arrays(np.asarray(signal, np.float64), np.asarray(returns, np.float64))
    valid = np.isfinite(s) & np.isfinite(r)
    return _pearson_masked(s, r, valid, min_stocks)


def rank_ic(signal: npt.ArrayLike, returns: npt.ArrayLike, *, min_stocks: int = 5) -> FloatArray:
    """Spearman Rank IC along the last axis (broadcasting leading axes), ties averaged.

    Both sides are ranked on their *joint* finite set, exactly as ``scipy.stats.spearmanr`` on the
    pairs with NaN removed. Average ranks are half-integers and both sides' mean rank is ``(n + 1) / 2``,
    so the centred ranks, their products and sums are exact (integers here, in any order): the
    result is the textbook Pearson formula of ``_pearson_masked`` on ``average_ranks`` to the last bit.
    """
    s, r = np.broadcast_arrays(np.asarray(signal, np.float64), np.asarray(returns, np.float64))
    lead, width = s.shape[:-1], s.shape[-1]
    if s.size == 0:
        return np.full(lead, np.nan)
    return rank_ic_rows(s.reshape(-1, width), r.reshape(-1, width), min_stocks=min_stocks).reshape(lead)


#: The daily cross-sectional metrics the game's history reports for every component and horizon,
#: by column prefix (``ric_signal_10d``). A new reported metric is one entry here (and, to print it,
#: one line in ``experiments.stats.report``).
REPORTED_METRICS: dict[str, Callable[..., FloatArray]] = {"ric": rank_ic}


class RankICScorer:
    """Fast Rank IC of many candidate signals ``(P, T, N)`` against fixed returns ``(T, N)``.

    The returns are ranked once. When every candidate has the same usable set per day (the usual
    case: coverage does not depend on the weights), each (candidate, day) row costs one argsort and
    two flat gathers, with no scatter back (the dot product is permutation-invariant), plus a tie
    correction over tied runs only. Rows whose usable set differs fall back to the exact general
    path, so the answer never depends on which path ran.

    Rows are processed in blocks of about ``block_elements`` values: the temporaries then stay in
    cache and are reused from the heap instead of being fresh pages (at P=64, T=60, N=100 an
    unblocked pass spends more time page-faulting its temporaries than sorting).
    """

    def __init__(self, returns: npt.ArrayLike, *, min_stocks: int = 5, block_elements: int = 1 << 17) -> None:
        r = np.asarray(returns, dtype=np.float64)
        if r.ndim != 2:
            raise ValueError(f"returns must be (T, N), got shape {r.shape}")
        if block_elements < 1:
            raise ValueError(f"block_elements must be positive, got {block_elements}")
        self.returns = r
        self.min_stocks = int(min_stocks)
        self.block_elements = int(block_elements)
        self._r_valid = np.isfinite(r)
        self._own = self._centred_return_ranks(self._r_valid)
        # the usable set rarely depends on the candidate (coverage does not depend on the weights), so
        # the return ranks of the last mask seen are kept: repeated calls rank the returns once
        self._last: tuple[npt.NDArray[np.bool_], tuple[FloatArray, FloatArray, FloatArray]] | None = None

    def _centred_return_ranks(self, mask: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Centred average ranks of the returns over ``mask`` (0 elsewhere), their norms, usable counts."""
        n = mask.sum(-1).astype(np.float64)
        rc = np.where(mask, average_ranks(self.returns, mask) - (n[:, None] + 1) / 2.0, 0.0)
        return rc, np.sqrt((rc * rc).sum(-1)), n

    def __call__(self, signals: npt.ArrayLike) -> FloatArray:
        s = np.asarray(signals, dtype=np.float64)
        if s.shape[-2:] != self.returns.shape:
            raise ValueError(f"signals must end in {self.returns.shape}, got {s.shape}")
        lead = s.shape[:-2]
        if s.size == 0:  # no candidates, no days, or no stocks (then nothing is scorable)
            return np.full(lead + (self.returns.shape[0],), np.nan)
        s = s.reshape((-1,) + self.returns.shape)
        if np.isfinite(s).all():  # common case: the usable set is the returns' own, for every row
            return self._fast(s, self._r_valid, self._own).reshape(lead + (self.returns.shape[0],))
        valid = np.isfinite(s) & self._r_valid
        day_mask = valid[0]
        same = (valid == day_mask).all(axis=(0, 2))  # (T,) days where all candidates agree
        out = np.full(s.shape[:2], np.nan)
        if same.any():
            mask = day_mask[same]
            if self._last is None or not np.array_equal(self._last[0], day_mask):
                self._last = (day_mask, self._centred_return_ranks(day_mask))
            rc, rnorm, n = self._last[1]
            out[:, same] = self._fast(s[:, same], mask, (rc[same], rnorm[same], n[same]))
        if not same.all():
            out[:, ~same] = rank_ic(s[:, ~same], self.returns[~same], min_stocks=self.min_stocks)
        return out.reshape(lead + (self.returns.shape[0],))

    def _fast(self, s: FloatArray, mask: npt.NDArray[np.bool_],
              ranked: tuple[FloatArray, FloatArray, FloatArray]) -> FloatArray:
        rc, rnorm, n = ranked  # (T, N) centred return ranks, (T,) norms, (T,) usable stocks per day
        p, t, k = s.shape
        if not mask.all():
            s = np.where(mask, s, np.inf)  # unusable entries sort last (+inf: see _doubled_centred_ranks), g is 0
        rows = s.reshape(-1, k)
        rc_flat = rc.reshape(-1)
        one_based = np.arange(1.0, k + 1.0)
        num = np.empty(rows.shape[0])
        dnorm2 = np.empty(rows.shape[0])
        step = max(1, self.block_elements // max(k, 1))
        for a in range(0, rows.shape[0], step):
            block = rows[a:a + step]
            row = np.arange(a, a + block.shape[0])
            order = np.argsort(block, axis=-1)
            order += ((row - a) * k)[:, None]
            sorted_block = block.reshape(-1).take(order)
            order += ((row % t - (row - a)) * k)[:, None]  # now indexes the (T, N) return ranks
            g = rc_flat.take(order)  # the returns' centred ranks in each row's signal order
            # without ties the rank of sorted position j is j + 1 and sum(g) = 0, so the covariance
            # is g . (j + 1) and the signal-rank norm has a closed form; ties correct both
            dnum, dnorm2[a:a + block.shape[0]] = _tie_corrections(sorted_block, g)
            num[a:a + block.shape[0]] = g @ one_based + dnum
        n_row = np.tile(n, p)
        anorm = np.sqrt(np.maximum(n_row * (n_row * n_row - 1.0) / 12.0 - dnorm2, 0.0))
        den = anorm * np.tile(rnorm, p)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = num / den
        bad = (n_row < self.min_stocks) | ~(den > 1e-300)
        return np.where(bad, np.nan, np.clip(out, -1.0, 1.0)).reshape(p, t)

    def score(self, signals: npt.ArrayLike) -> FloatArray:
        """Alias of calling the scorer."""
        return self(signals)


@dataclass(frozen=True)
class ICSummary:
    """Window summary of a daily IC series (NaN days skipped; ICIR = mean / std, not annualised)."""

    mean: float
    std: float
    ir: float
    n_days: int
    hit_rate: float

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}mean": self.mean, f"{prefix}std": self.std, f"{prefix}ir": self.ir,
            f"{prefix}n_days": float(self.n_days), f"{prefix}hit_rate": self.hit_rate,
        }


def summarize(daily: npt.ArrayLike) -> ICSummary:
    """Mean, std (ddof=1), IR = mean/std and share of positive days of a daily IC series."""
    x = np.asarray(daily, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return ICSummary(np.nan, np.nan, np.nan, 0, np.nan)
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else np.nan
    ir = mean / std if n > 1 and std > 0 else np.nan
    return ICSummary(mean, std, ir, n, float((x > 0).mean()))
