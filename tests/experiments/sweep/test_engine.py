"""Sweeps (``experiments.sweep.engine``): tidy files, reproducible, resumable, plotted; specs travel to workers."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from experiments.sweep import engine as sweep_engine
from experiments.sweep.configs import AblationConfig, baseline_for
from experiments.sweep.engine import run_ablation
from experiments.sweep.spec import SweepSpec


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
    real = sweep_engine.run_one

    def flaky(cfg, seed, panel, spec):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append((cfg.name, seed))
        return real(cfg, seed, panel, spec)

    monkeypatch.setattr(sweep_engine, "run_one", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(spec, tmp_path / "c", plot=False)
    monkeypatch.setattr(sweep_engine, "run_one", real)
    resumed = run_ablation(spec, tmp_path / "c", plot=False)
    assert resumed.reused == calls and len(resumed.computed) == 5
    pd.testing.assert_frame_equal(resumed.daily, first.daily)

    # a changed setting is not silently reused
    other = run_ablation(_tiny_spec(seeds=(0,), market_seed=5), out, plot=False)
    assert len(other.computed) == 4


def test_plot_is_written_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    res = run_ablation(_tiny_spec(seeds=(0,), n_boot=0), tmp_path, plot=True)
    assert (tmp_path / "ablation.png").stat().st_size > 10_000 and res.files["plot"].endswith("ablation.png")


def test_specs_pickle_for_workers():
    spec = _tiny_spec()
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and again.configs[1].options == spec.configs[1].options
    assert type(again.configs[0].options) is type(spec.configs[0].options)  # still read-only
