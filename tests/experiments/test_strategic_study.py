"""``experiments.studies.strategic``: a Hedge ablation against the scripted one, config by config."""

from experiments.cli import main
from experiments.studies.strategic import compare, markdown


def test_compare_pairs_the_runs_and_reads_the_followers(tmp_path):
    for name, fol in (("s", "scripted"), ("h", "hedge:eta=5"), ("t", "hedge:library=truthful")):
        assert main(["ablation", "--configs", "A", "--seeds", "0,1", "--days", "70", "--baselines", "equal",
                     "--boot", "0", "--no-plot", "--quiet", "--followers", fol, "--out", str(tmp_path / name)]) == 0
    tab = compare(tmp_path / "s", tmp_path / "h")
    assert list(tab["config"]) == ["A", "EQ"]
    assert (tab["misreport"] > 0).all() and tab["ends_on"].str.contains(r"\d\.\d\d").all()
    assert (tab["diff_lo"] <= tab["diff"]).all() and (tab["diff"] <= tab["diff_hi"]).all()
    same = compare(tmp_path / "s", tmp_path / "t")  # the truthful library: no difference at all
    assert (same["diff"] == 0).all() and (same["misreport"] == 0).all() and (same["ends_on"] == "truthful 1.00").all()
    assert "| A |" in markdown(tab)


def test_llm_rows_pair_told_followers_with_their_views_and_replay_from_the_cache(tmp_path):
    import sqlite3

    from experiments.studies.strategic import LLM_COLUMNS, compare_llm, markdown_llm

    cache = tmp_path / "c.sqlite"
    llm = ["ablation", "--configs", "A", "--seeds", "0,", "--days", "80", "--baselines", "none", "--boot", "0",
           "--no-plot", "--quiet", "--followers", "llm", "--llm-backend", "scripted", "--agents", "1",
           "--llm-candidates", "6", "--record-reports", "--llm-cache", str(cache)]

    def study(out, *extra):
        for told in ("weighted_skill", "view"):
            assert main([*llm, *extra, "--llm-told", told, "--out", str(out / told)]) == 0
        return compare_llm(out / "view", out / "weighted_skill")

    tab = study(tmp_path / "first")
    assert tuple(tab.columns) == LLM_COLUMNS and list(tab["config"]) == ["A"]
    r = tab.iloc[0]
    assert r["days"] > 0 and r["misreport"] == 0 and r["toward"] == 0  # the scripted backend reports its view
    assert r["view_lo"] <= r["view"] <= r["view_hi"] and r["told_lo"] <= r["told"] <= r["told_hi"]
    rows = sqlite3.connect(cache).execute("select count(*) from branches").fetchone()[0]
    again = study(tmp_path / "replay", "--llm-replay")  # a new study folder: every answer from the cache
    assert sqlite3.connect(cache).execute("select count(*) from branches").fetchone()[0] == rows
    assert again.equals(tab) and "| A |" in markdown_llm(again)


def test_the_runner_asks_the_views_once_with_one_cache():
    import pytest

    from experiments.studies.strategic import main as main_study
    from experiments.studies.strategic import parser, sweeps

    runs = sweeps(parser().parse_args(["--out", "o", "--data", "sse50", "--llm-replay", "--workers", "1"]))
    assert list(runs) == ["scripted", "hedge", "views", "told"]
    assert "--workers" in runs["told"] and "--workers" not in runs["views"]  # the views are asked once
    told, views = runs["told"], runs["views"]
    assert told[told.index("--llm-told") + 1] == "weighted_skill" and views[views.index("--llm-told") + 1] == "view"
    assert "--llm-replay" in views and told[told.index("--llm-cache") + 1] == views[views.index("--llm-cache") + 1]
    assert told[told.index("--eval-start") + 1] == "2023-02-06" and "--eval-end" not in runs["hedge"]
    assert told[told.index("--agents") + 1] == "1" == views[views.index("--agents") + 1]
    with pytest.raises(SystemExit):
        main_study(["--llm-eval", "2023-02-06"])
