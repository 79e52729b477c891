"""The soft-rank Rank IC surrogate and the gradient (differentiable price mechanism) principal."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy.stats import spearmanr  # noqa: E402

import principals  # noqa: E402
from experiments.sweep.workers import run_episode  # noqa: E402
from mass_env import (  # noqa: E402
    GameConfig,
    MassStackelbergEnv,
    SyntheticConfig,
    build_types,
    scripted_followers,
    synthetic_market,
)
from mass_env.game.aggregation import TypeMoments, aggregate  # noqa: E402
from mass_env.game.metrics import average_ranks  # noqa: E402
from principals import EqualWeights  # noqa: E402
from principals.gradient import GradientPrincipal, make_gradient  # noqa: E402
from principals.softrank import SoftRankWindow, soft_rank, surrogate_rank_ic  # noqa: E402

VALUE_ONLY = {"ohlcv": 0.0, "industry": 0.0, "value": 1.2, "macro": 0.0}
VALUE_TYPES = [2, 4, 6, 7]  # the 8-type population's types that see valuations


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _recorded_game(strength=None, output="score", rule="agent", n_days=110, seed=0):
    cfg = SyntheticConfig(n_days=n_days) if strength is None else SyntheticConfig(n_days=n_days, strength=strength)
    panel = synthetic_market(cfg, seed=seed)[0]
    env = MassStackelbergEnv(panel, build_types(8, 8), GameConfig(rule=rule))
    run_episode(env, EqualWeights(), scripted_followers(env, seed=0, output=output), seed=0)
    return env.game


@pytest.fixture(scope="module")
def game():
    return _recorded_game()


@pytest.fixture(scope="module")
def select_game():
    """MASS-style 0/1 selections: heavy ties in the aggregate."""
    return _recorded_game(output="select", rule="mass")


@pytest.fixture(scope="module")
def value_game():
    return _recorded_game(VALUE_ONLY, n_days=120)


def _candidates(K, P=200, seed=0):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(K, 0.7), P), rng.uniform(0.0, 1.0, P)


# ------------------------------------------------------------------------------------ the surrogate
@pytest.mark.parametrize("which", ["game", "select_game"])
def test_torch_aggregation_equals_the_rule(which, request):
    g = request.getfixturevalue(which)
    win = g.scoring_window(5, horizon=5, asof=80)
    W, A = _candidates(8, 6)
    cons, dis, sig = SoftRankWindow(win).aggregate(W, A)
    ref = aggregate(TypeMoments.from_stacked(win.moments), W, A, win.rule)
    for got, want in ((cons, ref.consensus), (dis, ref.disagreement), (sig, ref.signal)):
        got = got.numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, atol=1e-9, equal_nan=True)


def test_soft_rank_limits_ties_scale_and_mask(rng):
    x = np.round(rng.normal(size=(4, 40)), 1)  # many exact ties
    mask = rng.random((4, 40)) > 0.2
    sharp = soft_rank(torch.tensor(x), torch.tensor(mask), temperature=1e-4).numpy()
    exact = average_ranks(x, mask)
    np.testing.assert_allclose(sharp[mask], exact[mask], atol=1e-6)  # ties -> average ranks
    assert (sharp[~mask] == 0).all()
    a = soft_rank(torch.tensor(x), torch.tensor(mask), 1.0)
    b = soft_rank(torch.tensor(3.0 * x - 7.0), torch.tensor(mask), 1.0)
    torch.testing.assert_close(a, b)  # invariant to scale and location, like ranks


def test_temperature_is_measured_in_ranks_whatever_the_number_of_stocks(rng):
    """The same temperature blurs by about the same number of ranks at 30 and at 600 stocks."""
    devs = []
    for n in (30, 600):
        x = rng.normal(size=(3, n))
        mask = np.ones_like(x, bool)
        s = soft_rank(torch.tensor(x), torch.tensor(mask), 1.0).numpy()
        devs.append(np.abs(s - average_ranks(x)).mean())
    assert 0.4 < devs[0] / devs[1] < 2.5, devs
    # a temperature fixed on z-scores instead (tau = 0.1) would be ~20x blurrier in ranks at 600 stocks


@pytest.mark.parametrize("which", ["game", "select_game"])
def test_surrogate_orders_candidates_like_the_exact_rank_ic(which, request):
    """Spearman, across random candidates, of surrogate vs exact Rank IC fitness; sharper than Pearson."""
    g = request.getfixturevalue(which)
    win = g.scoring_window(5, horizon=5, asof=90)
    assert win.n_days == 5
    W, A = _candidates(8, 200, seed=1)
    exact = win.fitness(W, A)
    soft = surrogate_rank_ic(win, W, A)  # default temperature: one neighbour gap
    pearson = surrogate_rank_ic(win, W, A, surrogate="pearson")
    rho_soft = spearmanr(soft, exact)[0]
    rho_pearson = spearmanr(pearson, exact)[0]
    assert rho_soft > 0.95, rho_soft
    assert rho_soft > rho_pearson
    assert np.abs(soft - exact).mean() < np.abs(pearson - exact).mean()
    assert np.abs(soft - exact).max() < 0.05


def test_too_soft_ranks_collapse_to_pearson(select_game):
    win = select_game.scoring_window(5, horizon=5, asof=90)
    W, A = _candidates(8, 50, seed=2)
    pearson = surrogate_rank_ic(win, W, A, surrogate="pearson")
    very_soft = surrogate_rank_ic(win, W, A, temperature=1e5)
    np.testing.assert_allclose(very_soft, pearson, atol=1e-5)
    exact = win.fitness(W, A)
    assert np.abs(very_soft - exact).max() > 0.01  # Pearson is not the Rank IC here (heavy ties)


@pytest.mark.parametrize("component", ["signal", "consensus", "disagreement"])
def test_gradient_ascent_improves_the_exact_rank_ic_on_a_window(value_game, component):
    win = value_game.scoring_window(20, horizon=5, asof=100)
    p = GradientPrincipal(component=component, steps=60, logit_decay=0.0, lookback=20)
    p.reset(8)
    uniform = np.full(8, 1 / 8)
    rec = p.step(win, uniform, 0.5, day=100)
    assert rec is not None and rec.window_days == 20
    assert rec.surrogate_end > rec.surrogate_start + 0.01
    assert rec.exact_end > rec.exact_start + 0.01, rec  # the true objective improves, not only the surrogate
    if component != "disagreement":  # (what makes dispersion informative has no simple ground truth)
        w, _ = p.current()
        assert w[VALUE_TYPES].sum() > 0.6  # ... by moving weight to the informative types (ground truth)


# ------------------------------------------------------------------------------------ prices
def test_prices_are_the_gradient_per_unit_weight_and_sum_to_zero(game):
    win = game.scoring_window(5, horizon=5, asof=90)
    p = GradientPrincipal(weight_floor=0.0)
    p.reset(8)
    obj = p.objective(win)
    d = np.random.default_rng(3).dirichlet(np.ones(8))
    price, alpha_price = p.price(obj, d, 0.6)
    assert np.isfinite(price).all() and np.isfinite(alpha_price)
    assert abs(float(d @ price)) < 1e-9  # the rule is scale invariant: a relative (zero-sum) price
    h = 1e-6
    with torch.no_grad():
        for k in range(8):
            e = np.zeros(8)
            e[k] = h
            fd = (obj(d + e, 0.6) - obj(d - e, 0.6)).item() / (2 * h)
            assert fd == pytest.approx(price[k], rel=1e-4, abs=1e-6)
        fa = (obj(d, 0.6 + h) - obj(d, 0.6 - h)).item() / (2 * h)
    assert fa == pytest.approx(alpha_price, rel=1e-4, abs=1e-6)


def test_prices_identify_the_informative_types_during_an_episode(value_game):
    panel = value_game.panel
    env = MassStackelbergEnv(panel, build_types(8, 8), GameConfig(turnover_penalty=0.05))
    p = principals.make("gradient", turnover_penalty=0.05) if "gradient" in principals.available() \
        else make_gradient(turnover_penalty=0.05)
    res = run_episode(env, p, scripted_followers(env, seed=1), seed=1)
    frame = p.price_frame()
    days = frame["day"].unique()
    assert len(p.prices) == len(days) == len(p.log) > 50
    assert list(frame.columns) == ["day", "type", "price", "weight", "alpha_price"]
    assert frame.groupby("day")["price"].size().eq(8).all()
    mean_price = frame.groupby("type")["price"].mean()
    others = [k for k in range(8) if k not in VALUE_TYPES]
    assert mean_price[VALUE_TYPES].min() > mean_price[others].max(), mean_price
    # the leader follows its prices: weight ends up on the value types, and it beats equal weights
    w = res.history[[f"w_{k}" for k in range(8)]].iloc[30:].mean()
    assert w.iloc[VALUE_TYPES].sum() > 0.55
    eq = run_episode(MassStackelbergEnv(panel, build_types(8, 8), GameConfig(turnover_penalty=0.05)),
                     EqualWeights(), scripted_followers(env, seed=1), seed=1)
    assert res.summary["mean_payoff"] > eq.summary["mean_payoff"]


# ------------------------------------------------------------------------------------ protocol
def test_gradient_principal_passes_the_conformance_check():
    from mass_env.testing import check_principal

    rep = check_principal(lambda: GradientPrincipal(steps=5))
    assert rep.distinct_actions > 1  # it actually moves


def test_options_are_validated_and_the_registry_entry_works():
    with pytest.raises(ValueError, match="unknown option"):
        make_gradient(bogus=1)
    with pytest.raises(ValueError):
        GradientPrincipal(component="nonsense")
    p = make_gradient(steps=3, lookback=4)
    assert p.options()["steps"] == 3 and p.min_days == 4
    if "gradient" in principals.available():
        assert isinstance(principals.make("gradient", steps=2), GradientPrincipal)


def test_principal_modules_import_without_torch():
    # torch and stable_baselines3 made unimportable as on a machine without them: a finder that raises
    # ImportError, not sys.modules[name] = None (scipy.stats, imported by experiments.stats.inference,
    # reads any "torch" entry of sys.modules as the torch module and fails on None)
    code = ("import sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('torch', 'stable_baselines3'):\n"
            "            raise ImportError(f'No module named {name!r}')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import principals, principals.gradient, principals.softrank, principals.rl, experiments.train_rl\n"
            "p = principals.gradient.GradientPrincipal()\n"
            "try:\n    p.reset(3)\nexcept ImportError as e:\n    assert 'torch==2.13.0' in str(e); print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
