"""``mass incentives --responders llm``: LLM followers told the rule, per rule the shift |report - view| and
the herding index with CIs; rows resumable, a replay from the response cache asks nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from llm_play import Herder

from agents.llm.told import told_followers
from experiments.cli import main
from experiments.studies.llm_rules import ci, play_rule, summarise
from mass_env import SyntheticConfig, build_types, synthetic_market

LLM = ["--data", "synthetic", "--types", "2", "--agents", "2", "--llm-backend", "scripted", "--llm-candidates", "8",
       "--llm-days", "4", "--seeds", "2", "--responders", "llm"]


def test_rows_resume_and_replay_without_requests(tmp_path, capsys):
    out, js = tmp_path / "out", tmp_path / "rows.json"
    cache = tmp_path / "c.sqlite"
    args = ["incentives", *LLM, "--rules", "proper,consensus:r=0.6", "--out", str(out), "--json", str(js),
            "--llm-cache", str(cache)]
    assert main(args) == 0
    doc = json.loads(js.read_text())
    rows = {r["rule"]: r for r in doc["llm"]}
    assert set(rows) == {"proper", "consensus:r=0.6"} and doc["rows"] == []
    for r in rows.values():
        assert r["responder"] == "llm" and r["seeds"] == 2 and r["days"] == 2 * 3 and r["failed"] == 0
        # scripted: reports are views
        assert r["shift"] == r["toward"] == 0 and r["herding"] == pytest.approx(0, abs=1e-12)
    assert rows["proper"]["asked"] > rows["consensus:r=0.6"]["asked"] > 0  # the views are asked once for both
    assert (out / "incentives-llm.csv").exists()
    assert "shift |report-view|" in capsys.readouterr().out
    assert main(args) == 0  # a rerun reuses the stored rows
    assert capsys.readouterr().err.count("reused") == 4
    replay = ["incentives", *LLM, "--rules", "proper,consensus:r=0.6", "--out", str(tmp_path / "again"),
              "--json", str(js), "--llm-cache", str(cache), "--llm-replay"]
    assert main(replay) == 0
    again = {r["rule"]: r for r in json.loads(js.read_text())["llm"]}
    assert all(again[k]["asked"] == 0 and again[k]["shift"] == rows[k]["shift"] for k in rows)


def test_llm_rows_need_a_market_with_stocks(tmp_path):
    with pytest.raises(SystemExit, match="needs --data"):
        main(["incentives", "--responders", "llm", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="valid responders: .*llm"):
        main(["incentives", "--responders", "llms", "--data", "synthetic", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--llm-output score"):
        main(["incentives", *LLM, "--llm-output", "select", "--out", str(tmp_path)])


def test_a_rule_paying_for_agreement_moves_reports_toward_the_consensus():
    panel = synthetic_market(SyntheticConfig(n_days=40, n_symbols=20), seed=0)[0]
    types = build_types(2, 3)

    def build(env, seed):
        return told_followers(env, Herder(), seed=seed, n_candidates=10)

    runs = [{"rule": rule, "seed": 0, "asked": 0, **play_rule(panel, types, rule, 0, build, days=5, horizon=1)}
            for rule in ("proper", "consensus:r=0.3", "consensus:r=0.8")]
    rows = {r["rule"]: r for r in summarise(runs)}
    assert rows["proper"]["shift"] == 0 and rows["proper"]["herding"] == pytest.approx(0, abs=1e-12)
    assert 0 < rows["consensus:r=0.3"]["shift"] < rows["consensus:r=0.8"]["shift"]
    assert rows["proper"]["toward"] == 0 and 0 < rows["consensus:r=0.3"]["toward"] < rows["consensus:r=0.8"]["toward"]
    assert rows["consensus:r=0.8"]["toward"] == pytest.approx(rows["consensus:r=0.8"]["shift"], rel=0.05)  # all toward
    assert 0 < rows["consensus:r=0.3"]["herding"] < rows["consensus:r=0.8"]["herding"]
    assert np.isfinite(rows["consensus:r=0.8"]["herding_ci"]) and rows["consensus:r=0.8"]["days"] == 4
    assert rows["proper"]["herding_vs_proper"] == 0
    assert rows["consensus:r=0.8"]["herding_vs_proper"] == pytest.approx(rows["consensus:r=0.8"]["herding"])


def test_ci_is_a_student_t_interval_over_days():
    m, h = ci([1.0, 2.0, 3.0, float("nan")])
    assert m == 2.0 and h == pytest.approx(4.302652729911275 * 1.0 / np.sqrt(3))
    assert np.isnan(ci([1.0])[1]) and np.isnan(ci([])[0])
