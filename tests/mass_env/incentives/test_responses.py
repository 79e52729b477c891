"""Best responses and equilibria against the closed forms of shared/design/incentives.md."""

import numpy as np
import pytest

from mass_env.incentives import InformationMarket, PayContext, make_rule
from mass_env.incentives import closed_form as cf
from mass_env.incentives import metrics as M
from mass_env.incentives import responses as R


@pytest.mark.parametrize("n", [8, 64, 10_000])
@pytest.mark.parametrize("r", [0.0, 0.25, 0.5, 0.75])
def test_iterated_best_response_reaches_morris_shin(r, n):
    m = InformationMarket(n_followers=n, public_precision=2.0, private_precision=1.0)
    eq = R.iterated_best_response_linear(make_rule(f"consensus:r={r}"), m)
    w = R.relative_private_weight(eq.profile)
    assert eq.converged and eq.gain_kind == "exact"
    assert np.all(np.abs(w - cf.morris_shin_weight(2.0, 1.0, r, omega=1.0 / n)) < 1e-3)
    assert np.all(np.abs(w - cf.morris_shin_weight(2.0, 1.0, r, omega=1.0 / n)) < 1e-9)  # in fact exact
    assert eq.nashconv < 1e-20
    assert eq.truthful == (r == 0.0)
    if r == 0.0:
        assert np.allclose(w, cf.truthful_weight(2.0, 1.0))


def test_design_page_examples():
    assert cf.morris_shin_weight(2.0, 1.0, 0.6) == pytest.approx(1 / 6)
    assert cf.morris_shin_weight(2.0, 1.0, 0.6, omega=1 / 64) == pytest.approx(0.1693, abs=5e-5)
    assert cf.deviation_gain_consensus(2.0, 1.0, 0.6) == pytest.approx(0.72 / 27)


@pytest.mark.parametrize("tau", [0.0, 1.0])
def test_exact_gain_equals_the_closed_form(tau):
    m = InformationMarket(n_followers=64, prior_precision=tau)
    truth = np.tile(m.view_coef, (64, 1))
    g = M.exact_gain(make_rule("consensus:r=0.6"), m, truth)
    assert g.kind == "exact"
    np.testing.assert_allclose(g.gain, cf.deviation_gain_consensus(2.0, 1.0, 0.6, 1 / 64, tau), rtol=1e-12)
    assert np.all(M.exact_gain(make_rule("proper"), m, truth).gain == 0.0)


@pytest.mark.parametrize("tau", [0.0, 1.0])
def test_deviation_gain_closed_form_matches_simulation(tau):
    """Simulated gain of the closed-form best response over truth, 8 followers, r = 0.6."""
    m = InformationMarket(n_followers=8, n_days=200, n_stocks=200, prior_precision=tau, seed=2)
    d = m.draw()
    rule, ctx = make_rule("consensus:r=0.6"), PayContext(d.theta)
    br, _ = R.linear_best_response(rule, m, np.tile(m.view_coef, (8, 1)))
    rep = br[:, 0, None, None] * d.private + br[:, 1, None, None] * d.public
    diff = rule.deviation_pay(rep[None], d.views, ctx)[0] - rule.pay(d.views, ctx)  # (F, days)
    se = diff.mean(0).std(ddof=1) / np.sqrt(200)  # follower-averaged daily gain: days are independent
    want = cf.deviation_gain_consensus(2.0, 1.0, 0.6, omega=1 / 8, tau=tau)
    assert abs(diff.mean() - want) < 4 * se, (diff.mean(), want, se)


def test_search_best_response_approaches_the_closed_form():
    """The vectorised search (anchor = the public signal) finds the Morris-Shin shading at grid resolution."""
    m = InformationMarket(n_followers=8, n_days=100, n_stocks=200, seed=3)
    d = m.draw()
    rule, ctx = make_rule("consensus:r=0.75"), PayContext(d.theta)
    fam = R.DeviationFamily.linear(np.linspace(0.3, 1.2, 19), np.linspace(-0.2, 0.8, 21))
    res = R.best_response_search(rule, d.views, d.views, d.public, ctx, fam)
    br, _ = R.linear_best_response(rule, m, np.tile(m.view_coef, (8, 1)))
    w_search = M.private_weight(res.reports, d.private, d.public)
    assert res.gain_kind == "lower bound" and np.all(res.gain > 0)
    assert np.all(np.abs(w_search - R.relative_private_weight(br)) < 0.03)  # grid step ~0.05 in a and b


def test_search_equilibrium_is_flagged_and_a_non_convergent_one_is_not_claimed():
    m = InformationMarket(n_followers=4, n_days=60, n_stocks=100, prior_precision=1.0, seed=4)
    d = m.draw()
    ctx = PayContext(d.theta)
    eq = R.iterated_best_response_search(make_rule("proper"), d.views, ctx, anchor=d.public)
    assert eq.converged and eq.truthful and eq.iterations == 1 and eq.gain_kind == "lower bound"
    fine = R.DeviationFamily.linear(np.linspace(0.0, 1.5, 31), np.linspace(-0.5, 1.0, 31))
    stuck = R.iterated_best_response_search(make_rule("consensus:r=0.75"), d.views, ctx, anchor=d.public,
                                            family=fine, max_iter=1)
    assert not stuck.converged and "NOT converged" in stuck.status and stuck.nashconv > 0


def test_dpm_best_response_is_team_optimal_not_truthful():
    """dpm pays L(r_i = 0) - L(r): the best response to truthful others undoes the aggregate's public bias."""
    m = InformationMarket(n_followers=8)
    rule = make_rule("dpm")
    truth = np.tile(m.view_coef, (8, 1))
    gain = M.exact_gain(rule, m, truth).gain
    assert np.all(gain > 0)
    br, _ = R.linear_best_response(rule, m, truth)
    assert np.all(R.relative_private_weight(br) > cf.truthful_weight(2.0, 1.0))  # leans on private info
    # a team game: simultaneous updates overshoot (flagged, never called an equilibrium); sequential ones
    # converge, and the equilibrium aggregate is the Bayes-optimal aggregate E[theta | y, x_1..x_n]
    assert not R.iterated_best_response_linear(rule, m, max_iter=50).converged
    for tau in (0.0, 1.0):
        mt = InformationMarket(n_followers=8, prior_precision=tau)
        eq = R.iterated_best_response_linear(rule, mt, sequential=True, tol=1e-12)
        cx, cy, _ = mt.bayes_coef
        assert eq.converged and not eq.truthful and eq.nashconv < 1e-20
        np.testing.assert_allclose(eq.profile.mean(0), [cx, cy], atol=1e-9)


def _tournament_best_a(views, rival_views, target, centre, a_grid):
    rule = make_rule("tournament")
    prof = np.concatenate([views, rival_views])
    cands = np.clip(centre + a_grid[:, None, None, None] * (prof - centre), 0.0, 1.0)  # still probabilities
    pay = rule.deviation_pay(cands, prof, PayContext(target)).mean(-1)[:, 0]
    return a_grid[np.argmax(pay)], pay


def test_rank_tournament_against_a_truthful_rival_exaggerates():
    """Lichtendahl & Winkler (2007): two forecasters, a binary event, the better Brier score wins: the best
    response to a truthful rival is more extreme than the view (probability pushed away from 1/2)."""
    from scipy.stats import norm

    m = InformationMarket(n_followers=2, n_days=100, n_stocks=200, prior_precision=1.0, seed=5)
    d = m.draw()
    prob = norm.cdf(d.views / d.predictive_sd)  # each follower's P(theta > 0 | info): its view
    event = (d.theta > 0).astype(float)
    a_grid = np.round(np.arange(0.8, 2.01, 0.1), 2)
    best, pay = _tournament_best_a(prob[:1], prob[1:], event, 0.5, a_grid)
    assert best > 1.0
    assert pay[a_grid == best][0] - pay[a_grid == 1.0][0] > 0.05  # SE of a win share here is < 0.004


def test_tournament_with_many_rivals_exaggerates_private_information():
    """Gaussian target, closest report wins: against 4 truthful rivals the best family deviation puts more
    weight on the private signal than the view does (Ottaviani & Sorensen 2006). (Against one rival in
    this market the view itself is the best linear report at grid resolution: exaggeration needs a crowd.)"""
    m = InformationMarket(n_followers=5, n_days=200, n_stocks=200, prior_precision=1.0, seed=3)
    d = m.draw()
    ctx = PayContext(d.theta)
    fam = R.DeviationFamily.linear([0.8, 1.0, 1.2, 1.4, 1.7], [-0.4, -0.2, 0.0, 0.2])
    res = R.best_response_search(make_rule("tournament"), d.views, d.views, d.public, ctx, fam)
    assert np.all(res.gain > 4 * res.se)
    assert np.all(M.private_weight(res.reports, d.private, d.public) > cf.truthful_weight(2.0, 1.0) + 0.03)
    assert np.all(np.abs(res.reports).mean((1, 2)) > np.abs(d.views).mean((1, 2)))
