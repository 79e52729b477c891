"""``mass incentives``: the table's columns, JSON rows equal to the table, resume, flags for searches that do
not converge, and errors that list what is valid."""

from __future__ import annotations

import json

import pytest

from experiments.cli import main
from mass_env.incentives import closed_form as cf

SMALL = ["--types", "4", "--stocks", "30", "--days", "12", "--seeds", "2"]


def test_table_json_and_resume(tmp_path, capsys):
    out, js = tmp_path / "out", tmp_path / "rows.json"
    args = ["incentives", *SMALL, "--rules", "proper,consensus:r=0.6", "--responders", "truthful,equilibrium",
            "--out", str(out), "--json", str(js)]
    assert main(args) == 0
    doc = json.loads(js.read_text())
    rows = {(r["rule"], r["responder"]): r for r in doc["rows"]}
    for col in ("deviation_gain", "gain_kind", "nashconv", "private_weight", "herding", "efficiency", "seeds",
                "deviation_gain_ci", "status"):
        assert col in rows[("proper", "truthful")]
    assert rows[("proper", "truthful")]["gain_kind"] == "exact" and rows[("proper", "truthful")]["deviation_gain"] == 0
    eq = rows[("consensus:r=0.6", "equilibrium")]
    assert eq["status"] == "equilibrium"
    assert eq["private_weight"] == pytest.approx(cf.morris_shin_weight(2.0, 1.0, 0.6, omega=0.25), abs=0.03)
    assert rows[("consensus:r=0.6", "truthful")]["deviation_gain"] == pytest.approx(
        cf.deviation_gain_consensus(2.0, 1.0, 0.6, omega=0.25, tau=1.0), rel=1e-9)
    assert len(doc["per_seed"]) == 8 and (out / "incentives.csv").exists()
    capsys.readouterr()
    assert main(args) == 0 and json.loads(js.read_text())["rows"] == doc["rows"]  # a rerun reuses every row
    err = capsys.readouterr().err
    assert err.count("reused") == 8 and "gain" not in err


def test_a_search_that_does_not_converge_is_flagged(tmp_path, capsys):
    args = ["incentives", *SMALL, "--rules", "tournament", "--responders", "equilibrium", "--max-iter", "1",
            "--out", str(tmp_path), "--json", str(tmp_path / "r.json"), "--quiet"]
    assert main(args) == 0
    row = json.loads((tmp_path / "r.json").read_text())["rows"][0]
    assert row["gain_kind"] == "lower bound" and not row["converged"] and row["status"].startswith("NOT converged")


@pytest.mark.parametrize("flag,value,words", [("--rules", "nope", "valid rules: consensus"),
                                              ("--rules", "consensus:q=1", "valid options: r"),
                                              ("--responders", "oracle", "valid responders: truthful")])
def test_bad_names_list_what_is_valid(tmp_path, capsys, flag, value, words):
    with pytest.raises(SystemExit) as exc:
        main(["incentives", flag, value, "--out", str(tmp_path)])
    assert words in str(exc.value)
