"""Stored runs carry views and reports (``SweepSpec.record_reports``, ``mass ablation --record-reports``): the
stored file reads back as the live game's ``ReportLog``, incentive metrics computed from it equal the live
ones, and resuming reuses it (a run stored without it is replayed once to record it)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from agents.populations import register_population
from experiments.studies.herding import Herding
from experiments.sweep.configs import baseline_for
from experiments.sweep.engine import run_ablation
from experiments.sweep.spec import SweepSpec
from experiments.sweep.store import load_reports
from mass_env import scripted_followers
from mass_env.incentives.metrics import herding_index

EQ = baseline_for("equal", (3, 2))
POPULATION = "test_one_type_herds"
LIVE: list = []  # the envs the population was built for: their games are the live runs


def _one_type_herds(env, seed, **options):
    """Scripted followers, type 1 shading its views halfway toward yesterday's consensus (views != reports)."""
    LIVE.append(env)
    pols = dict(scripted_followers(env, seed=seed))
    pols["investor_1"] = Herding(pols["investor_1"], env, 0.5)
    return pols


register_population(POPULATION, _one_type_herds, replace=True)


def _spec(**kw):
    return SweepSpec((EQ,), **{"seeds": (0,), "n_days": 60, "n_boot": 0, "reference": EQ.name,
                               "followers": POPULATION, **kw})


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    LIVE.clear()
    res = run_ablation(_spec(record_reports=True), out, plot=False)
    assert len(LIVE) == 1
    return out, res, LIVE[0].game


def test_stored_reports_equal_the_live_games_report_log(recorded):
    out, res, game = recorded
    live, back = game.report_log, load_reports(out, EQ.name, 0)
    assert not live.truthful and not back.log.truthful
    assert np.array_equal(back.log.days, live.days)
    assert np.array_equal(back.log.reports(), live.reports(), equal_nan=True)
    assert np.array_equal(back.log.views(), live.views(), equal_nan=True)
    assert back.log.reports().dtype == np.float32
    assert np.array_equal(back.agent_type, game.agent_type)
    meta = json.loads((out / "runs" / f"{EQ.name}__seed0.json").read_text())["reports"]
    assert meta["bytes"] > 0 and meta["rows"] == int(np.isfinite(live.reports()).sum())


def test_incentive_metrics_from_the_stored_file_equal_the_live_ones(recorded):
    out, res, game = recorded
    back = load_reports(out, EQ.name, 0)
    # misreport per day: from the file, from the live log, and as the stored history's column
    np.testing.assert_array_equal(back.log.misreport(), game.report_log.misreport())
    np.testing.assert_array_equal(back.log.misreport(), res.daily["misreport"].to_numpy())
    # the herding index of each type (reports vs views, toward yesterday's consensus of the reports)
    live_h = herding_index(game.report_log.type_means(game.agent_type, game.K, "reports"),
                           game.report_log.type_means(game.agent_type, game.K, "views"))
    stored_h = herding_index(back.type_means("reports"), back.type_means("views"))
    np.testing.assert_array_equal(stored_h, live_h)
    assert stored_h[1] > 0.05 and np.allclose(np.delete(stored_h, 1), 0.0)  # only type 1 herds


def test_resume_replays_a_run_stored_without_reports_once_then_reuses_it(tmp_path):
    out = tmp_path / "sweep"
    first = run_ablation(_spec(), out, plot=False)
    assert not (out / "runs" / f"{EQ.name}__seed0.reports.parquet").exists()
    with pytest.raises(FileNotFoundError, match="--record-reports"):
        load_reports(out, EQ.name, 0)
    said: list[str] = []
    again = run_ablation(_spec(record_reports=True), out, plot=False, progress=said.append)
    assert again.computed == [(EQ.name, 0)] and any("replayed to record them" in m for m in said)
    np.testing.assert_array_equal(again.daily["ric_signal_10d"], first.daily["ric_signal_10d"])
    assert not load_reports(out, EQ.name, 0).log.truthful
    for flag in (True, False):  # stored with reports: reused with or without the flag, the file kept
        assert run_ablation(_spec(record_reports=flag), out, plot=False).reused == [(EQ.name, 0)]
    assert len(load_reports(out, EQ.name, 0).log) == len(first.daily)


def test_a_damaged_reports_file_is_recomputed(recorded, tmp_path):
    src, res, _ = recorded
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    (out / "runs" / f"{EQ.name}__seed0.reports.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="content hash"):
        load_reports(out, EQ.name, 0)
    with pytest.warns(RuntimeWarning, match="reports.parquet is missing or does not match"):
        again = run_ablation(_spec(record_reports=True), out, plot=False)
    assert again.computed == [(EQ.name, 0)]
    assert np.array_equal(load_reports(out, EQ.name, 0).log.reports(), load_reports(src, EQ.name, 0).log.reports(),
                          equal_nan=True)
