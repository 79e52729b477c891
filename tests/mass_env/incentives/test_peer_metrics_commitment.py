"""Peer prediction, incentive metrics and the Conitzer-Sandholm commitment against known answers."""

import itertools

import numpy as np
import pytest

from mass_env.incentives import InformationMarket, PayContext, make_rule
from mass_env.incentives import closed_form as cf
from mass_env.incentives import metrics as M
from mass_env.incentives import responses as R
from mass_env.incentives.commitment import commitment_value, optimal_commitment


@pytest.fixture(scope="module")
def market():
    m = InformationMarket(n_followers=4, n_days=100, n_stocks=200, prior_precision=1.0, seed=4)
    return m, m.draw()


def test_output_agreement_constant_report_is_an_untruthful_equilibrium(market):
    m, d = market
    ctx = PayContext(d.theta)
    rule = make_rule("output_agreement")
    const = np.tile(np.array([0.0, 0.0, 0.0, 1.0, 0.0]), (4, 1))  # report = 0 whatever the view
    eq = R.iterated_best_response_search(rule, d.views, ctx, anchor=d.public, start=const)
    assert eq.converged and not eq.truthful and "untruthful equilibrium" in eq.status
    assert np.all(rule.pay(eq.reports, ctx) == 1.0)  # maximal pay, no information
    assert rule.truthful == "no"


def test_correlated_agreement_uninformed_earn_zero_truth_earns_sheppard(market):
    m, d = market
    ctx = PayContext(d.theta)
    rule = make_rule("peer")
    truth = rule.pay(d.views, ctx)  # (F, days)
    want = cf.correlated_agreement_truthful_pay(2.0, 1.0, theta_var=1.0, n_stocks=200)
    se = truth.mean(0).std(ddof=1) / np.sqrt(100)
    assert abs(truth.mean() - want) < 4 * se + 0.005  # + the O(1/sqrt n) effect of the sample median
    rng = np.random.default_rng(9)
    uninformed = np.stack([np.zeros_like(d.views), rng.normal(size=d.views.shape)])  # constant, random
    dev = rule.deviation_pay(uninformed, d.views, ctx)  # (2, F, days)
    assert np.all(dev[0] == 0.0)  # a constant is all "below the median": agreement = penalty exactly
    se_r = dev[1].mean(0).std(ddof=1) / np.sqrt(100)
    assert abs(dev[1].mean()) < 4 * se_r
    assert truth.mean() > 0.3


def test_private_weight_recovers_linear_reports_and_herding_under_consensus(market):
    m, d = market
    eq = R.iterated_best_response_linear(make_rule("consensus:r=0.5"), m)
    rep = eq.profile[:, 0, None, None] * d.private + eq.profile[:, 1, None, None] * d.public
    w = M.private_weight(rep, d.private, d.public)
    np.testing.assert_allclose(w, cf.morris_shin_weight(2.0, 1.0, 0.5, 0.25), atol=1e-9)
    np.testing.assert_allclose(M.private_weight(d.views, d.private, d.public), cf.truthful_weight(2.0, 1.0),
                               atol=1e-9)

    def corr_with_y(kx, ky):  # theta ~ N(0, 1), alpha = 2, beta = 1
        return (kx + ky + ky / 2.0) / np.sqrt(((kx + ky) ** 2 + kx**2 + ky**2 / 2.0) * 1.5)

    want = corr_with_y(*eq.profile[0]) - corr_with_y(*m.view_coef)
    herd = M.herding_index(rep, d.views, anchor=d.public)  # leans on the public signal
    assert want > 0.02 and np.all(np.abs(herd - want) < 0.005)  # SE of the difference ~ 0.001
    assert np.all(np.abs(M.herding_index(d.views, d.views, anchor=d.public)) < 1e-12)


def test_efficiency_matches_the_rank_ic_closed_form(market):
    """Aggregate Rank IC at the Morris-Shin equilibrium over at truth: simulation vs (6/pi) arcsin(rho/2)."""
    m, d = market
    k = R.iterated_best_response_linear(make_rule("consensus:r=0.75"), m).profile
    rep = k[:, 0, None, None] * d.private + k[:, 1, None, None] * d.public
    eff = M.efficiency(rep, d.views, d.theta)
    kx, ky = m.view_coef
    want_truth = cf.aggregate_rank_ic(kx, ky, 2.0, 1.0, 4, theta_var=1.0)
    want_eq = cf.aggregate_rank_ic(k[0, 0], k[0, 1], 2.0, 1.0, 4, theta_var=1.0)
    assert want_eq < want_truth
    assert abs(eff.rank_ic_truth - want_truth) < 0.01 and abs(eff.rank_ic_played - want_eq) < 0.01  # SE ~ 0.002
    assert abs(eff.ratio - want_eq / want_truth) < 0.01
    assert M.efficiency(d.views, d.views, d.theta).ratio == 1.0


def test_lower_bound_gain_is_labelled_and_nonnegative(market):
    m, d = market
    rule = make_rule("consensus:r=0.5")
    fam = R.DeviationFamily.linear(np.linspace(0.5, 1.2, 15), np.linspace(-0.2, 0.6, 17))
    g = M.deviation_gain(rule, d.views, d.views, PayContext(d.theta), anchor=d.public, family=fam)
    exact = M.exact_gain(rule, m, np.tile(m.view_coef, (4, 1)))
    assert g.kind == "lower bound" and exact.kind == "exact" and np.all(g.gain > 0)
    assert np.all(g.gain < exact.gain + 4 * g.se)  # a family's best cannot beat the exact best response
    assert M.nashconv(g) == (g.nashconv, "lower bound")


def test_conitzer_sandholm_example():
    c = optimal_commitment([[1, 3], [0, 2]], [[1, 0], [0, 1]])
    assert c.value == pytest.approx(2.5, abs=1e-9) and c.follower_action == 1
    assert c.p[0] == pytest.approx(0.5, abs=1e-9)
    assert commitment_value([1.0, 0.0], [[1, 3], [0, 2]], [[1, 0], [0, 1]]) == (1.0, 0)  # the Nash outcome


def _simplex_grid(m, steps):
    for c in itertools.product(range(steps + 1), repeat=m - 1):
        if sum(c) <= steps:
            yield np.array(list(c) + [steps - sum(c)]) / steps


@pytest.mark.parametrize("shape,steps,seed", [((2, 2), 2000, s) for s in range(5)] +
                         [((3, 3), 300, s) for s in range(5)] + [((2, 3), 2000, 7), ((3, 2), 300, 8)])
def test_commitment_lp_matches_a_brute_force_grid(shape, steps, seed):
    """The LP value is never beaten by a grid commitment, and a grid of step 1/steps comes within the bound:
    moving p by at most 2/steps (to a grid point inside the region that induces the same reply) changes
    the leader's value by at most 2 max|U_L| / steps (payoffs in [0, 1])."""
    rng = np.random.default_rng(seed)
    ul, uf = rng.random(shape), rng.random(shape)
    c = optimal_commitment(ul, uf)
    grid = max(commitment_value(p, ul, uf)[0] for p in _simplex_grid(shape[0], steps))
    assert grid <= c.value + 1e-9
    assert c.value - grid <= 0.02 if shape[0] == 3 else c.value - grid <= 2.0 / steps
    assert commitment_value(c.p, ul, uf, tie_tol=1e-9)[0] == pytest.approx(c.value, abs=1e-7)
