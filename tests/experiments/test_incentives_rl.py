"""``mass incentives --responders rl``: PPO followers' rows in the table's format, stored and reused, and clear
errors; the measurement of a played profile (``evaluate_reports``) on known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.cli import main
from mass_env.incentives import InformationMarket, make_rule
from mass_env.incentives.evaluate import Problem, evaluate, evaluate_reports

SMALL = ["--types", "4", "--stocks", "20", "--days", "5", "--seeds", "2", "--follower-models", "none"]


def test_evaluate_reports_of_the_truthful_profile_is_the_truthful_row():
    market = InformationMarket(4, 30, 6, 2.0, 1.0, 1.0)
    p = Problem.from_market(market, 3)
    for spec in ("proper", "consensus:r=0.5", "skill"):
        rule = make_rule(spec)
        got, want = evaluate_reports(rule, p, p.views, "played"), evaluate(rule, "truthful", p)
        assert got.deviation_gain == want.deviation_gain and got.private_weight == pytest.approx(want.private_weight)
        assert got.nashconv == pytest.approx(want.nashconv, rel=1e-6, abs=1e-9) and got.status == "played"
    with pytest.raises(ValueError, match="shape"):
        evaluate_reports(make_rule("proper"), p, p.views[:, :2], "x")


def test_rl_rows_have_the_table_columns_and_resume(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    out, js = tmp_path / "out", tmp_path / "rows.json"
    args = ["incentives", *SMALL, "--rules", "proper", "--responders", "rl,truthful", "--rl-steps", "800",
            "--out", str(out), "--json", str(js)]
    assert main(args) == 0
    doc = json.loads(js.read_text())
    rows = {(r["rule"], r["responder"]): r for r in doc["rows"]}
    rl = rows[("proper", "rl")]
    for col in ("deviation_gain", "deviation_gain_ci", "gain_kind", "nashconv", "private_weight", "private_weight_ci",
                "herding", "efficiency", "seeds", "status"):
        assert col in rl
    assert rl["seeds"] == 2 and rl["status"].startswith("learned (PPO") and np.isfinite(rl["private_weight"])
    assert rl["deviation_gain"] == rows[("proper", "truthful")]["deviation_gain"]  # the rule's gain at truth
    per = [r for r in doc["per_seed"] if r["responder"] == "rl"]
    assert all(r["closed_form_weight"] == pytest.approx(1 / 3) for r in per)
    first = capsys.readouterr()
    assert "reports, private weight" in first.err and "learned private weight vs the closed form" in first.out
    assert main(args) == 0  # a rerun trains nothing: every row is read back
    again = capsys.readouterr()
    assert again.err.count("reused") == 4 and "private weight" not in again.err
    assert json.loads(js.read_text())["rows"] == doc["rows"]


@pytest.mark.parametrize("extra, words", [
    (["--data", "nowhere"], "information market"),
    (["--rl-steps", "0"], "--rl-steps"),
    (["--rl-lr", "-1"], "--rl-lr"),
])
def test_bad_rl_options_are_clear_errors(tmp_path, capsys, extra, words):
    with pytest.raises(SystemExit) as exc:
        main(["incentives", *SMALL, "--responders", "rl", "--out", str(tmp_path), *extra])
    assert words in capsys.readouterr().err + str(exc.value.code)


def test_missing_extra_names_it(monkeypatch):
    import builtins

    from experiments import incentives_rl

    real = builtins.__import__

    def no_sb3(name, *args, **kwargs):
        if name.startswith("stable_baselines3"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sb3)
    with pytest.raises(SystemExit, match=r"'rl' extra"):
        incentives_rl.check_extra()
