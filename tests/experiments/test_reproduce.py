"""``mass reproduce`` (``experiments.reproduce``): one --data, clear errors, a compact terminal summary."""

from __future__ import annotations

from experiments.cli import main


def test_bad_data_and_contradicting_flags_are_messages(capsys):
    assert main(["reproduce", "--data", "nasdaq", "--out", "unused"]) == 2
    assert "datasets:" in capsys.readouterr().err
    assert main(["reproduce", "--preset", "paper", "--signals", "continuous", "--data", "synthetic"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_a_missing_data_folder_names_the_variable_that_sets_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MASS_DATA_ROOT", str(tmp_path / "nowhere"))
    assert main(["reproduce", "--out", str(tmp_path / "o")]) == 2
    assert "MASS_DATA_ROOT" in capsys.readouterr().err
    assert main(["data", "--data", "us"]) == 2
    assert "MASS_DATA_ROOT" in capsys.readouterr().err


def test_the_terminal_gets_a_compact_summary_and_the_file_the_full_table(tmp_path, capsys):
    argv = ["reproduce", "--preset", "clean", "--data", "synthetic:n_days=62", "--configs", "A,D", "--baselines",
            "none", "--agents", "1", "--seeds", "2", "--boot", "50", "--executor", "serial", "--quiet",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Legend:" in out and "(3s)" in out and "MDD" not in out.split("The full table")[0]
    md = (tmp_path / "reproduce.md").read_text()
    assert "clean: MDD" in md and "clean: of" in md and "/5.6" not in md


def test_record_reports_reaches_every_preset_sweep():
    from experiments.paper.fidelity import PRESETS
    from experiments.paper.reproduction import ReproduceSpec

    spec = ReproduceSpec(presets=("clean", "paper"), data="synthetic", record_reports=True)
    assert all(spec.sweep(PRESETS[p]).record_reports for p in spec.presets)
    assert not ReproduceSpec(data="synthetic").sweep(PRESETS["clean"]).record_reports
    assert spec.as_dict()["record_reports"] is True
