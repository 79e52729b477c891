"""Paying realised days: the Rank IC of a batch of games' rows (the aggregate and each type's mean signal)
against each game's day's returns, as ``GameBatch`` pays them. ``rank_ic_days`` (each distinct day's returns
sorted once, a row's return ranks read from its day's order) against ``rank_ic_rows`` on one returns row per
signal row (both sides of every row ranked in one pass, what the batch did before), with the bits compared;
and the floor of both, an ``np.argsort`` of the signal rows alone, with unusable entries as NaN and as +inf
(numpy's vectorised sort takes NaN-free rows only). Ratios are measured in the same run.

    python benchmarks/bench_rank_ic.py            # games x stocks grid, signals with and without ties
    python benchmarks/bench_rank_ic.py --quick    # 64 games, 50 stocks
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (this checkout on sys.path)
import numpy as np

from mass_env.game.rank_rows import rank_ic_days, rank_ic_rows


def _best(fn, repeat: int = 7, number: int = 5) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def cell(games: int, stocks: int, ties: bool, rng: np.random.Generator, rows_per_game: int = 9,
         days: int = 160) -> dict[str, float]:
    """Rows like a paid day's: type means (continuous like the scripted followers', or on a coarse grid like
    ratings, with ties), stocks outside the universe NaN; each game on its own day."""
    signal = rng.normal(size=(games * rows_per_game, stocks))
    if ties:
        signal = np.round(signal * 2) / 2
    signal[:, rng.random(stocks) < 0.05] = np.nan  # outside today's universe
    signal[rng.random(signal.shape) < 0.02] = np.nan  # a type none of whose agents looked
    returns = rng.normal(size=(days, stocks))
    day = np.repeat(rng.integers(0, days, games), rows_per_game)
    by_day = rank_ic_days(signal, returns, day)
    if not np.array_equal(by_day, rank_ic_rows(signal, returns[day]), equal_nan=True):
        raise AssertionError("rank_ic_days and rank_ic_rows differ")
    per_row = returns[day]
    t_rows = _best(lambda: rank_ic_rows(signal, per_row))
    t_days = _best(lambda: rank_ic_days(signal, returns, day))
    inf = np.where(np.isfinite(signal), signal, np.inf)
    return {"rows_us": t_rows * 1e6, "days_us": t_days * 1e6,
            "argsort_nan_us": _best(lambda: np.argsort(signal, axis=-1)) * 1e6,
            "argsort_inf_us": _best(lambda: np.argsort(inf, axis=-1)) * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="two cells: 64 games, 50 stocks, with and without ties")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    grid = [(64, 50, False), (64, 50, True)] if args.quick else [
        (g, n, ties) for n in (50, 300) for g in (1, 16, 64, 256) for ties in (False, True)]
    print(f"{'games':>5} {'stocks':>6} {'ties':>5} {'rows us':>9} {'by day us':>10} {'x faster':>9} "
          f"{'argsort NaN us':>15} {'argsort +inf us':>16}")
    for games, stocks, ties in grid:
        r = cell(games, stocks, ties, rng)
        print(f"{games:5d} {stocks:6d} {'yes' if ties else 'no':>5} {r['rows_us']:9.1f} {r['days_us']:10.1f} "
              f"{r['rows_us'] / r['days_us']:9.2f} {r['argsort_nan_us']:15.1f} {r['argsort_inf_us']:16.1f}")


if __name__ == "__main__":
    main()
