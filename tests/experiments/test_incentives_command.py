"""``mass incentives``: the table's columns, JSON rows equal to the table, resume, flags for searches that do
not converge, and errors that list what is valid."""

from __future__ import annotations

import json

import pytest

from experiments.cli import main
from mass_env.incentives import closed_form as cf

SMALL = ["--types", "4", "--stocks", "30", "--days", "12", "--seeds", "2"]
NO_PRINCIPALS = ["--follower-models", "none"]  # the rows' table alone


def test_table_json_and_resume(tmp_path, capsys):
    out, js = tmp_path / "out", tmp_path / "rows.json"
    args = ["incentives", *SMALL, *NO_PRINCIPALS, "--rules", "proper,consensus:r=0.6", "--responders",
            "truthful,equilibrium", "--out", str(out), "--json", str(js)]
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
    args = ["incentives", *SMALL, *NO_PRINCIPALS, "--rules", "tournament", "--responders", "equilibrium",
            "--max-iter", "1",
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


def test_hedge_rows_report_and_flag_the_certification_gap(tmp_path):
    """A hedge row is measured like the others plus its certification gap; with enough rounds proper's
    learners are certified (gap under the stated tolerance of the pay range), with 3 rounds they are not."""
    def hedge_row(rounds: str, sub: str) -> dict:
        js = tmp_path / f"{sub}.json"
        args = ["incentives", *SMALL, *NO_PRINCIPALS, "--rules", "proper", "--responders", "hedge", "--rounds", rounds,
                "--out", str(tmp_path / sub), "--json", str(js), "--quiet"]
        assert main(args) == 0
        return json.loads(js.read_text())["rows"][0]

    row = hedge_row("300", "long")
    for col in ("deviation_gain", "gain_kind", "nashconv", "private_weight", "herding", "efficiency",
                "certification_gap", "certification_gap_ci"):
        assert col in row
    assert row["converged"] and row["status"].startswith("eps-CCE") and 0 < row["certification_gap"]
    assert row["private_weight"] == pytest.approx(1 / 3, abs=0.05)  # proper: the learners end up truthful
    stamps = {f: f.stat().st_mtime_ns for f in (tmp_path / "long" / "rows").iterdir()}
    assert hedge_row("300", "long") == row  # a rerun reuses the stored rows: none is written again
    assert {f: f.stat().st_mtime_ns for f in (tmp_path / "long" / "rows").iterdir()} == stamps
    short = hedge_row("3", "short")
    assert not short["converged"] and short["status"].startswith("NOT certified")
    assert "equilibrium" not in short["status"] and short["certification_gap"] > row["certification_gap"]


def test_curves_need_hedge_rows_and_land_in_the_json(tmp_path):
    with pytest.raises(SystemExit, match="--curves needs hedge rows"):
        main(["incentives", *SMALL, "--responders", "truthful", "--curves", "--out", str(tmp_path)])
    js = tmp_path / "c.json"
    assert main(["incentives", *SMALL, *NO_PRINCIPALS, "--rules", "consensus:r=0.6", "--responders", "hedge",
                 "--rounds", "40",
                 "--curves", "--out", str(tmp_path), "--json", str(js), "--quiet"]) == 0
    curves = json.loads(js.read_text())["curves"]["consensus:r=0.6"]
    assert {"private_weight", "herding", "deviation_gain", "gap"} <= set(curves)
    assert len(curves["private_weight"]) == 40 and curves["seeds"] == [2.0]
    assert (tmp_path / "hedge_curves.png").exists()


def test_principals_table_anticipating_beats_myopic_and_resumes(tmp_path, capsys):
    """consensus:r=0.6 on the information market: followers herd on the public signal; the anticipating
    principal re-weights it and its Stackelberg value is at least the myopic one's, by more than 0.01 Rank IC
    (measured with 4 followers: +0.030 closed form, +0.03 hedge). A rerun reuses every stored row."""
    js = tmp_path / "p.json"
    args = ["incentives", *SMALL, "--rules", "proper", "--responders", "truthful", "--rounds", "150",
            "--principal-rules", "consensus:r=0.6,skill", "--follower-models", "closed_form,hedge",
            "--out", str(tmp_path), "--json", str(js)]
    assert main(args) == 0
    doc = json.loads(js.read_text())["principals"]
    rows = {(r["commitments"], r["model"], r["principal"]): r for r in doc["rows"]}
    for model in ("closed_form", "hedge"):
        ant, myo = rows[("consensus:r=0.6", model, "anticipating")], rows[("consensus:r=0.6", model, "myopic")]
        assert ant["value"] >= myo["value"] - 1e-9 and ant["advantage"] > 0.01 and ant["rule"] == "consensus:r=0.6"
        assert ant["seeds"] == 2 and {"value_ci", "empirical", "empirical_ci", "phi"} <= set(ant)
    assert ("skill", "hedge", "anticipating") in rows and ("skill", "closed_form", "myopic") not in rows
    assert any("skill x closed_form: skipped" in n for n in doc["skipped"])
    out = capsys.readouterr().out
    assert "Stackelberg value: anticipating vs myopic principal" in out
    assert main(args) == 0
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("principals ")]
    assert len(lines) == 6 and all(x.endswith("reused") for x in lines)  # (2 sets x 2 models - 1 skipped) x 2
    assert json.loads(js.read_text())["principals"]["rows"] == doc["rows"]


@pytest.mark.parametrize("flag,value,words", [("--principals", "equal", "valid principals: myopic, anticipating"),
                                              ("--follower-models", "oracle", "valid follower models: closed_form"),
                                              ("--principal-rules", "nope", "valid rules: consensus")])
def test_bad_principal_options_list_what_is_valid(tmp_path, flag, value, words):
    with pytest.raises(SystemExit) as exc:
        main(["incentives", *SMALL, flag, value, "--out", str(tmp_path)])
    assert words in str(exc.value)
