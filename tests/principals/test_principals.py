"""Leaders: the shared interface, MASS's SA, CMA-ES, baselines, and what they achieve on markets with
known ground truth."""

from __future__ import annotations

import numpy as np
import pytest

import principals
from experiments.sweep.workers import run_episode
from mass_env import GameConfig, MassStackelbergEnv, SyntheticConfig, build_types, scripted_followers, synthetic_market
from mass_env.data.modalities import Modality
from mass_env.data.returns import ReturnSpec
from mass_env.game.mechanism import PrincipalAction
from mass_env.game.scoring import ScoringWindow
from mass_env.testing import check_principal
from principals import CMAES, MassAnnealing
from principals.blackbox import Objective, SearchSpace, optimise


# ------------------------------------------------------------------------------------ conformance
# rl needs a trained policy: its conformance run is in tests/test_rl_principal.py
@pytest.mark.parametrize("name", [n for n in principals.available() if n != "rl"])
def test_every_registered_principal_honours_the_interface(name):
    if name == "gradient":
        pytest.importorskip("torch")
    report = check_principal(lambda: principals.make(name))
    assert report.n_actions > 0


@pytest.mark.parametrize("name, options", [
    ("sa", {"learn_alpha": True, "component": "signal"}),
    ("cmaes", {"turnover_penalty": 0.1, "inertia": 0.5}),
    ("random", {"daily": True}),
])
def test_principal_variants_honour_the_interface(name, options):
    report = check_principal(lambda: principals.make(name, **options))
    if name != "equal":
        assert report.distinct_actions > 1  # these leaders do move


class _PeekingLeader:
    """Cheats: digs the game out of the context and scores a window as of 15 days in the future."""

    name = "peeker"

    def reset(self, n_types, *, seed=None):
        self.k = n_types

    def act(self, ctx):
        game = next(c.cell_contents for c in ctx.window.__closure__ if hasattr(c.cell_contents, "scoring_window"))
        win = game.scoring_window(5, horizon=5, asof=ctx.day + 15)
        if win.n_days == 0:
            return PrincipalAction.uniform(self.k)
        best = int(np.argmax([win.fitness(np.eye(self.k)[i], 0.5)[0] for i in range(self.k)]))
        return PrincipalAction(np.eye(self.k)[best] + 0.1)

    def observe(self, paid):
        pass


class _UnseededLeader:
    name = "unseeded"

    def reset(self, n_types, *, seed=None):
        self.rng, self.k = np.random.default_rng(), n_types

    def act(self, ctx):
        return PrincipalAction(self.rng.random(self.k) + 0.01)

    def observe(self, paid):
        pass


def test_conformance_check_catches_look_ahead_and_unseeded_randomness():
    with pytest.raises(AssertionError, match="look-ahead"):
        check_principal(_PeekingLeader)
    with pytest.raises(AssertionError, match="same seed"):
        check_principal(_UnseededLeader)


def test_make_builds_by_name_and_rejects_unknowns(monkeypatch):
    assert set(principals.available()) >= {"equal", "random", "sa", "cmaes"}
    assert principals.make("CMA-ES").name == "cmaes"
    sa = principals.make("sa")
    assert (sa.component, sa.learn_alpha, sa.alpha0, sa.lookback, sa.fitness_horizon) == (
        "disagreement", False, 0.5, 5, 5)
    cma = principals.make("cmaes")
    assert (cma.component, cma.learn_alpha, cma.optimizer.sigma0, cma.optimizer.evals) == ("signal", True, 0.2, 30)
    with pytest.raises(ValueError, match="available"):
        principals.make("gradient-descent")
    with pytest.raises(ValueError, match="unknown option"):
        principals.make("sa", sigma0=0.3)
    principals.register("mine", lambda **kw: principals.EqualWeights(**kw))
    try:
        assert "mine" in principals.available() and principals.make("mine", alpha=0.3).alpha == 0.3
        with pytest.raises(ValueError, match="already registered"):
            principals.register("mine", principals.EqualWeights)
    finally:
        principals.registry.PRINCIPALS.unregister("mine")


# ------------------------------------------------------------------------------------ the scorer
def _played_window(market, n_types=8, agents=4, days=5):
    panel = market[0]
    env = MassStackelbergEnv(panel, build_types(n_types, agents), GameConfig())
    run_episode(env, principals.EqualWeights(), scripted_followers(env, seed=1), seed=1)
    return env.game.scoring_window(days, horizon=5, asof=60)


def test_scorer_is_called_once_per_population(small_market, monkeypatch):
    sizes: list[int] = []
    original = ScoringWindow.fitness

    def spy(self, weights, alpha, **kw):
        sizes.append(np.atleast_2d(weights).shape[0])
        return original(self, weights, alpha, **kw)

    monkeypatch.setattr(ScoringWindow, "fitness", spy)
    env = MassStackelbergEnv(small_market[0], build_types(8, 2), GameConfig())
    cma = principals.make("cmaes")
    run_episode(env, cma, scripted_followers(env, seed=0), seed=0)
    days = len(cma.log)
    assert days > 30
    # 8 logits + alpha -> pycma's popsize 10; 30 evaluations = 3 generations = 3 scorer calls a day
    assert sizes == [10] * (3 * days)
    assert all(g.scorer_calls == 3 and g.evaluations == 30 for g in cma.log)

    sizes.clear()
    sa = principals.make("sa")
    env.reset(seed=0)
    run_episode(env, sa, scripted_followers(env, seed=0), seed=0)
    assert sizes == [1] * (21 * len(sa.log))  # SA is a chain: the start + 20 proposals, one by one


def test_optimise_counts_one_call_per_generation(small_market):
    win = _played_window(small_market)
    space = SearchSpace(8, learn_alpha=True, encoding="logits")
    res = optimise(CMAES(evals=60), Objective(win, space), space.encode(np.ones(8), 0.5),
                   np.random.default_rng(1), report=False)
    assert win.calls == res.scorer_calls == 6 and res.evaluations == 60


# ------------------------------------------------------------------------------------ SA
def test_sa_follows_the_mass_rules(small_market):
    win = _played_window(small_market)
    space = SearchSpace(8, learn_alpha=False, alpha=0.5, encoding="positive")
    sa = MassAnnealing()
    told: list[tuple[np.ndarray, float]] = []
    tell = sa.tell
    sa.tell = lambda X, f: (told.append((X[0].copy(), float(f[0]))), tell(X, f))  # type: ignore[method-assign]
    x0 = np.ones(8)
    res = optimise(sa, Objective(win, space, "disagreement"), x0, np.random.default_rng(3))
    assert len(told) == 21  # the start + 20 iterations
    np.testing.assert_array_equal(told[0][0], x0)
    for x, _ in told:
        assert (x > 0).all() and np.isclose(x.sum(), 8.0)  # pairwise transfers keep d > 0 and the sum
        assert np.count_nonzero(~np.isclose(x, told[0][0])) <= 40
    steps = [x for (x, _), (y, _) in zip(told[1:], told[:-1]) if not np.allclose(x, y)]
    assert steps  # it moves
    best = max(f for _, f in told)
    assert res.fitness == pytest.approx(best)  # returns the best point visited
    assert np.isclose(sa._T, 0.5 * 0.95**20)
    assert res.alpha == 0.5


def test_sa_accepts_worse_points_by_the_metropolis_rule():
    space = SearchSpace(4, encoding="positive")
    rng = np.random.default_rng(0)
    accepted_hot, accepted_cold = 0, 0
    for temperature, n in ((50.0, 200), (1e-4, 200)):
        sa = MassAnnealing(iterations=n, temperature=temperature, cooling=1.0)
        sa.start(np.ones(4), space, rng)
        sa.tell(sa.ask(), np.array([0.0]))
        for _ in range(n):
            sa.tell(sa.ask(), np.array([-0.01]))  # always slightly worse than the start
            sa._f_cur = 0.0  # keep comparing against the start
        if temperature > 1:
            accepted_hot = sa.accepted
        else:
            accepted_cold = sa.accepted
    # exp(-10 * 0.01 / 50) ~ 0.998 vs exp(-10 * 0.01 / 1e-4) ~ 0
    assert accepted_hot > 190 and accepted_cold == 0


def test_sa_learned_alpha_stays_in_bounds(small_market):
    win = _played_window(small_market)
    space = SearchSpace(8, learn_alpha=True, encoding="positive")
    xs = []
    sa = MassAnnealing(iterations=200)
    sa.start(space.encode(np.ones(8), 0.5), space, np.random.default_rng(0))
    while not sa.stop():
        X = sa.ask()
        xs.append(X[0])
        sa.tell(X, Objective(win, space, "signal")(X))
    alphas = np.array([x[8] for x in xs])
    assert ((alphas >= 0) & (alphas <= 1)).all() and np.unique(alphas).size > 5


# ------------------------------------------------------------------------------------ CMA-ES
def test_cmaes_is_quiet_seeded_and_leaves_the_global_rng_alone(small_market, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    win = _played_window(small_market)
    space = SearchSpace(8, learn_alpha=True, encoding="logits")
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    results = [optimise(CMAES(), Objective(win, space), space.encode(np.ones(8), 0.5), np.random.default_rng(9)).x
               for _ in range(2)]
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    np.testing.assert_array_equal(results[0], results[1])
    assert list(tmp_path.iterdir()) == []  # no outcmaes/ folder
    opts = CMAES().options_for(space, seed=5)
    assert opts["seed"] >= 1 and opts["verbose"] == -9 and opts["verb_log"] == 0 and "CMA_diagonal" not in opts
    assert opts["bounds"] == [[None] * 8 + [0.0], [None] * 8 + [1.0]]
    big = CMAES().options_for(SearchSpace(128, learn_alpha=True, encoding="logits"), seed=5)
    assert big["CMA_diagonal"] is True
    assert "bounds" not in CMAES().options_for(SearchSpace(8, encoding="logits"), seed=5)


def test_cmaes_warm_starts_and_returns_the_mean(small_market):
    win = _played_window(small_market)
    space = SearchSpace(8, learn_alpha=True, encoding="logits")
    x0 = space.encode(np.array([4.0, 1, 1, 1, 1, 1, 1, 1]), 0.7)
    opt = CMAES()
    res = optimise(opt, Objective(win, space), x0, np.random.default_rng(2))
    np.testing.assert_allclose(res.x, opt._es.result.xfavorite)
    # sigma0 0.2 and 3 generations: the answer stays near the warm start
    assert np.abs(res.x - x0).max() < 1.5 and res.weights.argmax() == 0 and 0 <= res.alpha <= 1


def test_turnover_penalty_keeps_cmaes_weights_still(small_market):
    env = MassStackelbergEnv(small_market[0], build_types(8, 2), GameConfig())
    turn = {}
    for lam in (0.0, 5.0):
        res = run_episode(env, principals.make("cmaes", turnover_penalty=lam), scripted_followers(env, seed=0), seed=0)
        turn[lam] = res.summary["mean_turnover"]
    assert turn[5.0] < 0.5 * turn[0.0]


# ------------------------------------------------------------------------------------ ground truth
def _mean_signal_ic(panel, types, leader, followers_fn, seed, informative):
    env = MassStackelbergEnv(panel, types, GameConfig())
    res = run_episode(env, leader, followers_fn(env, seed), seed=seed)
    W = res.history[[f"w_{k}" for k in range(len(types))]].to_numpy()
    return res.summary["ric_signal_10d"], W[len(W) // 2:, informative].sum(1).mean()


def test_cmaes_moves_weight_toward_the_informative_types():
    """Synthetic market where only the VALUE modality predicts returns: the 4 of 8 types that see it."""
    types = build_types(8, 8)
    informative = np.array([Modality.VALUE in t.modalities for t in types])
    assert informative.sum() == 4
    for seed in (0, 2):
        cfg = SyntheticConfig(n_days=90, n_symbols=30, strength={"ohlcv": 0, "industry": 0, "value": 2.0, "macro": 0})
        panel = synthetic_market(cfg, seed=seed)[0]
        _, share = _mean_signal_ic(panel, types, principals.make("cmaes"),
                                   lambda env, s: scripted_followers(env, seed=s), seed, informative)
        assert share > 0.8  # uniform weights give 0.5


class _DisagreementFollower:
    """Ground truth by construction: an informative type's agents get a weak view of the stock's
    10-day forward return and *disagree more on the stocks that will do worse* (the disagreement
    hypothesis); a noise type's agents emit noise. (The follower reads the future return: it is the
    data-generating process. Leaders only ever see realised returns through the scoring window.)"""

    def __init__(self, itype, fwd, informative, seed):
        self.t, self.fwd, self.informative, self.seed = itype, fwd, informative, seed

    def reset(self, seed=None):
        self.seed = self.seed if seed is None else seed

    def act(self, obs, info):
        day = int(info["day"])
        r = self.fwd[day]
        uni = np.asarray(obs["universe"]) > 0.5
        ok = np.isfinite(r) & uni
        z = np.zeros(r.size)
        if ok.sum() > 2:  # the last days have no 10-day return in the panel
            ranks = np.argsort(np.argsort(r[ok]))
            z[ok] = (ranks - ranks.mean()) / ranks.std()
        eps = np.random.default_rng([self.seed, self.t.type_id, day]).standard_normal((self.t.n_agents, r.size))
        x = np.tanh(0.03 * z + 0.5 * np.exp(-0.1 * z) * eps) if self.informative else np.tanh(0.8 * eps)
        x[:, ~uni] = np.nan
        return x.astype(np.float32)


def test_sa_with_mass_settings_and_cmaes_beat_random_weights_at_8_types(small_market):
    types = build_types(8, 4)
    informative = np.array([k % 2 == 0 for k in range(8)])

    def followers(env, seed):
        fwd = env.game.returns.get(ReturnSpec(10, 1))
        return {f"investor_{t.type_id}": _DisagreementFollower(t, fwd, informative[t.type_id], seed) for t in types}

    got: dict[str, list[float]] = {"sa": [], "cmaes": [], "random": []}
    shares: dict[str, list[float]] = {"sa": [], "cmaes": []}
    for seed in range(3):
        panel = synthetic_market(SyntheticConfig(n_days=90, n_symbols=30, n_industries=5), seed=seed)[0]
        for name in ("sa", "cmaes"):  # MASS's SA exactly: disagreement fitness, alpha 0.5, 20 iterations
            ic, share = _mean_signal_ic(panel, types, principals.make(name), followers, seed, informative)
            got[name].append(ic)
            shares[name].append(share)
        for draw in range(3):
            env = MassStackelbergEnv(panel, types, GameConfig())
            res = run_episode(env, principals.make("random"), followers(env, seed), seed=100 * seed + draw)
            got["random"].append(res.summary["ric_signal_10d"])
    rand = float(np.mean(got["random"]))
    assert np.mean(got["sa"]) > rand + 0.05
    assert np.mean(got["cmaes"]) > rand + 0.05
    assert min(shares["sa"]) > 0.6 and min(shares["cmaes"]) > 0.6
