"""The anticipating leader: Conitzer-Sandholm values on bimatrix games, and herding inverted on the market."""

import numpy as np
import pytest

from mass_env.incentives import InformationMarket, make_rule
from mass_env.incentives import learning as L
from mass_env.incentives import stackelberg as S
from mass_env.incentives.commitment import optimal_commitment
from mass_env.incentives.rules import rank_ic_rows

MARKET = InformationMarket(n_followers=16, n_days=60, n_stocks=200, prior_precision=1.0)


def test_design_page_example_matches_the_lp():
    p, v = S.anticipating_bimatrix([[1, 3], [0, 2]], [[1, 0], [0, 1]])
    assert v == pytest.approx(2.5, abs=1e-3) and p[0] == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(5))
def test_random_bimatrix_games_match_the_conitzer_sandholm_lp(m, seed):
    """CMA-ES over mixed commitments, the follower's best reply (ties to the leader) inside: within 1e-3 of
    the LP value (measured over 40 seeded 2x2/3x3 games: at most 1e-9)."""
    rng = np.random.default_rng(100 + seed)
    ul, uf = rng.random((m, m)), rng.random((m, m))
    _, v = S.anticipating_bimatrix(ul, uf, seed=seed)
    assert abs(v - optimal_commitment(ul, uf).value) < 1e-3


def test_maximise_grid_and_errors():
    res = S.maximise(lambda x: -((x[0] - 0.3) ** 2) - (x[1] + 0.45) ** 2, [0, -1], [1, 1], method="grid", grid=11)
    np.testing.assert_allclose(res.x, [0.3, -0.4])  # the best point of the 0.1 x 0.2 grid
    assert res.method == "grid" and res.evaluations == 121
    with pytest.raises(ValueError, match="method"):
        S.maximise(lambda x: 0.0, [0], [1], method="nelder")


def test_aggregate_value_matches_simulation():
    cx, cy, _ = MARKET.bayes_coef
    coef = np.tile([0.15, 0.56], (16, 1))
    emp, hw = S.empirical_value(coef, -0.3, MARKET)
    assert abs(emp - S.aggregate_value(coef, -0.3, MARKET)) < hw + 0.003  # population vs 60 simulated days
    assert S.aggregate_value(np.tile([cx, cy], (16, 1)), 0.0, MARKET) == pytest.approx(0.97072, abs=1e-5)


#: population Rank IC, anticipating minus myopic (closed-form responder; alpha 2, beta 1, tau 1, 16 followers):
#: measured 0, 0.0040, 0.0217, 0.0679 at r = 0, .25, .5, .75; the test asks for half of each (0 at r = 0)
MARGINS = {0.0: 0.0, 0.25: 0.002, 0.5: 0.01, 0.75: 0.03}


@pytest.mark.parametrize("r", sorted(MARGINS))
def test_anticipating_principal_inverts_herding(r):
    """Under consensus:r the followers herd on y; a leader that knows the response re-weights y and gets the
    Bayes aggregate's Rank IC (information hidden, not lost); the myopic one (phi fitted to truthful reports)
    loses, more as r grows. Paired over the same simulated days, the gap is significant at r >= 0.5."""
    out = S.compare_principals(MARKET, S.closed_form_responder, rules=[f"consensus:r={r}"])
    ant, myo = out["anticipating"], out["myopic"]
    cx, cy, _ = MARKET.bayes_coef
    bayes = S.aggregate_value(np.tile([cx, cy], (16, 1)), 0.0, MARKET)
    assert ant.value == pytest.approx(bayes, abs=1e-6) and ant.response_kind == "exact" and ant.converged
    if r == 0.0:
        assert ant.value == pytest.approx(myo.value, abs=1e-9)
        return
    assert ant.value - myo.value > MARGINS[r]
    if r >= 0.5:
        d = MARKET.draw(777)
        coef = S.closed_form_responder(make_rule(f"consensus:r={r}"), MARKET).coef
        rep = coef[:, 0, None, None] * d.private + coef[:, 1, None, None] * d.public
        ric = rank_ic_rows(np.stack([rep.mean(0) + c.phi * d.public for c in (ant, myo)]), d.theta)
        diff = ric[0] - ric[1]
        assert diff.mean() > 3 * diff.std(ddof=1) / np.sqrt(diff.size)


def test_bilevel_cma_over_rule_and_aggregator():
    """CMA-ES over (r, phi), the equilibrium recomputed inside for every r: the anticipating leader reaches the
    Bayes value whatever r it settles on; the myopic leader (indifferent between rules under truth) does not."""
    out = S.compare_principals(MARKET, S.closed_form_responder, rules=None)
    cx, cy, _ = MARKET.bayes_coef
    bayes = S.aggregate_value(np.tile([cx, cy], (16, 1)), 0.0, MARKET)
    assert out["anticipating"].value == pytest.approx(bayes, abs=1e-5)
    assert out["anticipating"].rule.startswith("consensus:r=")
    assert out["myopic"].value <= out["anticipating"].value + 1e-9


def test_rule_list_and_no_regret_followers():
    """A list of rules: with learning (Hedge) followers the anticipating leader still beats the myopic one under
    consensus:r=0.75 (the learned herding, within the library's resolution, is inverted)."""
    lib = L.StrategyLibrary.grid(np.round(np.arange(0.0, 1.501, 0.1), 3), np.round(np.arange(-0.2, 1.001, 0.1), 3))
    market = InformationMarket(n_followers=16, n_days=150, n_stocks=150, prior_precision=1.0)
    responder = S.hedge_responder(lib, eta=200.0, seed=1)
    out = S.compare_principals(market, responder, rules=["consensus:r=0.75"])
    assert out["anticipating"].response_kind == "no-regret (hedge)"
    assert out["anticipating"].value - out["myopic"].value > 0.02
    picked = S.market_principal(MARKET, S.closed_form_responder, rules=["proper", "consensus:r=0.5", "dpm"])
    assert picked[0] in ("proper", "consensus:r=0.5", "dpm")
