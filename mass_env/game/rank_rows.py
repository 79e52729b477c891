"""Rank IC of many rows at once, exactly: the ranking behind ``metrics.rank_ic`` and the game's payoffs.

Why a module of its own: paying realised days is the env's hottest ranking (every step of every game), so it
gets its own exact integer formulation. Ranks are *doubled centred* ranks (integers held as floats), so every
sum of their products is exact whatever the order of the sum, and every path below gives the same bits:
``rank_ic_rows`` ranks both sides of each row in one argsort; ``rank_ic_days`` sorts each distinct day's
returns once and reads a row's return ranks from its day's order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


_GRIDS: dict[tuple[int, int], tuple[npt.NDArray[np.int64], FloatArray, FloatArray]] = {}


def _grid(m: int, width: int) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Row offsets into a flat ``(m, width)`` array, positions and doubled positions (floats holding
    integers: exact, and no integer-to-float casts on the way), kept per shape."""
    got = _GRIDS.get((m, width))
    if got is None:
        if len(_GRIDS) > 64:
            _GRIDS.clear()
        pos = np.arange(width, dtype=np.float64)
        got = _GRIDS[(m, width)] = ((np.arange(m) * width)[:, None], pos, 2.0 * pos)
    return got


def _doubled_centred_ranks(xm: FloatArray, n: FloatArray) -> FloatArray:
    """``2 * (average rank - (n + 1) / 2)`` along the last axis of ``(M, L)`` rows whose unusable entries
    are ``+inf`` (0 there), ``n`` the usable count per row (a float): integers (as floats, exactly), so every
    sum of their products is exact, whatever the order of the sum.

    A tie run at sorted positions ``f..l`` shares the average rank ``(f + l) / 2 + 1``, hence the doubled
    centred rank ``f + l + 1 - n`` (``2p + 1 - n`` at a position ``p`` that ties nothing, the usual case).
    One argsort for all rows; the tie runs only where some row has a tie. Unusable entries are ``+inf``, not
    NaN: numpy's vectorised sort takes rows without NaN only (a NaN row falls back to a scalar sort, about
    five times slower), and ``+inf`` sorts after every usable (finite) value all the same.
    """
    m, width = xm.shape
    offsets, pos, doubled = _grid(m, width)
    flat = np.argsort(xm, axis=-1)  # +inf (unusable) sorts last
    flat += offsets
    xs = xm.reshape(-1).take(flat)
    nn = n[:, None]
    # only usable values tie: positions p - 1 and p are both usable where p < n
    if width > 1 and ((xs[:, 1:] == xs[:, :-1]) & (pos[1:] < nn)).any():
        first, last, run = _tie_runs(xs)
        # in-row first + last; a run of usable values ends before the first +inf (p = n starts a run)
        doubled = (first + last).take(run).reshape(m, width) - 2.0 * offsets
    out = np.empty((m, width))
    out.reshape(-1).put(flat, np.where(pos < nn, doubled - (nn - 1.0), 0.0))
    return out


def _tie_runs(xs: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Tie runs of sorted ``(M, L)`` rows read as one flat sequence in which every row starts a run: the flat
    first and last position of each run and the run of each flat position (one pass, no per-row scans)."""
    m, width = xs.shape
    new_run = np.ones((m, width), dtype=bool)
    np.not_equal(xs[:, 1:], xs[:, :-1], out=new_run[:, 1:])
    flat = new_run.reshape(-1)
    first = np.flatnonzero(flat)
    last = np.append(first[1:], flat.size) - 1
    return first, last, np.cumsum(flat, dtype=np.intp) - 1


def _rank_ic_by_day(signal: FloatArray, returns: FloatArray, day: npt.NDArray[np.intp], min_stocks: int) -> FloatArray:
    """Rank IC of ``(M, L)`` rows against ``returns[day]`` (``(D, L)`` rows, each distinct): the returns' half
    of ``rank_ic_rows`` without sorting a returns row per signal row.

    A row's usable returns are its day's restricted to the row's usable set, so their order is the day's
    order with the other entries skipped: a usable entry's 0-based position is the count of usable entries
    before it along the day's order, and a tie run of the day holding ``b`` usable entries before it and
    ``e`` up to its end gives them the doubled centred rank ``b + e - n`` (``2c - 1 - n`` at the ``c``-th
    usable entry when it ties nothing). The same integers as ranking the row, so the same bits. The
    signal rows are laid out in their day's order before they are sorted, so one gather reads the returns'
    ranks in each signal row's sorted order (the sums of products do not depend on the order).
    """
    m, width = signal.shape
    offsets, pos, doubled = _grid(m, width)
    r_ok = np.isfinite(returns)
    r_inf = np.where(r_ok, returns, np.inf)
    day_order = np.argsort(r_inf, axis=-1)  # (D, L) the day's stocks from low to high return, unusable last
    at = day_order[day]
    at += offsets
    xd = signal.reshape(-1).take(at)  # each signal row in its day's order
    valid = np.isfinite(xd)
    if not r_ok.all():
        valid &= (pos < r_ok.sum(-1, keepdims=True))[day]  # and the return usable (those come first)
    # usable entries up to each position (small integers: exact in the narrowest type that holds width)
    seen = np.cumsum(valid.view(np.int8), axis=-1, dtype=np.int8 if width < 128 else np.int64)
    n = seen[:, -1].astype(np.float64)  # usable pairs per row
    nn = n[:, None]
    r_sorted = np.take_along_axis(r_inf, day_order, axis=-1)
    day_ties = width > 1 and bool(((r_sorted[:, 1:] == r_sorted[:, :-1]) & (r_sorted[:, 1:] < np.inf)).any())
    if day_ties:
        first, last, run = _tie_runs(r_sorted)
        day_start = np.arange(r_sorted.shape[0])[:, None] * width
        run_first, run_last = (a.take(run).reshape(r_sorted.shape) - day_start for a in (first, last))
        before = np.zeros((m, width + 1))
        before[:, 1:] = seen  # before[:, p]: usable entries before position p
        flat_before = before.reshape(-1)
        row_start = np.arange(m)[:, None] * (width + 1)
        r_ranks = flat_before.take(run_first[day] + row_start) + flat_before.take(run_last[day] + 1 + row_start) - nn
    else:
        r_ranks = 2.0 * seen
        r_ranks -= nn + 1.0
    unusable = ~valid
    np.copyto(r_ranks, 0.0, where=unusable)  # (M, L) doubled centred return ranks along the day's order
    np.copyto(xd, np.inf, where=unusable)
    order = np.argsort(xd, axis=-1)  # +inf (unusable) sorts last; see _doubled_centred_ranks
    order += offsets
    xs = xd.reshape(-1).take(order)
    g = r_ranks.reshape(-1).take(order)  # the returns' ranks in each signal row's sorted order, 0 past n
    # only usable values tie: equal neighbours beyond the L - n - 1 pairs of the unusable (+inf) tail
    if np.count_nonzero(xs[:, 1:] == xs[:, :-1]) > np.maximum(width - 1 - n, 0).sum():
        first, last, run = _tie_runs(xs)
        s_ranks = np.where(pos < nn, (first + last).take(run).reshape(m, width) - 2 * offsets - (nn - 1.0), 0.0)
        s_norm = np.einsum("ij,ij->i", s_ranks, s_ranks)
        num = np.einsum("ij,ij->i", s_ranks, g)
    else:  # sorted position p has the doubled centred rank 2p + 1 - n, and g sums to 0
        s_norm = n * (n * n - 1.0) / 3.0  # the sum of (2p + 1 - n)^2 over p < n, exactly
        num = g @ (doubled + 1.0)
    r_norm = np.einsum("ij,ij->i", r_ranks, r_ranks) if day_ties else n * (n * n - 1.0) / 3.0
    return _from_sums(num / 4.0, s_norm / 4.0, r_norm / 4.0, n, min_stocks)


def _from_sums(cov: FloatArray, s_norm: FloatArray, r_norm: FloatArray, n: FloatArray, min_stocks: int) -> FloatArray:
    """Rank IC from the exact sums of products of centred ranks (NaN below ``min_stocks`` or constant)."""
    den = np.sqrt(s_norm * r_norm)
    good = (n >= min_stocks) & (den > 1e-300)
    out = np.full(n.shape, np.nan)
    np.divide(cov, den, out=out, where=good)
    return out.clip(-1.0, 1.0)


#: Below this many rows one pass over both sides costs less (fewer numpy calls) than the day's order.
_ONE_PASS_ROWS = 32


def rank_ic_days(signal: FloatArray, returns: FloatArray, day: npt.ArrayLike, *, min_stocks: int = 5) -> FloatArray:
    """``rank_ic_rows(signal, returns[day])`` to the last bit: ``(M, L)`` rows, each against the returns row
    ``day[i]`` of ``(D, L)`` (a batch of games on their own days). Each distinct day's returns are sorted once,
    not once per row (below ``_ONE_PASS_ROWS`` rows, ``rank_ic_rows`` itself costs less)."""
    d = np.asarray(day, dtype=np.intp)
    if d.shape != signal.shape[:1]:
        raise ValueError(f"day must hold one returns row per signal row ({signal.shape[0]}), got shape {d.shape}")
    if signal.shape[0] < _ONE_PASS_ROWS or signal.size == 0:
        return rank_ic_rows(signal, returns[d], min_stocks=min_stocks)
    days, at = np.unique(d, return_inverse=True)
    return _rank_ic_by_day(signal, returns[days], at.reshape(-1), min_stocks)


def rank_ic_rows(signal: FloatArray, returns: FloatArray, *, min_stocks: int = 5) -> FloatArray:
    """``rank_ic`` of ``(M, L)`` rows against returns ``(M, L)`` or one ``(L,)`` row shared by all (no
    broadcasting helpers: the game's step calls it once a day). Both sides are ranked in one pass, and
    the three sums of products (exact: integers) come from one matrix product per row; a shared returns
    row is sorted once when there are many rows (``rank_ic_days``; a few rows cost less in one pass)."""
    m, width = signal.shape
    if returns.ndim == 1 and signal.size and m >= _ONE_PASS_ROWS:
        return _rank_ic_by_day(signal, returns[None], np.zeros(m, np.intp), min_stocks)
    both = np.empty((2, m, width))
    both[0] = signal
    both[1] = returns
    ok = np.isfinite(both)
    valid = ok[0] & ok[1]
    n = np.add.reduce(valid, axis=-1, dtype=np.float64)  # counts, exact
    ranks = _doubled_centred_ranks(np.where(valid, both, np.inf).reshape(2 * m, width), np.concatenate((n, n)))
    pairs = ranks.reshape(2, m, width).transpose(1, 0, 2)  # (m, 2, width): a row's two sides
    gram = pairs @ pairs.transpose(0, 2, 1) / 4.0  # the centred ranks are ranks / 2
    return _from_sums(gram[:, 0, 1], gram[:, 0, 0], gram[:, 1, 1], n, min_stocks)
