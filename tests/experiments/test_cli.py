"""The ``mass`` command line (``experiments.cli``): its help, and hostile flags and inputs refused before any
computing, with a message, never a traceback."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from experiments import cli, train_rl
from experiments.sweep.checks import min_days


def test_help_lists_every_command_in_plain_words(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out
    assert "``" not in out and ":mod:" not in out


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_option_of_every_command_has_help(name):
    sub = cli.build_parser()._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
    missing = [a.option_strings for a in sub._actions if a.option_strings and not (a.help or "").strip()]
    assert not missing
    mod = cli.command_module(name)
    assert callable(mod.add_arguments) and callable(mod.run) and "\n" not in mod.HELP


def test_mass_run_on_the_embedded_default(tmp_path, capsys):
    assert cli.main(["run", "--types", "4", "--agents", "2", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "embedded synthetic market" in out and "10d" in out
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert summary["eval_days"] > 100
    assert (tmp_path / "history.csv").stat().st_size > 0
    assert not (tmp_path / "reports.parquet").exists()


def test_mass_run_record_reports_writes_the_views_and_reports(tmp_path, capsys):
    import pandas as pd

    from mass_env.game.reports import ReportLog

    args = ["run", "--types", "2", "--agents", "2", "--quiet", "--record-reports", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    frame = pd.read_parquet(tmp_path / "reports.parquet")
    log = ReportLog.from_frame(frame, 4, int(frame["stock"].max()) + 1)
    assert log.truthful and len(log) == len(pd.read_csv(tmp_path / "history.csv"))
    assert frame["report"].dtype == "float32" and "reports.parquet" in capsys.readouterr().out


def test_mass_reports_bad_data_path(capsys):
    assert cli.main(["data", "--data", "/nonexistent/panel.csv"]) == 2
    assert "error" in capsys.readouterr().err


def test_a_market_without_evaluation_days_is_refused_before_computing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("experiments.sweep.engine._run_jobs", _no_computing)
    assert cli.main(["ablation", "--days", "30", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "too few for any evaluation day: it needs at least 45" in capsys.readouterr().err
    assert min_days(10, 21) == 54 and min_days(1, 21) == 45


@pytest.mark.parametrize("argv, longest", [(["ablation", "--configs", "A", "--agents", "1", "--seeds", "1",
                                              "--baselines", "none", "--days", "60", "--boot", "0", "--no-plot"], 16),
                                             (["run", "--types", "2", "--agents", "1"], 116)])
def test_a_horizon_that_is_never_paid_is_said_before_computing(argv, longest, tmp_path, capsys):
    with pytest.warns(RuntimeWarning, match=f"no evaluation day is ever paid.*longest horizon this market pays is "
                                            f"{longest}"):
        assert cli.main([*argv, "--horizon", "500", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "500d" in capsys.readouterr().out


def test_an_empty_table_formats_as_a_sentence():
    from experiments.stats.report import format_table

    assert "no run had an evaluation day" in format_table(pd.DataFrame())


def _no_computing(*a, **k):
    raise AssertionError("computed before validating")


@pytest.mark.parametrize("cmd", ["run", "ablation"])
def test_out_on_a_file_or_an_unwritable_folder(cmd, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("experiments.sweep.engine._run_jobs", _no_computing)
    monkeypatch.setattr("experiments.run.run_episode", _no_computing)
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert cli.main([cmd, "--out", str(f), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert cli.main([cmd, "--out", str(f / "sub"), "--quiet"]) == 2  # a folder under a file
    assert "not a writable folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes into read-only folders
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert cli.main([cmd, "--out", str(ro), "--quiet"]) == 2
        assert "not a writable folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["ablation", "--seeds=-1"], "seed count must lie in 1..10000"),
    (["ablation", "--seeds=-1,2"], "must lie in 0.."),
    (["ablation", "--seeds", "100000000000"], "seed count must lie in 1..10000"),
    (["ablation", "--seeds", "1,1"], "distinct"),
    (["ablation", "--agents", "0"], "must be >= 1"),
    (["run", "--seed", "-3"], "must be >= 0"),
    (["run", "--types", "abc"], "expected an integer"),
    (["train-rl", "--timesteps", "0"], "must be >= 1"),
    (["train-rl", "--train-frac", "1.5"], "strictly between 0 and 1"),
    (["train-rl", "--algo", "dqn"], "invalid choice"),
    (["train-rl", "--turnover-penalty", "nan"], "must be >= 0"),
    (["train-rl", "--eval-seeds", "x"], "count (3) or a comma list"),
    (["rl-table", "--seeds", "0"], "seed count must lie in 1..10000"),
    (["rl-table", "--markets", "moon"], "--markets takes a comma list"),
    (["rl-table", "--timesteps", "-5"], "must be >= 1"),
])
def test_bad_flags_give_a_usage_error(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and words in capsys.readouterr().err


def test_train_rl_and_rl_table_input_errors_are_messages(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["train-rl", "--out", str(f), "--quiet"]) == 2
    assert "mass train-rl: error:" in capsys.readouterr().err
    assert cli.main(["train-rl", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "neither an existing file" in capsys.readouterr().err
    assert cli.main(["rl-table", "--out", str(f), "--quiet", "--markets", "synthetic"]) == 2
    assert "mass rl-table: error:" in capsys.readouterr().err
    assert cli.main(["rl-table", "--markets", "sse50", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "needs the shared-data root" in capsys.readouterr().err


def test_a_table_of_nan_is_not_a_success(tmp_path, capsys):
    rows = pd.bdate_range("2023-01-02", periods=70)
    df = pd.MultiIndex.from_product([rows, ["A", "B", "C"]], names=["date", "symbol"]).to_frame(index=False)
    df["close"] = np.random.default_rng(0).lognormal(2, 0.1, len(df))
    df.to_csv(tmp_path / "three.csv", index=False)  # 3 stocks: below the 5 a Rank IC needs
    assert cli.main(["run", "--data", str(tmp_path / "three.csv"), "--types", "2", "--agents", "1", "--quiet"]) == 1
    assert "no evaluation day had a Rank IC" in capsys.readouterr().err


def test_rl_table_seeds_mean_what_ablation_seeds_mean():
    parser_seeds = {a.dest: a.type for a in cli.build_parser()._subparsers._group_actions[0]  # type: ignore
                    .choices["ablation"]._actions}["seeds"]
    assert parser_seeds("3") == train_rl.seed_list("3") == (0, 1, 2)
    assert train_rl.seed_list("3,") == (3,)


def test_ignored_flags_are_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("experiments.sweep.engine._run_jobs", _no_computing)
    cli.main(["ablation", "--llm-model", "x", "--llm-candidates", "5", "--data", str(tmp_path / "none.csv"),
              "--days", "90", "--workers", "2", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert "--llm-model, --llm-candidates apply only with --followers llm" in err
    assert "--days describe the embedded synthetic market" in err and "--workers applies only" in err
