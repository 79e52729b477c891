"""Information market and payment rules: shapes, seeding, the registry, and the proper-score known answers.

Tolerances are stated as multiples of the standard error (SE) of the quantity over days (days are
independent in the information market), so a correct implementation fails with probability < 1e-3.
"""

import numpy as np
import pytest

from mass_env.incentives import InformationMarket, PayContext, PaymentRule, UnknownRuleError, make_rule
from mass_env.incentives import closed_form as cf
from mass_env.incentives import responses as R
from mass_env.incentives.payments import PAYMENT_RULES
from mass_env.incentives.rules import rank_ic_rows


def test_draw_shapes_seeding_and_views():
    m = InformationMarket(n_followers=3, n_stocks=40, n_days=7, prior_precision=0.5, seed=11)
    a, b = m.draw(), m.draw()
    assert a.private.shape == (3, 7, 40) and a.theta.shape == a.public.shape == (7, 40)
    np.testing.assert_array_equal(a.views, b.views)  # seeded Generator, no global RNG
    assert not np.array_equal(m.draw(seed=12).theta, a.theta)
    want = (m.public_precision * a.public + m.private_precision * a.private) / (0.5 + 2.0 + 1.0)
    np.testing.assert_allclose(a.views, want, rtol=1e-12)
    with pytest.raises(ValueError):
        InformationMarket(rho=1.0)


def test_bayes_aggregate_beats_every_view_and_matches_its_closed_form():
    m = InformationMarket(n_followers=6, n_stocks=300, n_days=60, prior_precision=1.0, seed=1)
    d = m.draw()
    ric = rank_ic_rows(np.concatenate([d.bayes_aggregate[None], d.views]), d.theta).mean(-1)
    assert ric[0] > ric[1:].max()
    cx, cy, _ = m.bayes_coef
    want = cf.aggregate_rank_ic(cx, cy, 2.0, 1.0, 6, theta_var=1.0)
    se = rank_ic_rows(d.bayes_aggregate, d.theta).std(ddof=1) / np.sqrt(60)
    assert abs(ric[0] - want) < 4 * se + 2e-3  # + the O(1/n) small-sample bias of Spearman at 300 stocks


def test_registry_parses_options_and_lists_valid_names():
    assert make_rule("consensus:r=0.6").r == 0.6
    assert make_rule("proper:score=log,buckets=4").buckets == 4
    with pytest.raises(UnknownRuleError, match="valid rules: .*consensus.*dpm"):
        make_rule("herd")
    with pytest.raises(UnknownRuleError, match="valid options: r"):
        make_rule("consensus:w=0.3")
    with pytest.raises(UnknownRuleError, match=r"\[0, 1\]"):
        make_rule("consensus:r=2")
    with pytest.raises(UnknownRuleError):
        make_rule("consensus:r")
    for name in PAYMENT_RULES:
        rule = make_rule(name)
        assert rule.claim and rule.reference


@pytest.mark.parametrize("spec", ["proper", "consensus:r=0.4", "dpm", "skill", "weighted_skill", "leave_one_out",
                                  "tournament", "peer", "output_agreement"])
def test_fast_deviation_pay_equals_the_generic_one(spec):
    """Every rule's vectorised unilateral-deviation pay equals swapping the report into the full profile."""
    rng = np.random.default_rng(0)
    prof = rng.normal(size=(4, 6, 30))
    prof[1, 2, :5] = np.nan  # not reported
    cand = rng.normal(size=(3, 4, 6, 30))
    ctx = PayContext(rng.normal(size=(6, 30)), weights=np.array([1.0, 2.0, 3.0, 4.0]))
    rule = make_rule(spec)
    generic = PaymentRule.deviation_pay(rule, cand, prof, ctx)  # the base class's loop version
    np.testing.assert_allclose(rule.deviation_pay(cand, prof, ctx), generic, atol=1e-12)
    assert rule.pay(prof, ctx).shape == (4, 6)


def test_proper_truth_is_the_best_response_and_misreports_cost_delta_squared():
    # tau = 1 = the simulated prior, so the views are the posterior means of the simulated world
    m = InformationMarket(n_followers=4, n_stocks=200, n_days=100, prior_precision=1.0, seed=1)
    d = m.draw()
    ctx = PayContext(d.theta)
    rule = make_rule("proper")
    res = R.best_response_search(rule, d.views, d.views, d.public, ctx)  # 77 candidates incl. constants
    assert res.stay.all() and np.all(res.gain == 0.0)  # no candidate beats truth in-sample
    for delta in (0.1, 0.3):
        diff = rule.pay(d.views + delta, ctx) - rule.pay(d.views, ctx)  # (F, days)
        se = diff.std(-1, ddof=1) / np.sqrt(100)
        assert np.all(np.abs(diff.mean(-1) + cf.quadratic_misreport_cost(delta)) < 4 * se)


def test_log_score_is_proper_and_misreport_costs_kl():
    from scipy.stats import norm

    m = InformationMarket(n_followers=1, n_stocks=200, n_days=100, prior_precision=1.0, seed=2)
    d = m.draw()
    edges = norm.ppf(np.linspace(0, 1, 6))  # quintiles of theta ~ N(0, 1)
    ctx = PayContext(d.theta, buckets=np.digitize(d.theta, edges[1:-1]))
    cdf = norm.cdf((edges[None, None, None, :] - d.views[..., None]) / d.predictive_sd)
    truth = np.clip(np.diff(cdf, axis=-1), 1e-12, None)  # (1, days, stocks, 5): the predictive distribution
    truth /= truth.sum(-1, keepdims=True)
    flat = (truth + 0.2) / 2.0      # a flattened misreport, still a distribution
    rule = make_rule("proper:score=log")
    diff = rule.pay(flat, ctx) - rule.pay(truth, ctx)
    kl = np.sum(truth * np.log(truth / flat), axis=-1).mean(-1)  # E[log q - log p] = KL(q || p)
    se = diff.std(ddof=1) / np.sqrt(100)
    assert diff.mean() < 0 and abs(diff.mean() + kl.mean()) < 4 * se
