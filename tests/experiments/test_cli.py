import json

from experiments.cli import main


def test_mass_run_on_the_embedded_default(tmp_path, capsys):
    assert main(["run", "--types", "4", "--agents", "2", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "embedded synthetic market" in out and "10d" in out
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert summary["eval_days"] > 100
    assert (tmp_path / "history.csv").stat().st_size > 0


def test_mass_reports_bad_data_path(capsys):
    assert main(["data", "--data", "/nonexistent/panel.csv"]) == 2
    assert "error" in capsys.readouterr().err
