"""``experiments.studies.anticipating``: the anticipating leader's Stackelberg value against the myopic ones."""

import numpy as np
import pandas as pd
import pytest

from experiments.studies.anticipating import parser, run


def test_one_command_chooses_the_rule_and_writes_the_paired_table(tmp_path, capsys):
    out = tmp_path / "st"
    args = parser().parse_args(["--configs", "A", "--seeds", "2", "--days", "70", "--menu", "weighted_skill/proper",
                                "--options", "evals=5", "--out", str(out), "--quiet"])
    assert run(args) == 0
    text = capsys.readouterr().out
    assert "rule picked on the warm-up days: weighted_skill" in text and "proper -1.0000" in text
    tab = pd.read_csv(out / "stackelberg.csv")
    assert list(tab["leader"]) == ["anticipating", "config A (SA, MASS)", "equal weights"]
    assert np.isnan(tab["diff"][0]) and (tab["diff_lo"][1:] <= tab["diff"][1:]).all()
    assert (tab["diff"][1:] <= tab["diff_hi"][1:]).all() and "| config A (SA, MASS) | weighted_skill |" in text


def test_a_bad_menu_names_the_valid_rules(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["--menu", "weighted_skill/majority"])
    assert "valid rules: consensus" in capsys.readouterr().err
