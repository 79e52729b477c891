"""experiments.stats.inference on inputs whose answers are known.

Simulation tests (seeded, a few seconds): d = seed effect + day noise shared by all seeds + seed-by-day
noise, both MA(9) like overlapping 10-day returns (``experiments.stats.known_answer``). With ``R``
replications a rate ``p`` has Monte Carlo error ``sqrt(p (1 - p) / R)``: .0126 for coverage .95 and
.023 for power .8 at R = 300; a rate passes within 3 such errors. The full table (2,000 replications
a cell, with today's bootstrap beside it) is ``benchmarks/bench_inference_coverage.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.sandwich_covariance import S_hac_simple, weights_uniform

from experiments.stats.inference import (
    difference_ci,
    hac_calibration,
    long_run_variance,
    minimum_detectable_difference,
)
from experiments.stats.known_answer import MIXES, moving_average, simulate
from experiments.stats.statistics import FAILS, HOLDS, UNRESOLVED
from experiments.stats.verdicts import Part, holm, judge, ratio_claim

H = 10
R = 300


def _mc(p: float, n: int = R) -> float:
    return 3 * np.sqrt(p * (1 - p) / n)


# ---------------------------------------------------------------------------------------- the estimator
def test_statsmodels_kernel_sum_is_the_hansen_hodrick_sum():
    x = np.random.default_rng(0).standard_normal(200)
    x -= x.mean()
    hand = x @ x + 2 * sum(x[j:] @ x[:-j] for j in range(1, H))
    assert S_hac_simple(x, nlags=H - 1, weights_func=weights_uniform)[0, 0] == pytest.approx(hand)


def test_long_run_variance_is_unbiased_for_overlapping_sums():
    rng = np.random.default_rng(1)
    x = moving_average(rng, (2000, 100), H)  # unit-variance MA(9): T Var(mean) = 1' Sigma 1 / T
    lrv = np.array([long_run_variance(row, H)[0] for row in x])
    _, omega, nu = hac_calibration(100, H)
    assert lrv.mean() == pytest.approx(omega, abs=3 * lrv.std() / np.sqrt(lrv.size))
    assert 2 * lrv.mean() ** 2 / lrv.var() == pytest.approx(nu, rel=0.25)  # its Satterthwaite df


def test_one_horizon_is_the_ordinary_variance():
    x = np.random.default_rng(2).standard_normal(50)
    lrv, nu = long_run_variance(x, 1)
    assert lrv == pytest.approx(x.var(ddof=1)) and nu == pytest.approx(49)


def test_mdd_is_t_quantiles_times_the_same_se():
    d = simulate(np.random.default_rng(3), MIXES[0], 1, 5, 250)[0]
    ci = difference_ci(d, H)
    q = sps.t.ppf(0.975, ci.df)
    assert (ci.hi - ci.estimate) == pytest.approx(q * ci.se)
    assert minimum_detectable_difference(d, H) == pytest.approx((q + sps.t.ppf(0.8, ci.df)) * ci.se)
    assert ci.mdd(n_seeds=5) == pytest.approx(ci.mdd())
    assert ci.se ** 2 == pytest.approx(ci.seed_var + ci.day_var)


def test_seeds_needed_and_the_floor():
    rng = np.random.default_rng(4)
    shared = difference_ci(simulate(rng, MIXES[0], 1, 3, 250)[0], H)  # shared-day dominated
    assert shared.floor() > 0 and shared.day_var > shared.seed_var
    assert shared.seeds_needed(0.5 * shared.floor()) is None
    assert "no number of seeds resolves this" in shared.statement(0.5 * shared.floor())
    seedy = difference_ci(simulate(rng, MIXES[2], 1, 3, 250)[0], H)  # seed-effect dominated
    delta = 0.5 * seedy.mdd()
    need = seedy.seeds_needed(delta)
    assert need is not None and need > 3
    assert seedy.mdd(n_seeds=need) <= delta < seedy.mdd(n_seeds=need - 1)
    assert seedy.seeds_needed(2 * seedy.mdd()) <= 3


def test_missing_cells_days_and_one_seed():
    d = simulate(np.random.default_rng(5), MIXES[0], 1, 4, 200)[0]
    full = difference_ci(d, H)
    gappy = d.copy()
    gappy[:, 50] = np.nan  # a day nobody has
    gappy[1, 100:110] = np.nan  # a few cells
    gappy[3] = np.nan  # a seed without values
    g = difference_ci(gappy, H)
    assert (g.n_seeds, g.n_days) == (3, 199)
    assert np.isfinite([g.lo, g.hi, g.se, g.df]).all()
    assert g.se == pytest.approx(full.se, rel=0.5)
    one = difference_ci(d[:1], H)
    assert np.isfinite([one.lo, one.hi]).all() and one.seeds_needed(1.0) is None
    assert np.isnan(difference_ci(np.full((3, 20), np.nan), H).lo)


# ---------------------------------------------------------------------------------------- known answers
@pytest.fixture(scope="module")
def cells():
    """Per cell (mix, seeds, days): the R intervals at a true difference of zero."""
    rng = np.random.default_rng(20240522)
    out = {}
    for mix, S, T in itertools.product(MIXES, (3, 5), (100, 500)):
        d = simulate(rng, mix, R, S, T, H)
        out[mix.name, S, T] = [difference_ci(x, H) for x in d]
    return out


def test_coverage_of_the_95_ci_in_every_noise_mix_and_size(cells):
    bad = {}
    for key, cis in cells.items():
        cov = np.mean([c.lo < 0 < c.hi for c in cis])
        if abs(cov - 0.95) > _mc(0.95):
            bad[key] = cov
    assert not bad, f"coverage outside .95 +- {_mc(0.95):.3f}: {bad}"


def test_power_at_the_reported_mdd_is_80_percent(cells):
    # a true difference of the run's own MDD shifts the estimate and its interval by it (the se does not
    # move): the test rejects when lo + MDD > 0
    bad = {}
    for key, cis in cells.items():
        power = np.mean([c.lo + c.mdd() > 0 for c in cis])
        if abs(power - 0.8) > _mc(0.8):
            bad[key] = power
    assert not bad, f"power outside .80 +- {_mc(0.8):.3f}: {bad}"


def _configs(rng: np.random.Generator, S: int, T: int, means: dict[str, float]) -> dict[str, np.ndarray]:
    """(R, S, T) Rank ICs per config: a market component every config and seed shares, a per-config
    shared-day part and a per-config seed-by-day part (differences inherit the shared-day dominance)."""
    market = 0.1 * moving_average(rng, (R, 1, T), H)
    return {c: m + market + 0.05 * moving_average(rng, (R, 1, T), H) + 0.02 * moving_average(rng, (R, S, T), H)
            + 0.002 * rng.standard_normal((R, S, 1)) for c, m in means.items()}


def _claim_rates(x: dict[str, np.ndarray], a: str, others: tuple[str, ...]) -> tuple[float, float]:
    verdicts = [judge([Part(f"{a} - {o}", difference_ci(x[a][r] - x[o][r], H)) for o in others]).verdict
                for r in range(R)]
    return np.mean([v == HOLDS for v in verdicts]), np.mean([v == FAILS for v in verdicts])


def test_combined_claim_false_holds_at_most_its_level():
    rng = np.random.default_rng(7)
    # all null: "A beats D, E and F" with every true difference zero
    holds, fails = _claim_rates(_configs(rng, 3, 100, {"A": 0, "D": 0, "E": 0, "F": 0}), "A", ("D", "E", "F"))
    assert holds <= 0.025 + _mc(0.025)
    assert fails <= 0.05 + _mc(0.05)  # any part on the wrong side: Holm keeps the family at .05
    # least favourable: two parts truly hold by a wide margin, one is exactly zero
    holds, _ = _claim_rates(_configs(rng, 3, 100, {"A": 0.5, "D": 0.5, "E": 0, "F": 0}), "A", ("D", "E", "F"))
    assert holds <= 0.025 + _mc(0.025)


# ---------------------------------------------------------------------------------------- claims
def test_holm_adjusted_p_values():
    adj, factor = holm([0.01, 0.04, 0.03])
    assert adj == pytest.approx([0.03, 0.06, 0.06])
    assert factor == pytest.approx([1 / 3, 1, 1 / 2])


def test_each_part_is_shown_at_its_holm_level():
    rng = np.random.default_rng(8)
    parts = [Part(f"p{k}", difference_ci(0.2 * k + 0.01 * rng.standard_normal((3, 200)), 1)) for k in (1, 2, 3)]
    v = judge(parts)
    assert v.verdict == HOLDS
    assert sorted(p.level for p in v.parts) == pytest.approx([0.95, 1 - 0.05 / 2, 1 - 0.05 / 3])
    wrong = judge(parts + [Part("down", parts[0].ci, direction=-1)])
    assert wrong.verdict == FAILS


def test_ratio_claim_as_linear_contrasts():
    rng = np.random.default_rng(9)
    den = 0.03 + 0.005 * rng.standard_normal((5, 400))
    num = 2 * den + 0.005 * rng.standard_normal((5, 400))
    assert ratio_claim(num, den, (4 / 3, 3.0), 1).verdict == HOLDS
    assert ratio_claim(5 * den, den, (4 / 3, 3.0), 1).verdict == FAILS
    flat = 0.005 * rng.standard_normal((5, 400))  # a denominator indistinguishable from zero
    v = ratio_claim(num, flat, (4 / 3, 3.0), 1)
    assert v.verdict == UNRESOLVED and "does not exclude zero" in v.note
    assert ratio_claim(-num, -den, (4 / 3, 3.0), 1).verdict == HOLDS  # same ratio, negative denominator
