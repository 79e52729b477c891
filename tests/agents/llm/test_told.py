"""LLM followers told the payment rule: what each agent is shown, the views recorded beside the reports,
and a replay from the response cache that asks nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from llm_play import Herder, Recording

from agents.llm.backends.base import ScriptedBackend
from agents.llm.cache.branches import CacheMissError
from agents.llm.prompts.templates import TEMPLATE_VERSION
from agents.llm.prompts.told import RULE_TEXTS, TOLD_VERSION, consensus_phrases, rule_statement, told_segment
from agents.llm.told import told_followers
from mass_env import GameConfig, MassStackelbergEnv, SyntheticConfig, build_types, rollout, synthetic_market
from mass_env.incentives import PAYMENT_RULES
from mass_env.incentives.ingame import mean_type_pay
from principals.baselines import EqualWeights

START, END = 20, 25


@pytest.fixture(scope="module")
def panel():
    return synthetic_market(SyntheticConfig(n_days=40, n_symbols=20), seed=0)[0]


def play(panel, rule, backend, seed=0, **kw):
    env = MassStackelbergEnv(panel, build_types(2, 2), GameConfig(horizon=1, follower_reward=rule))
    followers = told_followers(env, backend, seed=seed, n_candidates=8, **kw)
    rollout(env, EqualWeights(), followers, seed=seed, options={"start": START, "end": END})
    return env, followers


def test_every_rule_has_a_statement_and_consensus_states_its_share():
    for name in PAYMENT_RULES:
        shown, text = rule_statement(name)
        assert shown.startswith(name) and text.endswith(".")
    assert set(RULE_TEXTS) <= set(PAYMENT_RULES)
    assert "40% of your pay" in rule_statement("consensus:r=0.6")[1]
    assert "60% is minus" in rule_statement("consensus:r=0.6")[1]
    seg = told_segment("skill", [0.1234, -0.05], True)
    assert "rule skill:" in seg and "+0.12, -0.05" in seg and "yesterday's consensus" in seg
    assert "not been paid yet" in told_segment("skill", [], False)
    shown = [" Yesterday's consensus rating 3.4.", " Yesterday's consensus rating none.",
             " Yesterday's consensus rating 1.0."]
    assert consensus_phrases(np.array([0.2, np.nan, -2.0])) == shown


def test_report_prompt_shows_rule_pay_and_yesterdays_consensus_view_prompt_shows_neither(panel):
    rec = Recording()
    env, followers = play(panel, "consensus:r=0.6", rec)
    days = sorted({r.day for r in rec.seen})
    assert days == list(range(START, END + 1))
    last = [r for r in rec.seen if r.day == END]
    reports, views = [r for r in last if not r.agent.endswith(":view")], [r for r in last if r.agent.endswith(":view")]
    assert len(reports) == len(views) == 4 and {r.template for r in last} == {TOLD_VERSION}
    assert "rule consensus:r=0.6" in reports[0].segments[1] and "pay on the last 3 paid days" in reports[0].segments[1]
    assert "rule proper:" in views[0].segments[1] and "pay" not in views[0].segments[1].split("rule proper")[0]
    assert "paid days" not in views[0].segments[1] and "consensus" not in views[0].segments[1]
    # the consensus shown on day END is the one published at the close of END - 1 (point in time)
    published = env.game.records[END - 1 - START].consensus
    sym = {s: i for i, s in enumerate(panel.symbols)}
    for it in reports[0].items:
        want = consensus_phrases(published[[sym[it.symbol]]])[0]
        assert it.text.endswith(want)
    assert all("consensus" not in it.text for it in views[0].items)
    # the pay shown is what the game paid the type by the close of yesterday (payoff horizon 1, lag 1)
    first = [r for r in rec.seen if r.day == START and not r.agent.endswith(":view")][0]
    assert "not been paid yet" in first.segments[1]
    rule = env.game.config.payment_rule()
    paid = [x.paid for x in env.game.records if x.paid is not None and x.paid.paid_on < END][-3:]
    assert len(paid) == 3
    want = ", ".join(f"{mean_type_pay(env.game, rule, [p])[0]:+.2f}" for p in paid)
    assert f"oldest first: {want}." in reports[0].segments[1]


def test_plain_llm_prompts_are_untouched(panel):
    from agents.llm import llm_followers

    rec = Recording()
    env = MassStackelbergEnv(panel, build_types(2, 2), GameConfig(horizon=1))
    rollout(env, EqualWeights(), llm_followers(env, rec, seed=0, n_candidates=8), seed=0,
            options={"start": START, "end": START + 1})
    assert {r.template for r in rec.seen} == {TEMPLATE_VERSION}
    assert not any("paid" in "".join(r.segments) or "consensus" in r.items[0].text for r in rec.seen)


def test_views_are_recorded_beside_reports_and_the_rule_moves_reports(panel):
    env, followers = play(panel, "consensus:r=0.6", Herder())
    log = env.game.report_log
    assert not log.truthful and log.misreport()[1:].min() > 0  # day one has no consensus to herd toward
    assert log.misreport()[0] == 0
    env0, _ = play(panel, "proper", Herder())
    assert env0.game.report_log.truthful  # told proper: nothing moves the fake toward the consensus
    views = followers["investor_0"].last_views
    assert views is not None and views.shape == (2, panel.n_symbols)
    np.testing.assert_array_equal(env0.game.report_log.views()[-1], env.game.report_log.views()[-1])
    assert followers.report()["by_status"]["ok"] == 2 * 4 * (END - START + 1)  # a report and a view per agent-day


def test_scripted_backend_reports_its_view(panel):
    env, _ = play(panel, "skill", ScriptedBackend())
    assert env.game.report_log.truthful


def test_replay_from_the_cache_asks_nothing_and_views_are_shared_by_rules(panel, tmp_path):
    cache = tmp_path / "c.sqlite"
    live, _ = play(panel, "consensus:r=0.6", Herder(), cache=cache)
    rec = Recording(Herder())
    other, fol = play(panel, "proper", rec, cache=cache)
    asked_views = [r for r in rec.seen if r.agent.endswith(":view")]
    assert not asked_views and rec.seen  # the views (rule-free) came from the cache, the reports were asked
    rec2 = Recording(Herder())
    again, fol2 = play(panel, "consensus:r=0.6", rec2, cache=cache, cache_mode="replay")
    assert rec2.seen == [] and fol2.backend.cache_stats.misses == 0
    np.testing.assert_array_equal(again.game.report_log.reports(), live.game.report_log.reports())
    np.testing.assert_array_equal(again.game.report_log.views(), live.game.report_log.views())
    with pytest.raises(CacheMissError):
        play(panel, "consensus:r=0.3", Herder(), cache=cache, cache_mode="replay")  # another rule: other prompts


def test_bad_options_are_refused(panel):
    env = MassStackelbergEnv(panel, build_types(2, 2))
    with pytest.raises(ValueError, match="pay_days"):
        told_followers(env, "scripted", pay_days=-1)


def test_a_served_model_is_told_the_same_and_replays_from_the_cache(panel, fault_server, monkeypatch, tmp_path):
    pytest.importorskip("openai")
    from llm_fault_client import fault_backend

    srv = fault_server()
    cache = tmp_path / "served.sqlite"
    env, followers = play(panel, "consensus:r=0.6", fault_backend(srv, monkeypatch, timeout=30), cache=cache,
                          anonymize=True)
    assert followers.report()["by_status"]["ok"] == 2 * 4 * (END - START + 1)
    asked = [json.dumps(r["body"]["messages"]) for r in srv.requests]
    assert any("rule consensus:r=0.6" in a and "consensus rating" in a for a in asked)
    assert any("rule proper:" in a and "consensus rating" not in a for a in asked)
    n = len(srv.requests)
    again, _ = play(panel, "consensus:r=0.6", fault_backend(srv, monkeypatch, timeout=30), cache=cache,
                    cache_mode="replay", anonymize=True)
    assert len(srv.requests) == n  # nothing sent
    np.testing.assert_array_equal(again.game.report_log.reports(), env.game.report_log.reports())


def play_population(panel, backend, seed=0, end=END, **options):
    """The ``llm`` population of a sweep (``agents.populations``) in a game paid by ``skill``."""
    from agents.populations import make_followers

    env = MassStackelbergEnv(panel, build_types(2, 2), GameConfig(horizon=1))
    followers = make_followers("llm", env, seed, backend=backend, n_candidates=8, **options)
    rollout(env, EqualWeights(), followers, seed=seed, options={"start": START, "end": end})
    return env, followers


def test_the_game_population_is_told_its_rule_pay_and_consensus(panel):
    from mass_env.incentives import make_rule

    rec = Recording()
    env, followers = play_population(panel, rec, told="weighted_skill", pay_days=2)
    last = [r for r in rec.seen if r.day == END and not r.agent.endswith(":view")]
    seg = last[0].segments[1]
    assert "rule weighted_skill:" in seg and "multiplied by the weight" in seg and "rule skill:" not in seg
    paid = [x.paid for x in env.game.records if x.paid is not None and x.paid.paid_on < END][-2:]
    want = ", ".join(f"{mean_type_pay(env.game, make_rule('weighted_skill'), [p])[0]:+.2f}" for p in paid)
    assert f"pay on the last 2 paid days, oldest first: {want}." in seg  # the rule told, not the game's skill
    assert all("Yesterday's consensus rating" in it.text for it in last[0].items)
    assert len([r for r in rec.seen if r.day == END and r.agent.endswith(":view")]) == 4
    days = env.game.report_log.days
    assert list(days) == list(range(START, END + 1)) and followers.report()["told"]["days"] == list(days)


def test_view_control_reports_the_told_followers_views(panel):
    rec = Recording(Herder())
    told, fol = play_population(panel, Herder(), told="consensus:r=0.6")
    view, vfol = play_population(panel, rec, told="view")
    assert {r.agent.endswith(":view") for r in rec.seen} == {True}  # one request per agent-day: the view
    assert view.game.report_log.truthful and not told.game.report_log.truthful
    np.testing.assert_array_equal(view.game.report_log.reports(), told.game.report_log.views())
    moved, still = fol.report()["told"], vfol.report()["told"]
    assert np.isnan(moved["toward"][0])  # no consensus on the first day
    assert min(moved["toward"][1:]) > 0 and min(moved["shift"][1:]) > 0  # the herder moves toward it
    np.testing.assert_allclose(moved["shift"], told.game.history()["misreport"], rtol=1e-5)
    assert max(still["shift"]) == 0 and np.nanmax(np.abs(still["toward"])) == 0


def test_consensus_moves_per_cell():
    from agents.llm.told import consensus_moves

    gap, toward = consensus_moves([[0.5, np.nan, -0.2]], [[0.1, 0.3, 0.2]], [0.4, 0.0, np.nan])
    np.testing.assert_allclose(gap, [[0.4, np.nan, 0.4]])
    np.testing.assert_allclose(toward, [[0.4, np.nan, np.nan]])  # moved 0.4 toward a consensus above the view
    assert np.isnan(consensus_moves([[1.0]], [[0.0]], None)[1]).all()
