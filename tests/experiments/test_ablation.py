"""``mass ablation`` (``experiments.ablation``): the command end to end on a tiny sweep."""

import pytest

from experiments.cli import main


def test_mass_ablation_command(tmp_path, capsys):
    assert main(["ablation", "--list"]) == 0
    assert "E-512" in capsys.readouterr().out
    argv = ["ablation", "--configs", "A", "--seeds", "0,3", "--days", "70", "--baselines", "equal,oracle",
            "--boot", "100", "--no-plot", "--out", str(tmp_path)]
    assert main(argv) == 0
    cap = capsys.readouterr()
    assert "embedded synthetic market" in cap.out and "oracle (hindsight upper bound)" in cap.out
    assert "[6/6] ORACLE seed 3" in cap.err
    lines = {ln.split()[0]: ln for ln in cap.out.splitlines() if ln.split() and ln.split()[0] in ("A", "EQ", "ORACLE*")}
    assert set(lines) == {"A", "EQ", "ORACLE*"}
    assert main(argv) == 0 and "0 run(s) computed, 6 reused" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["ablation", "--seeds", "0,0"])
    assert main(["ablation", "--configs", "Q", "--out", str(tmp_path)]) == 2
