"""The run store (``experiments.sweep.store``): damaged stored runs are recomputed with a warning."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from experiments.sweep.configs import baseline_for
from experiments.sweep.engine import run_ablation
from experiments.sweep.spec import SweepSpec

EQ = baseline_for("equal", (3, 2))


def _spec(**kw):
    return SweepSpec((EQ,), **{"seeds": (0, 1), "n_days": 60, "n_boot": 0, "reference": EQ.name, **kw})


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    return out, run_ablation(_spec(), out, plot=False)


def _damage(runs, how, seed):
    pq, js = runs / f"{EQ.name}__seed{seed}.parquet", runs / f"{EQ.name}__seed{seed}.json"
    if how == "shifted":
        h = pd.read_parquet(pq)
        h[[c for c in h.columns if c.startswith("ric_")]] += 0.2
        h.to_parquet(pq, index=False)
    elif how == "empty":
        pd.read_parquet(pq).iloc[:0].to_parquet(pq, index=False)
    elif how == "zero bytes":
        pq.write_bytes(b"")
    elif how == "other run":
        shutil.copy(runs / f"{EQ.name}__seed{1 - seed}.parquet", pq)
    elif how == "json null":
        js.write_text("null")
    elif how == "no hash":
        meta = json.loads(js.read_text())
        del meta["parquet_sha256"]
        js.write_text(json.dumps(meta))


@pytest.mark.parametrize("how0, how1", [("shifted", "json null"), ("empty", "no hash"), ("zero bytes", "other run")])
def test_damaged_stored_runs_are_recomputed_with_a_warning(swept, tmp_path, how0, how1):
    src, first = swept
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    _damage(out / "runs", how1, 1)  # first: "other run" copies the other seed's intact file
    _damage(out / "runs", how0, 0)
    messages: list[str] = []
    with pytest.warns(RuntimeWarning, match=f"stored run {EQ.name} seed . is damaged") as caught:
        again = run_ablation(_spec(), out, plot=False, progress=messages.append)
    assert sum("is damaged" in str(w.message) for w in caught) == 2
    assert again.computed == [(EQ.name, 0), (EQ.name, 1)] and not again.reused
    assert len(again.damaged) == 2 and sum("damaged" in m for m in messages) == 2
    assert [d["seed"] for d in json.loads((out / "ablation.json").read_text())["recomputed_damaged"]] == [0, 1]
    pd.testing.assert_frame_equal(again.daily, first.daily)
    assert run_ablation(_spec(), out, plot=False).reused == [(EQ.name, 0), (EQ.name, 1)]  # repaired


def test_other_horizons_reach_the_table_plot_and_json(tmp_path):
    pytest.importorskip("matplotlib")
    spec = SweepSpec((EQ,), seeds=(0,), n_days=60, n_boot=0, horizon=3, reference=EQ.name)
    res = run_ablation(spec, tmp_path, plot=True)
    assert {"plot", "json"} <= set(res.files) and "sig 3d" in res.format()
    assert np.isfinite(res.table.set_index("config").loc[EQ.name, "ric_signal_3d_mean"])


def test_a_config_name_with_a_dot_keeps_one_file_per_seed(tmp_path):
    from experiments.sweep.store import RunResult, RunStore

    store = RunStore(tmp_path)
    for seed in (0, 1):
        hist = pd.DataFrame({"config": ["SA-temperature0.5"], "seed": [seed], "x": [float(seed)]})
        store.save(RunResult("SA-temperature0.5", seed, hist, {}), f"key{seed}")
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names == [f"SA-temperature0.5__seed{s}.{e}" for s in (0, 1) for e in ("json", "parquet")]
    assert [store.load("SA-temperature0.5", s, f"key{s}").history["x"].item() for s in (0, 1)] == [0.0, 1.0]
