"""No-regret (Hedge) followers: exact fast pays, certification gap, convergence to the closed forms."""

import numpy as np
import pytest

from mass_env.incentives import InformationMarket, PayContext, make_rule
from mass_env.incentives import closed_form as cf
from mass_env.incentives import learning as L
from mass_env.incentives import responses as R

#: the convergence grid: a*view + b*public, steps 0.05 (w moves ~0.01 per step near the equilibria)
GRID = L.StrategyLibrary.grid(np.round(np.arange(0.0, 1.501, 0.05), 4), np.round(np.arange(-0.25, 1.001, 0.05), 4))
#: measured: |w_hedge - w*| over Hedge seeds 0-9 x r in {0, .25, .5, .75} (F=16, 200 stocks, 300 days,
#: eta=200, days 150-300 pooled) was at most MEASURED_MAX (0 at r=0; the grid's resolution dominates: Hedge
#: settles on the discrete game's equilibrium, one grid step from the continuous one). A 0.025 grid gave at
#: most 0.012 over 24 runs. The test allows TOL, under half the distance from truth to w* at r = 0.25 (0.054).
MEASURED_MAX = 0.0176
TOL = 0.025


def test_library_names_and_reuse_by_the_search():
    lib = L.StrategyLibrary.standard(shade=(0.5,), exaggerate=(0.25,), constants=(0.0, 1.0))
    assert lib.names == ("truthful", "shade:0.5", "exaggerate:0.25", "constant:0", "constant:1")
    assert isinstance(lib, R.DeviationFamily) and lib.index("shade:0.5") == 1
    lib = L.StrategyLibrary.standard(shade=(0.25, 0.5), exaggerate=(0.25,), constants=(0.0, 1.0))
    m = InformationMarket(n_followers=16, n_days=30, n_stocks=80, prior_precision=1.0, seed=1)
    d = m.draw()
    ctx = PayContext(d.theta)
    res = R.best_response_search(make_rule("consensus:r=0.75"), d.views, d.views, d.public, ctx, lib)
    assert np.all(res.params[:, 1] == 0.25) and np.all(res.gain > 0)  # a beauty contest pays shading toward y
    assert np.all(R.best_response_search(make_rule("proper"), d.views, d.views, d.public, ctx, lib).stay)
    with pytest.raises(ValueError):
        L.StrategyLibrary(lib.params, names=("one",))


@pytest.mark.parametrize("spec", ["consensus:r=0.6", "proper"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fast_quadratic_pays_equal_the_rules_deviation_pay(spec, weighted):
    m = InformationMarket(n_followers=6, n_stocks=50, n_days=1, prior_precision=1.0, seed=1)
    d = m.draw()
    lib = L.StrategyLibrary(np.vstack([L.StrategyLibrary.standard(constants=(0.0, 0.5)).params,
                                       [[1, 0, 0.3, 2.0, 0], [1, 0, -0.2, 0.5, 0.1]]]))
    w = np.arange(1, 7.0) if weighted else None
    rule, ctx = make_rule(spec), PayContext(d.theta, w)
    played = 0.8 * d.views[:, 0] + 0.1 * d.public[0]
    fast = L.quadratic_pays(rule, lib, d.views[:, 0], d.public[0], d.theta[0], played, ctx.omega(6))
    slow = rule.deviation_pay(R.apply_params(lib.params[:, None, :], d.views, d.public), played[:, None], ctx)
    np.testing.assert_allclose(fast, slow[:, :, 0], atol=1e-12)


def test_fast_and_generic_paths_give_the_same_run():
    m = InformationMarket(n_followers=5, n_stocks=60, n_days=40, prior_precision=1.0, seed=2)
    lib = L.StrategyLibrary.standard()
    rule = make_rule("consensus:r=0.5")
    a = L.hedge(rule, lib, L.market_days(m, 3, anchor_public=False), 40, eta=20.0, seed=4)
    b = L.hedge(rule, lib, L.market_days(m, 3, anchor_public=False), 40, eta=20.0, seed=4, fast=False)
    np.testing.assert_allclose(a.regret, b.regret, atol=1e-10)
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-8)


def test_proper_learns_truth_and_the_gap_certifies_it():
    """proper: truth is dominant, so Hedge concentrates on the truthful strategy; the certification gap (the
    eps of the eps-CCE) shrinks with the rounds and ends below 2% of the truthful pay's scale."""
    m = InformationMarket(n_followers=20, n_stocks=100, n_days=200, prior_precision=1.0, seed=5)
    lib = L.StrategyLibrary.standard(constants=(0.0, 0.5))
    run = L.hedge_on_market(make_rule("proper"), m, lib, anchor_public=False, eta=20.0, seed=1)
    assert np.all(np.argmax(run.weights, axis=1) == lib.index("truthful"))
    assert run.weights[:, lib.index("truthful")].min() > 0.99
    # regret stops growing once truth dominates: the gap falls like 1/T (measured 0.0455, 0.0091, 0.0045)
    assert run.gap_curve[-1] < 0.2 * run.gap_curve[19] and run.gap == pytest.approx(run.gap_curve[-1])
    assert run.gap < 0.03 * abs(run.mean_pay)
    slow = L.hedge_on_market(make_rule("proper"), m, lib, anchor_public=False, seed=1)  # default (bound) rate
    assert slow.eta < run.eta and slow.gap > run.gap and slow.gap < 0.2 * abs(slow.mean_pay)
    assert run.mixture.shape == (200, len(lib)) and np.allclose(run.mixture.sum(1), 1.0)
    assert abs(run.window_private_weight(100) - cf.truthful_weight(2.0, 1.0)) < 0.01
    assert np.isnan(run.herding[0]) and np.all(np.isfinite(run.herding[1:])) and np.all(run.deviation_gain >= 0)


@pytest.mark.parametrize("r", [0.0, 0.25, 0.5, 0.75])
def test_hedge_converges_toward_morris_shin(r):
    """consensus:r on the information market: the private weight of the played reports (days 150-300 pooled)
    is within TOL of the finite-population Morris-Shin weight; the learning curve moves from the uniform
    mixture toward it, and the certification gap is small against the truthful deviation gain."""
    m = InformationMarket(n_followers=16, n_stocks=200, n_days=300, prior_precision=1.0, seed=1)
    run = L.hedge_on_market(make_rule(f"consensus:r={r}"), m, GRID, eta=200.0, seed=3)
    want = cf.morris_shin_weight(2.0, 1.0, r, omega=1 / 16)
    assert abs(run.window_private_weight(150) - want) < TOL
    if r > 0:  # closer to the herding equilibrium than to truth
        assert abs(run.window_private_weight(150) - want) < abs(run.window_private_weight(150) - 1 / 3)
    assert abs(np.nanmean(run.private_weight[-50:]) - want) < abs(run.private_weight[0] - want) + TOL
    assert run.gap < 0.01


def test_skill_uses_the_generic_path_and_reports_regret():
    """A rank rule (no closed form): pays come from deviation_pay on (strategies, followers, 1, stocks)."""
    m = InformationMarket(n_followers=6, n_stocks=50, n_days=30, prior_precision=1.0, seed=6)
    lib = L.StrategyLibrary.standard(constants=(0.0,))
    run = L.hedge_on_market(make_rule("skill"), m, lib, anchor_public=False, seed=2)
    assert run.weights.shape == (6, len(lib)) and np.all(run.regret >= -1e-12)
    # a constant report has no rank information: it is never the strategy Hedge settles on
    assert np.all(np.argmax(run.weights, axis=1) != lib.index("constant:0"))


def test_days_shorter_than_n_days_is_an_error():
    m = InformationMarket(n_followers=3, n_stocks=20, n_days=5)
    with pytest.raises(ValueError, match="days ended"):
        L.hedge(make_rule("proper"), L.StrategyLibrary.standard(), L.market_days(m), 10)


@pytest.mark.parametrize("public_anchor", [True, False])
def test_played_reports_rebuild_the_play(public_anchor):
    """The played profile rebuilt from the picks has the private weight the run logged each day, with the
    public signal or yesterday's consensus as the anchor."""
    m = InformationMarket(n_followers=5, n_stocks=40, n_days=30, prior_precision=1.0)
    d = m.draw(1)
    anchor = d.public if public_anchor else None
    run = L.hedge(make_rule("consensus:r=0.5"), L.StrategyLibrary.standard(),
                  L.days_from_arrays(d.views, d.theta, anchor, d.private, d.public), 30, seed=2)
    rep = L.played_reports(run, d.views, anchor)
    assert run.picks is not None and run.picks.shape == (30, 5) and len(np.unique(run.picks)) > 1
    for t in (0, 7, 29):
        x = np.column_stack([np.ones(rep[:, t].size), d.private[:, t].ravel(), np.tile(d.public[t], 5)])
        c = np.linalg.lstsq(x, rep[:, t].ravel(), rcond=None)[0]
        assert c[1] / (c[1] + c[2]) == pytest.approx(run.private_weight[t], abs=1e-9)
    assert run.pay_range > 0 and run.relative_gap == pytest.approx(run.gap / run.pay_range)


def test_hedge_row_on_a_recorded_style_problem():
    """``evaluate(..., "hedge")`` on a problem without signals (anchor = yesterday's consensus), as ``--data``."""
    from mass_env.incentives.evaluate import HedgeSettings, Problem, evaluate

    d = InformationMarket(n_followers=4, n_stocks=30, n_days=60, prior_precision=1.0).draw(3)
    row = evaluate(make_rule("skill"), "hedge", Problem(d.views, d.theta), hedge=HedgeSettings(seed=1))
    assert np.isfinite(row.certification_gap) and row.curves is not None and len(row.curves["gap"]) == 60
    assert np.isfinite(row.private_weight) and row.iterations == 60
