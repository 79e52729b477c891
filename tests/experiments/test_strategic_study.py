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
