"""The ablation: the paper's configs, the hindsight oracle, paired bootstrap CIs, reproducible and
resumable sweeps, the ``mass ablation`` command, and the deprecated ``experiments.ablation`` paths."""

from __future__ import annotations

import importlib
import json
import pickle

import numpy as np
import pandas as pd
import pytest

import principals
from agents.scripted import scripted_followers
from experiments import sweep
from experiments.cli import main
from experiments.stats.oracle import hindsight_oracle
from experiments.stats.report import paired_bootstrap
from experiments.sweep.configs import CONFIGS, AblationConfig, baseline_for, describe, resolve
from experiments.sweep.fingerprint import run_sources
from experiments.sweep.run import run_ablation
from experiments.sweep.spec import SweepSpec
from experiments.sweep.workers import run_episode
from mass_env import GameConfig, MassStackelbergEnv, PrincipalAction, build_types


def test_configs_are_the_papers_table():
    rows = {n: (c.principal, c.options.get("component"), c.options.get("learn_alpha"), c.turnover_penalty,
                c.n_types, c.agents_per_type) for n, c in CONFIGS.items()}
    assert rows == {
        "A": ("sa", "disagreement", False, 0.0, 8, 8),
        "B": ("sa", "signal", False, 0.0, 8, 8),
        "C": ("sa", "signal", True, 0.0, 8, 8),
        "D": ("cmaes", "signal", True, 0.0, 8, 8),
        "F": ("cmaes", "signal", True, 0.01, 8, 8),
        "E": ("cmaes", "signal", True, 0.1, 8, 8),
        "E-512": ("cmaes", "signal", True, 0.1, 32, 16),
        "A-512": ("sa", "disagreement", False, 0.0, 32, 16),
    }
    for cfg in CONFIGS.values():  # the paper's lambda (mu) is a game rule the leader's fitness reads; inertia 0
        leader = principals.make(cfg.principal, **cfg.principal_options())
        rules = GameConfig(turnover_penalty=cfg.turnover_penalty)
        assert leader.window.penalty(rules) == cfg.turnover_penalty and leader.inertia == 0.0
        assert (leader.lookback, leader.fitness_horizon) == (5, 5)
    # the table's words are derived from the leader and its options, never typed
    words = {n: (c.fitness, c.alpha, c.optimizer) for n, c in CONFIGS.items()}
    assert words["A"] == ("disagreement", "0.5 fixed", "SA") and words["C"] == ("combined", "learned", "SA")
    assert words["E-512"] == ("combined", "learned", "CMA-ES")
    assert describe("sa", {"learn_alpha": True}) == ("disagreement", "learned", "SA")
    assert describe("cmaes", {"component": "consensus", "learn_alpha": False, "alpha": 0.3}) == \
        ("consensus", "0.3 fixed", "CMA-ES")
    assert [c.name for c in resolve("a,E-512")] == ["A", "E-512", "EQ", "EQ-512", "ORACLE", "ORACLE-512"]
    assert resolve("D", ("random",))[-1].principal == "random"
    with pytest.raises(ValueError, match="unknown config"):
        resolve("Z")


def test_paired_bootstrap():
    rng = np.random.default_rng(0)
    same = np.full((3, 50), 0.02)
    assert paired_bootstrap(same, rng=rng) == pytest.approx((0.02, 0.02, 0.02))
    noise = rng.normal(0, 0.1, (3, 200))
    pt, lo, hi = paired_bootstrap(noise, block=10, rng=np.random.default_rng(1))
    assert lo < pt < hi and lo < 0 < hi
    pt, lo, hi = paired_bootstrap(noise + 0.05, block=10, rng=np.random.default_rng(1))
    assert 0 < lo < pt < hi
    gappy = noise.copy()
    gappy[:, ::3] = np.nan
    assert np.isfinite(paired_bootstrap(gappy, rng=np.random.default_rng(1))).all()
    # repeated with the same generator seed: the same interval
    assert paired_bootstrap(noise, block=5, rng=np.random.default_rng(4)) == paired_bootstrap(
        noise, block=5, rng=np.random.default_rng(4))
    # seed-level variation widens the interval (seeds are resampled too)
    shifted = noise * 0.1 + np.array([[-0.05], [0.0], [0.05]])
    _, lo2, hi2 = paired_bootstrap(shifted, block=10, rng=np.random.default_rng(1))
    _, lo1, hi1 = paired_bootstrap(noise * 0.1, block=10, rng=np.random.default_rng(1))
    assert hi2 - lo2 > 2 * (hi1 - lo1)


class _Fixed:
    name = "fixed"

    def __init__(self, weights, alpha):
        self.w, self.a = np.asarray(weights), alpha

    def reset(self, n_types, *, seed=None):
        pass

    def act(self, ctx):
        return PrincipalAction(self.w, self.a)

    def observe(self, paid):
        pass


def test_hindsight_oracle_is_consistent_with_the_game_and_beats_fixed_weights(small_market):
    types = build_types(4, 3)
    env = MassStackelbergEnv(small_market[0], types, GameConfig())
    run_episode(env, principals.EqualWeights(), scripted_followers(env, seed=2), seed=2, eval_skip=21)
    fits = hindsight_oracle(env.game, eval_skip=21, horizons=(5, 10), seed=2)
    assert set(fits) == {(c, h) for c in ("signal", "consensus", "disagreement") for h in (5, 10)}
    fit = fits[("signal", 10)]
    # playing the oracle's fixed commitment reproduces its value exactly (same followers, same days)
    res = run_episode(env, _Fixed(fit.weights, fit.alpha), scripted_followers(env, seed=2), seed=2, eval_skip=21)
    assert res.summary["ric_signal_10d"] == pytest.approx(fit.value, abs=1e-9)
    # it is at least as good as equal weights and as any of 30 random fixed commitments
    win = env.game.scoring_window(len(env.game.records) - 21, horizon=10, asof=env.game.end + 11)
    rng = np.random.default_rng(0)
    W, A = rng.dirichlet(np.ones(4), 30), rng.uniform(0, 1, 30)
    assert fit.value >= fit.equal_value
    assert fit.value >= win.fitness(W, A).max()
    assert fits[("consensus", 10)].value >= win.fitness(W, A, component="consensus").max()


def _tiny_spec(**kw):
    configs = (
        AblationConfig("A", "sa", {"component": "disagreement"}, 4, 2, fitness="disagreement", alpha="0.5 fixed",
                       optimizer="SA"),
        AblationConfig("E", "cmaes", {}, 4, 2, turnover_penalty=0.1, fitness="combined", alpha="learned",
                       optimizer="CMA-ES"),
        baseline_for("equal", (4, 2)),
        baseline_for("oracle", (4, 2)),
    )
    return SweepSpec(configs, **{"seeds": (0, 1), "n_days": 75, "n_boot": 200, **kw})


def test_sweep_writes_tidy_files_is_reproducible_and_resumes(tmp_path, monkeypatch):
    spec = _tiny_spec()
    first = run_ablation(spec, tmp_path / "a", plot=False)
    assert len(first.computed) == 8 and not first.reused
    t = first.table.set_index("config")
    assert list(t.index) == ["A", "E", "EQ-4x2", "ORACLE-4x2"]
    assert (t["n_seeds"] == 2).all() and (t["eval_days"] == (75 - 2 - 20 + 1) - 21).all()
    assert np.isnan(t.loc["A", "ric_signal_10d_diff"]) and np.isfinite(t.loc["E", "ric_signal_10d_lo"])
    assert t.loc["E", "ric_signal_10d_lo"] <= t.loc["E", "ric_signal_10d_diff"] <= t.loc["E", "ric_signal_10d_hi"]
    # the oracle is an upper bound of every fixed commitment, equal weights included
    for m in ("ric_signal_10d", "ric_consensus_5d"):
        assert t.loc["ORACLE-4x2", f"{m}_mean"] >= t.loc["EQ-4x2", f"{m}_mean"]
    # the E config charged its turnover in the game's payoff
    runs_e = first.daily[(first.daily.config == "E") & first.daily.paid & first.daily["eval"]]
    assert (runs_e["payoff"] <= runs_e["ric_signal_10d"] + 1e-12).all()

    out = tmp_path / "a"
    daily = pd.read_parquet(out / "daily.parquet")
    assert {"config", "seed", "day", "date", "eval", "ric_signal_1d", "ric_consensus_10d"} <= set(daily.columns)
    weights = pd.read_parquet(out / "weights.parquet")
    assert set(weights.columns) == {"config", "seed", "day", "date", "type", "weight"}
    np.testing.assert_allclose(weights.groupby(["config", "seed", "day"])["weight"].sum(), 1.0)
    meta = json.loads((out / "ablation.json").read_text())
    assert (meta["spec"]["seeds"] == [0, 1] and meta["versions"]["cma"]
            and meta["spec"]["configs"][1]["turnover_penalty"] == 0.1)
    assert "upper bound" in meta["table"][3]["label"]
    assert meta["executor"] == {"name": "serial", "workers": 1}
    assert pd.read_csv(out / "table.csv").shape[0] == 4

    # a rerun (same dir) reuses everything; a fresh sweep elsewhere recomputes the same numbers
    again = run_ablation(spec, out, plot=False)
    assert not again.computed and len(again.reused) == 8
    pd.testing.assert_frame_equal(again.daily, first.daily)
    fresh = run_ablation(spec, tmp_path / "b", plot=False)
    pd.testing.assert_frame_equal(fresh.daily, first.daily)
    pd.testing.assert_frame_equal(fresh.table, first.table)

    # an interrupted sweep resumes without recomputing the finished runs
    calls = []
    real = sweep.run_one

    def flaky(cfg, seed, panel, spec):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append((cfg.name, seed))
        return real(cfg, seed, panel, spec)

    monkeypatch.setattr(sweep, "run_one", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(spec, tmp_path / "c", plot=False)
    monkeypatch.setattr(sweep, "run_one", real)
    resumed = run_ablation(spec, tmp_path / "c", plot=False)
    assert resumed.reused == calls and len(resumed.computed) == 5
    pd.testing.assert_frame_equal(resumed.daily, first.daily)

    # a changed setting is not silently reused
    other = run_ablation(_tiny_spec(seeds=(0,), market_seed=5), out, plot=False)
    assert len(other.computed) == 4


def test_resume_fingerprint_covers_the_code_a_run_depends_on():
    def names(cfg):
        return {p.name for p in run_sources(cfg, "scripted")}

    assert {"annealing.py", "blackbox.py", "scripted.py", "runner.py", "stackelberg.py",
            "scoring.py"} <= names(CONFIGS["A"])
    assert "cmaes.py" not in names(CONFIGS["A"]) and "cmaes.py" in names(CONFIGS["E"])
    assert "cmaes.py" in names(baseline_for("oracle", (8, 8)))  # the oracle fits with CMA-ES
    assert "loaders.py" not in names(CONFIGS["A"])  # data code: the panel's content is hashed instead


def test_plot_is_written_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    res = run_ablation(_tiny_spec(seeds=(0,), n_boot=0), tmp_path, plot=True)
    assert (tmp_path / "ablation.png").stat().st_size > 10_000 and res.files["plot"].endswith("ablation.png")


def test_mass_ablation_command(tmp_path, capsys):
    assert main(["ablation", "--list"]) == 0
    assert "E-512" in capsys.readouterr().out
    argv = ["ablation", "--configs", "A", "--seeds", "0,3", "--days", "70", "--baselines", "equal,oracle",
            "--boot", "100", "--no-plot", "--out", str(tmp_path)]
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert "embedded synthetic market" in cap.out and "oracle (hindsight upper bound)" in cap.out
    assert "[6/6] ORACLE seed 3" in cap.err
    lines = {ln.split()[0]: ln for ln in cap.out.splitlines() if ln.split() and ln.split()[0] in ("A", "EQ", "ORACLE*")}
    assert set(lines) == {"A", "EQ", "ORACLE*"}
    assert main(argv) == 0 and "0 run(s) computed, 6 reused" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["ablation", "--seeds", "0,0"])
    assert main(["ablation", "--configs", "Q", "--out", str(tmp_path)]) == 2


def test_specs_pickle_for_workers():
    spec = _tiny_spec()
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and again.configs[1].options == spec.configs[1].options
    assert type(again.configs[0].options) is type(spec.configs[0].options)  # still read-only


@pytest.mark.parametrize(("old", "name", "new", "new_name"), [
    ("experiments.ablation", "run_ablation", "experiments.sweep.run", "run_ablation"),
    ("experiments.ablation", "SweepSpec", "experiments.sweep.spec", "SweepSpec"),
    ("experiments.ablation", "register_followers", "experiments.followers", "register_followers"),
    ("experiments.ablation", "market_for", "experiments.sweep.markets", "market_for"),
    ("experiments.ablation", "RunStore", "experiments.sweep.store", "RunStore"),
    ("experiments.ablation", "_atomic", "experiments.sweep.store", "atomic_write"),
    ("experiments.ablation", "_jsonable", "experiments.sweep.store", "to_jsonable"),
    ("experiments.ablation", "run_sources", "experiments.sweep.fingerprint", "run_sources"),
    ("experiments.ablation", "hindsight_oracle", "experiments.stats.oracle", "hindsight_oracle"),
    ("experiments.ablation", "metric", "experiments.stats.report", "metric"),
    ("experiments.ablation", "format_table", "experiments.stats.report", "format_table"),
    ("experiments.ablation", "FORMAT_VERSION", "experiments.sweep.store", "FORMAT_VERSION"),
    ("experiments.parallel.executors", "run_ablation_parallel", "experiments.sweep.run", "run_ablation_parallel"),
    ("experiments.parallel.executors", "ablation_job", "experiments.sweep.run", "ablation_job"),
    ("experiments.train_rl", "principal_configs", "experiments.sweep.principal_specs", "principal_configs"),
    ("experiments.train_rl", "results_table", "experiments.rl_table", "results_table"),
])
def test_old_paths_warn_and_forward_the_same_object(old, name, new, new_name):
    with pytest.warns(DeprecationWarning, match=new):
        got = getattr(importlib.import_module(old), name)
    assert got is getattr(importlib.import_module(new), new_name)
    assert not hasattr(importlib.import_module(old), "no_such_name")
