"""The paper's conditions (``experiments.paper.fidelity``): each knob does what MASS or the paper's engine did,
presets and flags fail clearly, and the clean preset leaves a sweep as it was."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import pytest
from repo_paths import SHARED_DATA

from experiments.cli import build_parser
from experiments.paper.fidelity import (
    PRESETS,
    Fidelity,
    config_under,
    episode_window,
    fidelity_from,
    fidelity_from_args,
    market_options,
    types_for,
)
from experiments.sweep.configs import CONFIGS
from experiments.sweep.spec import SweepSpec
from mass_env import scripted_followers
from mass_env.data.modalities import MASS_PV_FEATURES, Modality
from mass_env.data.returns import ReturnSpec, forward_returns
from mass_env.data.synthetic import SyntheticConfig, synthetic_market
from mass_env.env import MassStackelbergEnv
from mass_env.errors import DataError
from mass_env.game.aggregation import aggregate, type_moments
from mass_env.game.investors import build_types, mass_masks, mass_types, with_macro
from mass_env.scripted import VALUE_ANONYMISED
from principals.blackbox import Objective, SearchSpace
from principals.cmaes import CMAES

DATA = SHARED_DATA


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(SyntheticConfig(n_days=120), seed=0)[0]


# ---------------------------------------------------------------------------------------- options
def test_presets_and_clear_errors():
    assert PRESETS["clean"] == Fidelity() and Fidelity().is_clean
    paper = PRESETS["paper"]
    assert set(paper.differences(Fidelity())) == set(Fidelity.names())  # paper differs in every field
    assert fidelity_from("paper", signals="continuous").describe() == "paper with signals=continuous"
    with pytest.raises(ValueError, match="unknown fidelity preset 'papr'; choose from clean, paper"):
        fidelity_from("papr")
    with pytest.raises(ValueError, match="unknown fidelity option.*signal;"):
        fidelity_from(signal="mass_picks")
    with pytest.raises(ValueError, match="signals='picks' is not valid; choose from continuous, mass_picks"):
        Fidelity(signals="picks")
    with pytest.raises(ValueError, match="eval_start 2023-06-01 is after eval_end"):
        Fidelity(eval_start="2023-06-01", eval_end="2023-01-01")


def test_cli_flags_and_a_flag_contradicting_an_explicit_preset():
    parse = build_parser().parse_args
    assert fidelity_from_args(parse(["ablation"])) == Fidelity()
    assert fidelity_from_args(parse(["ablation", "--preset", "paper"])) == PRESETS["paper"]
    got = fidelity_from_args(parse(["ablation", "--aggregation", "selection_rate", "--eval-start", "2023-01-03"]))
    assert got == Fidelity(aggregation="selection_rate", eval_start="2023-01-03")
    with pytest.raises(ValueError, match="--cmaes clean .preset paper: engine. contradict"):
        fidelity_from_args(parse(["ablation", "--preset", "paper", "--cmaes", "clean"]))
    over = fidelity_from_args(parse(["ablation", "--preset", "paper", "--cmaes", "clean", "--override"]))
    assert over.differences(PRESETS["paper"]) == {"cmaes": ("clean", "engine")}
    with pytest.raises(SystemExit):
        parse(["ablation", "--signals", "nope"])
    assert isinstance(parse(["ablation"]), argparse.Namespace)


def test_clean_conditions_leave_the_spec_as_it_was():
    spec = SweepSpec.default(["A", "C", "D"], baselines=("equal",))
    assert replace(spec, fidelity=Fidelity()) == spec
    assert replace(spec, fidelity=Fidelity()).as_dict()["fidelity"] == Fidelity().as_dict()


def test_the_conditions_enter_through_the_spec_field_alone():
    paper = fidelity_from("paper")
    built = SweepSpec.build(["C", "D"], baselines=(), fidelity=paper)
    assert built == replace(SweepSpec.default(["C", "D"], baselines=()), fidelity=paper)  # idempotent
    assert built.configs[0].options["learn_alpha"] is False  # SA's learned alpha ignored (C == B)
    assert built.configs[1].options["recommend"] == "best" and built.follower_options["output"] == "select"


def test_engine_leader_options():
    d = config_under(CONFIGS["D"], PRESETS["paper"])
    assert {k: d.options[k] for k in ("encoding", "recommend", "alpha_start", "turnover_weights")} == {
        "encoding": "positive", "recommend": "best", "alpha_start": "reset", "turnover_weights": "raw"}
    c = config_under(CONFIGS["C"], Fidelity(sa_alpha="engine"))  # the engine ignored SA's alpha: C == B
    assert dict(c.options) == dict(CONFIGS["B"].options) and c.alpha == "0.5 fixed"
    assert config_under(CONFIGS["A"], PRESETS["paper"]) is CONFIGS["A"]


# ---------------------------------------------------------------------------------------- followers
def test_mass_picks_draw_twenty_with_replacement_and_pick_five(panel):
    env = MassStackelbergEnv(panel, build_types(2, 50))
    obs, infos = env.reset(seed=0)
    pol = scripted_followers(env, seed=3, output="select", draw="replacement")["investor_0"]
    sig = pol.act(obs["investor_0"], infos["investor_0"])
    n_uni = int(obs["investor_0"]["universe"].sum())
    seen = np.isfinite(sig).sum(1)
    expected = n_uni * (1 - (1 - 1 / n_uni) ** 20)  # distinct stocks among 20 draws with replacement
    assert seen.max() <= 20 and seen.min() < 20 and abs(seen.mean() - expected) < 1.0
    assert (np.nansum(sig, 1) == 5).all() and set(np.unique(sig[np.isfinite(sig)])) == {0.0, 1.0}
    distinct = scripted_followers(env, seed=3)["investor_0"].act(obs["investor_0"], infos["investor_0"])
    assert (np.isfinite(distinct).sum(1) == 20).all()


def test_selection_rate_counts_unseen_as_zero():
    # type 0: both agents saw stock 0 and picked it; type 1 never saw stock 0; stock 1 nobody saw
    x = np.array([[1.0, np.nan], [1.0, np.nan], [np.nan, np.nan], [np.nan, np.nan]])
    mom = type_moments(x, np.array([0, 0, 1, 1]), 2)
    rate = aggregate(mom, np.ones(2), 0.5, "selection_rate")
    assert rate.consensus[0] == pytest.approx(0.5) and rate.disagreement[0] == pytest.approx(0.5)
    assert np.isnan(rate.signal[1])
    for rule in ("agent", "mass"):  # unseen = missing: only type 0 counts
        other = aggregate(mom, np.ones(2), 0.5, rule)
        assert other.consensus[0] == 1.0 and other.disagreement[0] == 0.0


# ---------------------------------------------------------------------------------------- types
def test_mass_merge_reproduces_the_engine_draws():
    masks = mass_masks(8, 0)
    types = mass_types(8, 8, 0)
    assert len(types) == len(set(masks)) == 5 and sum(t.n_agents for t in types) == 64
    by_mask = {t.modalities: t.n_agents for t in types}
    assert by_mask[Modality.OHLCV | Modality.VALUE] == 24  # BASE+PRICE x3 (shared/design/mass.md 7.3)
    big = mass_types(32, 16, 0)
    assert len(big) == 7 and sum(t.n_agents for t in big) == 512
    assert max(t.n_agents for t in big) == 176
    assert [len(set(mass_masks(8, s))) for s in (11, 22)] == [5, 5]
    assert all(Modality.MACRO in t.modalities for t in with_macro(types))
    paper = types_for(CONFIGS["A-512"], PRESETS["paper"], 0)
    assert len(paper) == 7 and all(Modality.MACRO in t.modalities for t in paper)
    assert types_for(CONFIGS["A"], Fidelity(), 0) == build_types(8, 8)
    described = types_for(CONFIGS["A-512"], Fidelity(types="mass_drawn"), 0)  # the paper's 32 x 16, unmerged
    assert len(described) == 32 and {t.n_agents for t in described} == {16}
    assert [t.modalities for t in described] == mass_masks(32, 0)


# ---------------------------------------------------------------------------------------- data
def test_anonymised_value_features_and_their_prompt_signs(panel):
    rng = np.random.default_rng(0)
    pv = {k: rng.standard_normal((panel.n_days, panel.n_symbols)) for k in MASS_PV_FEATURES}
    anon = replace(panel, valuation=pv)
    types = build_types(8, 2)
    env = MassStackelbergEnv(anon, types)
    value_type = next(t for t in types if t.modalities == Modality.OHLCV | Modality.VALUE)
    names = env.feature_names[f"investor_{value_type.type_id}"]
    assert names[-6:] == MASS_PV_FEATURES and "bp" not in names
    pol = scripted_followers(env, seed=0)[f"investor_{value_type.type_id}"]
    feats = np.zeros((anon.n_symbols, len(names)))
    feats[0, names.index("pv_3")] = 1.0  # "positively correlated" in MASS's prompt
    feats[1, names.index("pv_1")] = 1.0  # "negatively"
    view = pol.view(feats)
    assert view[0] == pytest.approx(VALUE_ANONYMISED["pv_3"])
    assert view[0] > 0 > view[1]
    from agents.llm.prompts.templates import PV_TEXT, DayBrief  # LLM investors are shown them with MASS's sign hints

    brief = DayBrief.build(anon, 40)
    assert PV_TEXT in brief.type_text(value_type) and "Valuation" not in brief.item_text(value_type, 0)
    assert f"{pv['pv_0'][40, 0]:.2f}" in brief.item_text(value_type, 0)


def test_vendor_labels_replace_close_to_close_returns(panel):
    lab = np.full((panel.n_days, panel.n_symbols), 0.01)
    labelled = replace(panel, labels={1: lab, 5: lab * 5, 10: lab * 10})
    np.testing.assert_array_equal(forward_returns(labelled, ReturnSpec(5, 1)), lab * 5)
    assert not np.allclose(forward_returns(panel, ReturnSpec(5, 1))[:50], 0.05)
    with pytest.raises(DataError, match="labels are T\\+1 returns"):
        forward_returns(labelled, ReturnSpec(5, 0))
    with pytest.raises(DataError, match="labels for horizons \\[1, 5, 10\\], not 3"):
        forward_returns(labelled, ReturnSpec(3, 1))


def test_episode_window_and_its_errors(panel):
    fid = Fidelity(eval_start="2023-04-01", eval_end="2023-04-28")  # a Saturday: the next trading day
    win = episode_window(panel, fid, 21)
    assert panel.dates[win["start"] + 21] == np.datetime64("2023-04-03")
    assert panel.dates[win["end"]] == np.datetime64("2023-04-28")
    assert episode_window(panel, Fidelity(), 21) is None
    with pytest.raises(ValueError, match="needs 82 trading days of data before it for warm features"):
        episode_window(panel, Fidelity(eval_start="2023-01-03"), 21)
    with pytest.raises(ValueError, match="eval_end 2024-01-01 is outside the decision days"):
        episode_window(panel, Fidelity(eval_end="2024-01-01"), 21)
    with pytest.raises(ValueError, match="after the last decision day"):
        episode_window(panel, Fidelity(eval_start="2024-01-01"), 21)


@pytest.mark.skipif(not (DATA / "mass" / "ih_label.parq").exists(), reason="shared data absent")
def test_paper_window_on_the_shared_sse50_data_has_109_warm_days():
    from mass_env.data.datasets import load_dataset

    opts = market_options(PRESETS["paper"])
    panel = load_dataset("sse50", DATA, **opts)
    win = episode_window(panel, PRESETS["paper"], 21)
    assert win["end"] - (win["start"] + 21) + 1 == 109 and win["start"] >= 61
    assert sorted(panel.valuation) == list(MASS_PV_FEATURES) and sorted(panel.labels) == [1, 5, 10]
    uni = panel.universe[win["start"]:win["end"] + 1]
    assert np.isfinite(panel.labels[10][win["start"]:win["end"] + 1][uni]).mean() > 0.99


# ---------------------------------------------------------------------------------------- leaders
def test_engine_cmaes_returns_the_best_sample_of_raw_bounded_weights():
    space = SearchSpace(4, learn_alpha=True, encoding="positive")
    opt = CMAES(encoding="positive", recommend="best", evals=40)
    opt.start(space.encode(np.ones(4), 0.5), space, np.random.default_rng(0))
    seen, fits = [], []
    target = np.array([3.0, 0.2, 1e-3, 1.0])
    while not opt.stop():
        X = opt.ask()
        f = -np.abs(X[:, :4] - target).sum(1)
        seen.append(X)
        fits.append(f)
        opt.tell(X, f)
    X, f = np.vstack(seen), np.concatenate(fits)
    assert (X[:, :4] >= 1e-6).all() and ((X[:, 4] >= 0) & (X[:, 4] <= 1)).all()
    np.testing.assert_array_equal(opt.recommend(), X[np.argmax(f)])
    with pytest.raises(ValueError, match="encoding must be 'logits'"):
        CMAES(encoding="simplex")


class _Window:
    """A scoring window whose fitness is a fixed value per candidate (the turnover is what is tested)."""

    calls = 0

    def fitness(self, w, a, **kw):
        return np.zeros(w.shape[0])


def test_raw_turnover_is_charged_on_unnormalised_weights():
    space = SearchSpace(2, encoding="positive")
    obj = Objective(_Window(), space, turnover_penalty=0.5, raw_previous=np.array([1.0, 1.0]))  # type: ignore[arg-type]
    # [2, 2] is the same distribution as [1, 1] (no normalised turnover) but moves the raw weights by 2
    np.testing.assert_allclose(obj(np.array([[2.0, 2.0], [1.0, 1.0]])), [-0.5, 0.0])


def test_engine_alpha_restarts_at_its_initial_value_every_day():
    import principals

    leader = principals.make("cmaes", alpha_start="reset", encoding="positive")
    leader.reset(3, seed=0)
    leader._x = np.array([1.0, 2.0, 3.0, 0.9])  # yesterday's answer, alpha 0.9

    class Start:
        encoding = "positive"

        def start(self, x0, space, rng):
            self.x0 = x0

        def ask(self):
            return self.x0[None]

        def tell(self, X, f):
            self.done = True

        def stop(self):
            return getattr(self, "done", False)

        def recommend(self):
            return self.x0

    leader.optimizer = Start()
    leader.search(_Window())  # type: ignore[arg-type]
    np.testing.assert_array_equal(leader.optimizer.x0, [1.0, 2.0, 3.0, 0.5])
