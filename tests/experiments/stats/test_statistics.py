"""experiments.stats.statistics: the bootstrap, the resolution of a run and the leaders' choices, on inputs
whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.stats.statistics import (
    FAILS,
    HOLDS,
    UNRESOLVED,
    DayBlockBootstrap,
    Interval,
    effective_types,
    leader_choices,
    paired_bootstrap,
    resolution,
)


def _ar1(rng: np.random.Generator, shape: tuple[int, int], rho: float = 0.8) -> np.ndarray:
    e = rng.standard_normal(shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0]
    for t in range(1, shape[1]):
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho * rho) * e[:, t]
    return x


def test_bootstrap_ci_covers_a_planted_difference_and_excludes_zero():
    rng = np.random.default_rng(0)
    diff = 0.05 + 0.05 * _ar1(rng, (5, 110))
    pt, lo, hi = paired_bootstrap(diff, block=10, rng=np.random.default_rng(1))
    assert lo < 0.05 < hi and lo > 0
    assert pt == pytest.approx(diff.mean())


def test_block_bootstrap_coverage_is_near_nominal_on_dependent_days():
    """95% intervals of a zero-mean AR(1) difference cover 0 in about 95% of independent runs (the
    day-blocks matter: with block 1 the dependent days would make the interval too narrow)."""
    rng = np.random.default_rng(3)
    covered = []
    for _ in range(60):
        d = _ar1(rng, (4, 100)) + rng.standard_normal((4, 1)) * 0.3
        _, lo, hi = paired_bootstrap(d, block=10, n_boot=400, rng=rng)
        covered.append(lo <= 0 <= hi)
    assert np.mean(covered) >= 0.85


def test_the_bootstrap_is_reproducible():
    d = np.random.default_rng(0).standard_normal((3, 40))
    a = paired_bootstrap(d, block=5, rng=np.random.default_rng(7))
    b = paired_bootstrap(d, block=5, rng=np.random.default_rng(7))
    assert a == b


def test_nan_days_are_skipped_and_empty_input_gives_nan():
    d = np.full((2, 30), 0.1)
    d[:, ::3] = np.nan
    pt, lo, hi = paired_bootstrap(d, rng=np.random.default_rng(0))
    assert (pt, lo, hi) == pytest.approx((0.1, 0.1, 0.1))
    assert np.isnan(paired_bootstrap(np.full((2, 5), np.nan))[1])
    with pytest.raises(ValueError, match="seeds, days"):
        paired_bootstrap(np.zeros(5))


def test_median_ratio_and_verdicts():
    boot = DayBlockBootstrap(3, 50, block=5, rng=np.random.default_rng(0))
    x = np.full((3, 50), 0.7)
    assert boot.median(x).point == 0.7 and boot.median(x).above(0.5) == HOLDS
    num, den = np.full((3, 50), 0.2), np.full((3, 50), 0.1)
    r = boot.ratio(num, den)
    assert r.point == pytest.approx(2.0) and r.within(1.5, 3.0) == HOLDS and r.within(3.0, 4.0) == FAILS
    iv = Interval(0.0, -0.1, 0.1, 0.05)
    assert iv.above() == UNRESOLVED and iv.below() == UNRESOLVED
    assert Interval(-0.2, -0.3, -0.1, 0.05).below() == HOLDS
    assert Interval(0.2, 0.1, 0.3, 0.05).below() == FAILS
    with pytest.raises(ValueError, match="shape"):
        boot.mean(np.zeros((2, 50)))


def test_resolution_separates_seed_noise_from_day_noise():
    rng = np.random.default_rng(0)
    S, T = 200, 400
    seed_sd, day_sd = 0.05, 0.1
    d = seed_sd * rng.standard_normal((S, 1)) + day_sd * rng.standard_normal((1, T))
    res = resolution(d, block=1, n_boot=1000, rng=np.random.default_rng(1))
    assert res.seed_var == pytest.approx(seed_sd**2, rel=0.3)
    assert res.day_var == pytest.approx(day_sd**2 / T, rel=0.25)
    assert res.mdd(4 * S) < res.mdd() < res.mdd(S // 4)
    assert res.mdd(10**9) == pytest.approx(res.floor, rel=1e-3)
    # a difference below the floor cannot be resolved by any number of seeds; a large one needs few
    assert res.seeds_needed(0.5 * res.floor) is None
    big = 2 * res.mdd(1)
    assert res.seeds_needed(big) == 1
    mid = res.mdd(10)
    assert res.seeds_needed(mid) == 10
    assert "NOT resolvable" in res.statement(0.5 * res.floor)
    assert "resolvable" in res.statement(big)


def test_seed_by_day_noise_is_not_mistaken_for_shared_day_noise():
    """Independent noise per (seed, day) averages out over seeds: the floor is ~0 and more seeds help;
    noise every seed shares on a day does not average out."""
    rng = np.random.default_rng(2)
    own = resolution(0.1 * rng.standard_normal((8, 300)), block=1, n_boot=1000, rng=np.random.default_rng(3))
    assert own.floor < 0.3 * own.mdd(1)
    assert own.mdd(32) < 0.6 * own.mdd(8)
    shared = resolution(np.repeat(0.1 * rng.standard_normal((1, 300)), 8, axis=0), block=1, n_boot=1000,
                        rng=np.random.default_rng(3))
    assert shared.floor == pytest.approx(shared.mdd(), rel=0.05)
    assert shared.seeds_needed(0.5 * shared.floor) is None


@pytest.mark.parametrize("k", [1, 2, 5, 8, 32])
def test_effective_types_of_uniform_weights_is_k(k):
    w = np.zeros((3, 32))
    w[:, :k] = 2.5
    np.testing.assert_allclose(effective_types(w), k)
    np.testing.assert_allclose(effective_types(w, order=2), k)


def test_effective_types_is_between_one_and_k_and_checks_input():
    w = np.array([[0.7, 0.1, 0.1, 0.1]])
    e1, e2 = effective_types(w)[0], effective_types(w, order=2)[0]
    assert 1 < e2 < e1 < 4
    with pytest.raises(ValueError, match="nonnegative"):
        effective_types(np.array([[-1.0, 2.0]]))
    with pytest.raises(ValueError, match="order"):
        effective_types(w, order=3)


def test_leader_choices_averages_eval_days_only():
    rows, wrows = [], []
    for seed in (0, 1):
        for day in range(4):
            ev = day >= 1
            rows.append({"config": "D", "seed": seed, "day": day, "eval": ev, "alpha": 0.2 + 0.2 * day})
            w = [1.0, 0.0, 0.0, 0.0] if not ev else [0.5, 0.5, 0.0, 0.0]
            wrows += [{"config": "D", "seed": seed, "day": day, "type": k, "weight": w[k]} for k in range(4)]
    out = leader_choices(pd.DataFrame(rows), pd.DataFrame(wrows)).set_index("config")
    assert out.loc["D", "eff_types"] == pytest.approx(2.0)
    assert out.loc["D", "n_types"] == 4
    assert out.loc["D", "alpha_median"] == pytest.approx(0.6)


def test_paired_bootstrap():
    rng = np.random.default_rng(0)
    same = np.full((3, 50), 0.02)
    assert paired_bootstrap(same, rng=rng) == pytest.approx((0.02, 0.02, 0.02))
    noise = rng.normal(0, 0.1, (3, 200))
    pt, lo, hi = paired_bootstrap(noise, block=10, rng=np.random.default_rng(1))
    assert lo < pt < hi and lo < 0 < hi
    pt, lo, hi = paired_bootstrap(noise + 0.05, block=10, rng=np.random.default_rng(1))
    assert 0 < lo < pt < hi
    gappy = noise.copy()
    gappy[:, ::3] = np.nan
    assert np.isfinite(paired_bootstrap(gappy, rng=np.random.default_rng(1))).all()
    # repeated with the same generator seed: the same interval
    assert paired_bootstrap(noise, block=5, rng=np.random.default_rng(4)) == paired_bootstrap(
        noise, block=5, rng=np.random.default_rng(4))
    # seed-level variation widens the interval (seeds are resampled too)
    shifted = noise * 0.1 + np.array([[-0.05], [0.0], [0.05]])
    _, lo2, hi2 = paired_bootstrap(shifted, block=10, rng=np.random.default_rng(1))
    _, lo1, hi1 = paired_bootstrap(noise * 0.1, block=10, rng=np.random.default_rng(1))
    assert hi2 - lo2 > 2 * (hi1 - lo1)
