"""``agents.hedge``: Hedge followers in the game (scripted views, reports learned against the payment rule)."""

import json

import numpy as np
import pandas as pd
import pytest
from env_play import make_env

from agents.hedge import HedgeLearner, hedge_population
from agents.populations import parse_population
from experiments.cli import main
from mass_env.testing import check_no_lookahead
from mass_env.testing.lookahead import first_divergence_signals, follower_signals


def _ablation(tmp_path, name, followers):
    out = tmp_path / name
    argv = ["ablation", "--configs", "A", "--seeds", "0,", "--days", "70", "--baselines", "equal", "--boot", "0",
            "--no-plot", "--followers", followers, "--out", str(out)]
    return main(argv), out, argv


def test_hedge_population_runs_in_ablation_records_misreports_and_resumes(tmp_path, capsys):
    rc, out, argv = _ablation(tmp_path, "hedge", "hedge:eta=5")
    assert rc == 0
    daily = pd.read_parquet(out / "daily.parquet")
    assert daily.loc[daily["config"] == "A", "misreport"].mean() > 0.01  # the shading is recorded
    meta = json.loads((out / "runs" / "A__seed0.json").read_text())["followers"]
    assert meta["population"] == "hedge" and meta["strategies"][0] == "truthful" and meta["days_learned"] > 10
    w = np.array(meta["final_weights"])
    assert w.shape == (8, len(meta["strategies"])) and np.allclose(w.sum(1), 1.0) and w.max() > 0.5
    out_text = capsys.readouterr().out
    assert "hedge followers per config" in out_text and "  A        misreport 0." in out_text
    assert main(argv) == 0 and "0 run(s) computed, 2 reused" in capsys.readouterr().out


def test_truthful_library_reproduces_the_scripted_run_exactly(tmp_path):
    assert _ablation(tmp_path, "scripted", "scripted")[0] == 0
    assert _ablation(tmp_path, "truthful", "hedge:library=truthful")[0] == 0
    a, b = (pd.read_parquet(tmp_path / n / "daily.parquet") for n in ("scripted", "truthful"))
    cols = [c for c in a.columns if c.startswith(("ric_", "payoff", "turnover", "alpha"))]
    assert cols and a[cols].equals(b[cols])
    assert (b["misreport"].fillna(0) == 0).all()


class _Leaky(HedgeLearner):
    """Learns a day before the day's forward return has realised: the look-ahead check must catch it."""

    def learn(self, day):
        super().learn(day + 1)


@pytest.mark.parametrize("leaky", [False, True])
def test_no_lookahead_perturbing_the_future_leaves_todays_reports(small_market, monkeypatch, leaky):
    import agents.hedge as hedge

    if leaky:
        monkeypatch.setattr(hedge, "HedgeLearner", _Leaky)
    pops = []

    def followers(env):
        pops.append(hedge_population(env, 1, eta=20.0))
        return pops[-1]

    def env(panel):
        return make_env(panel, horizon=2)

    if leaky:
        with pytest.raises(AssertionError, match="look-ahead"):
            check_no_lookahead(env, small_market[0], 45, followers=followers, seed=1)
        return
    check_no_lookahead(env, small_market[0], 45, followers=followers, seed=1)
    learner = pops[0].learner
    assert learner.n_learned > 20 and learner.probabilities().max() > 0.5  # it learned before the cut


def test_batched_and_per_type_answers_agree_and_are_seeded(small_market):
    env = make_env(small_market[0])
    a = follower_signals(env, hedge_population(env, 3, eta=10.0), start=20, end=60, seed=3)
    b = follower_signals(env, dict(hedge_population(env, 3, eta=10.0)), start=20, end=60, seed=3)  # no act_many
    c = follower_signals(env, hedge_population(env, 4, eta=10.0), start=20, end=60, seed=4)
    assert first_divergence_signals(a, b) is None
    assert first_divergence_signals(a, c) is not None


@pytest.mark.parametrize("spec, valid", [
    ("hedge:etaa=1", "valid: eta, library, shade"), ("hedge:library=all", "one of standard, truthful"),
    ("hedge:rule=nope", "valid rules"), ("hedge:eta=-1", "a number >= 0"), ("hedge:shade=x", "numbers"),
    ("hedge:noise=x", "a number"),
    ("nope", "available: "), ("scripted:noise=1", "take no options"), ("hedge:eta", "key=value"),
])
def test_bad_follower_specs_name_what_is_valid(spec, valid, capsys):
    with pytest.raises(ValueError, match=valid):
        parse_population(spec)
    with pytest.raises(SystemExit):
        main(["ablation", "--followers", spec])
    assert valid.split(":")[0] in capsys.readouterr().err


def test_parse_population_normalises_options():
    name, opts = parse_population("hedge:eta=2,shade=0.5/0.9,rule=consensus:r=0.6")
    assert name == "hedge" and opts["eta"] == 2.0 and opts["shade"] == [0.5, 0.9] and opts["rule"] == "consensus:r=0.6"
    assert parse_population("scripted") == ("scripted", {})
