"""Statistical sectors: k-means clusters of stocks by the co-movement of their PAST returns.

Why: a market without a shipped industry map (the US panel: Yahoo bars carry no GICS sector) still
needs an industry modality, or the investor types that "see industries" see nothing and collapse
onto the OHLCV-only type. Sectors are what makes stocks co-move, so they can be estimated from the
returns themselves: stocks are embedded by their loadings on the leading principal components of
market-neutral, standardised daily returns and grouped by k-means on those (unit-length) loadings.

Point in time: ``clusters_asof(adj_close, asof, lookback)`` reads only the ``lookback`` daily returns
ending at the close of ``asof`` (rows ``asof - lookback .. asof`` of the prices), so nothing after
``asof`` can move a label; ``tests/test_cross_market.py`` perturbs the future and checks exactly that.
Labels are deterministic (seeded k-means++ with several restarts, clusters numbered by their first
stock), and stocks with too little history in the window get ``-1`` (unknown industry).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _kmeans(x: FloatArray, k: int, rng: np.random.Generator, n_iter: int = 100) -> tuple[IntArray, float]:
    """Lloyd's k-means from a k-means++ start; returns labels and the within-cluster sum of squares."""
    n = x.shape[0]
    centres = np.empty((k, x.shape[1]))
    centres[0] = x[rng.integers(n)]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for j in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        centres[j] = x[rng.choice(n, p=p)]
        d2 = np.minimum(d2, ((x - centres[j]) ** 2).sum(1))
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(n_iter):
        dist = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(2)
        new = dist.argmin(1).astype(np.int64)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, x)
        empty = counts == 0
        centres = sums / np.maximum(counts, 1.0)[:, None]
        for e in np.flatnonzero(empty):  # re-seed an empty cluster at the worst-fitted stock
            centres[e] = x[dist[np.arange(n), labels].argmax()]
    inertia = float(((x - centres[labels]) ** 2).sum())
    return labels, inertia


def _factor_loadings(x: FloatArray, n_factors: int) -> FloatArray:
    """Loadings ``V_f S_f`` of the ``n_factors`` leading singular directions of ``x`` (``(L, N)``), from the
    eigen-decomposition of the smaller Gram matrix (a thin SVD thrashes multi-threaded BLAS on a busy
    machine: seconds instead of milliseconds)."""
    f = max(1, min(n_factors, *x.shape))
    if x.shape[0] <= x.shape[1]:
        _, u = np.linalg.eigh(x @ x.T)
        return np.asarray(x.T @ u[:, ::-1][:, :f])
    w, v = np.linalg.eigh(x.T @ x)
    return np.asarray(v[:, ::-1][:, :f] * np.sqrt(np.maximum(w[::-1][:f], 0.0)))


def return_clusters(returns: FloatArray, n_clusters: int, *, n_factors: int = 10, min_coverage: float = 0.8,
                    n_init: int = 8, seed: int = 0) -> IntArray:
    """Cluster label per column of ``returns`` (``(L, N)`` daily returns, NaN = no return that day).

    Columns with finite returns on fewer than ``min_coverage`` of the ``L`` days get ``-1``. Each
    day's cross-sectional mean is removed first (otherwise the market factor dominates every
    embedding), then each stock's series is standardised; stocks are embedded by their loadings on
    the ``n_factors`` leading singular vectors, normalised to unit length (so distance ~ correlation).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2:
        raise DataError(f"returns must be (days, stocks), got shape {r.shape}")
    if n_clusters < 1:
        raise DataError(f"n_clusters must be >= 1, got {n_clusters}")
    L, N = r.shape
    ok = np.isfinite(r)
    enough = ok.sum(0) >= max(2, int(np.ceil(min_coverage * L)))
    labels = np.full(N, -1, dtype=np.int64)
    if enough.sum() < n_clusters:
        return labels
    x = np.where(ok[:, enough], r[:, enough], np.nan)
    with np.errstate(invalid="ignore"):
        x = x - np.nanmean(x, axis=1, keepdims=True)
        x = (x - np.nanmean(x, axis=0)) / np.nanstd(x, axis=0)
    x = np.where(np.isfinite(x), x, 0.0)
    emb = _factor_loadings(x, n_factors)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    best: tuple[IntArray, float] | None = None
    for _ in range(n_init):
        lab, inertia = _kmeans(emb, n_clusters, rng)
        if best is None or inertia < best[1] - 1e-12:
            best = (lab, inertia)
    assert best is not None
    first = {c: i for i, c in reversed(list(enumerate(best[0].tolist())))}  # cluster -> first member
    order = {c: rank for rank, c in enumerate(sorted(first, key=first.__getitem__))}
    labels[enough] = np.array([order[c] for c in best[0].tolist()], dtype=np.int64)
    return labels


def clusters_asof(adj_close: FloatArray, asof: int, lookback: int, n_clusters: int, *, n_factors: int = 10,
                  min_coverage: float = 0.8, seed: int = 0) -> IntArray:
    """``return_clusters`` of the ``lookback`` close-to-close returns ending at the close of day ``asof``.

    Reads price rows ``asof - lookback .. asof`` only; needs ``asof >= lookback``.
    """
    adj = np.asarray(adj_close, dtype=np.float64)
    if not lookback <= asof < adj.shape[0]:
        raise DataError(f"clusters_asof needs lookback <= asof < {adj.shape[0]} days; got asof={asof}, "
                        f"lookback={lookback}")
    win = adj[asof - lookback: asof + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = win[1:] / win[:-1] - 1.0
    return return_clusters(r, n_clusters, n_factors=n_factors, min_coverage=min_coverage, seed=seed)
