"""``principals.anticipating``: the leader that scores the followers' response to each candidate commitment."""

import numpy as np
import pytest
from env_play import make_env

import principals
from agents.hedge import hedge_population
from experiments.cli import main
from experiments.sweep.principal_specs import principal_configs
from mass_env.errors import MassError
from mass_env.game.metrics import RankICScorer
from mass_env.game.scoring import ScoringWindow, ViewWindow
from mass_env.game.stackelberg import GameConfig
from mass_env.incentives.game_response import StrategyResponse, zscore_rows
from mass_env.incentives.learning import StrategyLibrary
from mass_env.rollout import rollout
from mass_env.scripted import scripted_followers
from mass_env.testing import check_principal
from mass_env.testing.lookahead import perturb_after
from principals.anticipating import AnticipatingPrincipal, ResponseObjective
from principals.blackbox import Objective, SearchSpace
from principals.cmaes import CMAES

SHADE_FULLY = StrategyLibrary(np.array([[0.0, 1.0, 0.0, 1.0, 0.0]]))  # report = yesterday's consensus


def _actions(principal, env, followers, seed=1, end=None):
    days, acts = [], []
    act = principal.act

    def record(ctx):
        a = act(ctx)
        days.append(ctx.day)
        acts.append(np.r_[a.normalised, a.alpha, a.inertia])
        return a

    principal.act = record
    rollout(env, principal, followers, seed=seed, options={} if end is None else {"end": end})
    return dict(zip(days, acts))


def _anticipating(library=None, rule="weighted_skill", name="anticipating", **window):
    response = StrategyResponse(library or StrategyLibrary.standard(), rule)
    return AnticipatingPrincipal(CMAES(evals=10), response=response, name=name,
                                 **{"component": "signal", "learn_alpha": True, **window})


def test_with_truthful_followers_it_decides_as_its_myopic_twin(small_market):
    env = make_env(small_market[0], horizon=2)
    twin = _actions(principals.make("cmaes", evals=10), env, scripted_followers(env, seed=1), end=55)
    mine = _actions(_anticipating(StrategyLibrary.standard((), (), ())), env,
                    scripted_followers(env, seed=1), end=55)
    assert len(mine) > 30 and mine.keys() == twin.keys()
    assert all(np.array_equal(mine[d], twin[d]) for d in twin)
    moved = [d for d in twin if not np.allclose(twin[d][:-2], twin[min(twin)][:-2])]
    assert moved  # the twin really searched (the identity is not a leader that never moves)


def _window(rng, n_days=6, n_types=2, per_type=3, n_stocks=12, truth=False):
    views = rng.uniform(-1, 1, (n_days, n_types * per_type, n_stocks))
    agent_type = np.repeat(np.arange(n_types), per_type)
    anchors = rng.uniform(-1, 1, (n_days, n_stocks))
    returns = anchors + 0.3 * rng.normal(size=anchors.shape)  # yesterday's consensus predicts the return
    if truth:  # every agent's view is the z-scored return: the most accurate report there is
        views[:] = zscore_rows(returns)[:, None, :]
        returns = 0.01 * views[:, 0]
    from mass_env.game.aggregation import type_moments

    moments = np.stack([type_moments(v, agent_type, n_types).stack() for v in views])
    reports = ScoringWindow(np.arange(n_days), moments, returns)
    return ViewWindow(reports, views, agent_type, anchors, moments)


def test_a_model_that_shades_fully_is_anticipated_not_the_truthful_reports(rng):
    vw = _window(rng)
    space = SearchSpace(2, True, 0.5, "logits")
    X = rng.normal(size=(7, 3)) * [1, 1, 0] + [0, 0, 0.7]
    herd = ResponseObjective(vw.reports, space, "signal", views=vw, response=StrategyResponse(SHADE_FULLY))
    myopic = Objective(vw.reports, space, "signal")
    # every agent reports the anchor: no disagreement, the aggregate is alpha x the anchor
    expected = np.nanmean(RankICScorer(vw.reports.returns)(vw.anchors[None])[0])
    assert np.allclose(herd(X), expected, atol=1e-12)
    assert not np.allclose(myopic(X), expected, atol=1e-3)
    assert (herd.picked == 0).all()


def test_best_response_herds_when_the_rule_pays_for_agreement(rng):
    vw = _window(rng)
    vw.anchors[:] = vw.views.mean(1)  # the consensus the followers saw is today's mean view
    library = StrategyLibrary.standard((1.0,), (), ())  # truthful or report the anchor
    plan = StrategyResponse(library, "consensus:r=1").prepare(vw)
    w = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert (StrategyResponse(library, "consensus:r=1").picks(plan, w) == 1).all()
    accurate = _window(rng, truth=True)
    plan = StrategyResponse(library, "proper").prepare(accurate)
    assert (StrategyResponse(library, "proper").picks(plan, w) == 0).all()  # accuracy pays: the view


def test_choose_rule_picks_from_the_menu(rng):
    vw = _window(rng)
    p = _anticipating()
    p.reset(2, seed=0)
    choice = p.choose_rule(vw, ["weighted_skill", "proper", "consensus:r=0.5"])
    assert choice.rule in choice.values and set(choice.values) == {"weighted_skill", "proper", "consensus:r=0.5"}
    assert choice.values[choice.rule] == max(choice.values.values())
    same = p.choose_rule(vw, ["skill", "weighted_skill"])  # the same response (positive weights): the same value
    assert same.values["skill"] == same.values["weighted_skill"] and same.rule == "skill"
    with pytest.raises(MassError, match="menu"):
        p.choose_rule(vw, [])
    with pytest.raises(MassError, match="valid rules: consensus"):
        p.choose_rule(vw, ["weighted_skill", "majority"])


class _Leaky(AnticipatingPrincipal):
    """Fits on days whose return has not realised yet: the perturbation test must catch it."""

    def fit_window(self, ctx):
        game = next(c.cell_contents for c in ctx.views.__closure__ if hasattr(c.cell_contents, "view_window"))
        return game.view_window(self.lookback, horizon=self.fitness_horizon, asof=ctx.day + 6)


@pytest.mark.parametrize("leaky", [False, True])
def test_no_lookahead_with_hedge_followers(small_market, leaky):
    cut = 45
    runs = []
    for panel in (small_market[0], perturb_after(small_market[0], cut, seed=cut)):
        env = make_env(panel, horizon=2)
        p = _anticipating()
        if leaky:
            p.__class__ = _Leaky
        runs.append(_actions(p, env, hedge_population(env, 1, eta=20.0)))
    a, b = runs
    same = all(np.array_equal(a[d], b[d]) for d in a if d <= cut)
    assert same != leaky
    assert any(not np.array_equal(a[d], b[d]) for d in a if d > cut + 8)  # the future did move later decisions


def test_conformance_and_missing_views(small_market):
    check_principal(lambda: principals.make("anticipating", evals=10), n_types=3)
    env = make_env(small_market[0], horizon=2)
    env.game.record_reports = False
    with pytest.raises(MassError, match="record_reports"):
        rollout(env, principals.make("anticipating"), scripted_followers(env, seed=0), seed=0)


def test_bad_options_name_the_valid_ones():
    with pytest.raises(MassError, match=r"unknown option.*valid: .*'rule'"):
        principals.make("anticipating", menu="x")
    with pytest.raises(MassError, match="valid rules: consensus"):
        principals.make("anticipating", rule="majority")
    with pytest.raises(MassError, match="one of standard, truthful"):
        principals.make("anticipating", library="all")
    with pytest.raises(MassError, match="separated by '/'"):
        principals.make("anticipating", shade="a/b")
    with pytest.raises(MassError, match="score"):
        principals.make("anticipating", rule="proper:score=log")
    with pytest.raises(MassError, match="whole number"):
        principal_configs(["anticipating:rounds=1.5"], [(8, 8)])


def test_runs_in_ablation_next_to_the_configs(tmp_path, capsys):
    out = tmp_path / "abl"
    argv = ["ablation", "--configs", "A", "--seeds", "0,", "--days", "70", "--baselines", "none", "--boot", "0",
            "--no-plot", "--followers", "hedge", "--principal", "anticipating:rule=weighted_skill,evals=10",
            "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "ANTICIPATING-ruleweighted_skill-evals10" in text and "CMA-ES+BR" in text
    assert GameConfig().follower_reward == "skill"  # the game's own pay is untouched by the leader
