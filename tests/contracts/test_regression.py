"""Pinned numbers: a small ablation sweep must keep printing what the code printed before the 0.2
re-layering, to 1e-12, so a refactor cannot move a result silently.

The numbers were produced by the pre-0.2 code (commit 05e9880, ``experiments.ablation``) with
``SweepSpec.default(["A", "C", "D", "E"], baselines=("equal", "oracle"), seeds=(0, 1), n_days=90,
n_boot=200)``. If a change is *meant* to move them, re-pin them in the same commit and say why.

Re-pinned once on purpose: ``ric_signal_10d_lo`` / ``_hi`` (the CI of the difference to A) are now the t
interval of ``experiments.stats.inference.difference_ci`` instead of the day-block bootstrap's percentiles,
which under-covered where the day noise all seeds share dominates. With these 2 seeds the seed part has 1
degree of freedom (t_.975 = 12.7), hence the wide intervals where the seeds disagree (C, EQ). Every other
pinned column, the difference itself (``_diff``) included, is unchanged to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.sweep.engine import run_ablation
from experiments.sweep.spec import SweepSpec

NAN = float("nan")
COLUMNS = ["ric_signal_10d_mean", "ric_signal_10d_std", "ric_consensus_10d_mean", "ric_signal_5d_mean",
           "ric_signal_1d_mean", "turnover_mean", "alpha_mean", "ric_signal_10d_diff", "ric_signal_10d_lo",
           "ric_signal_10d_hi"]
PINNED = {
    'A': [
        0.024754878669817498, 0.08030704947336251, 0.017199094747513088, 0.03663251911901188, 0.01095868100119483,
        0.1020956904690208, 0.5, NAN, NAN, NAN
    ],
    'C': [
        0.0797053659067476, 0.011427675494093825, 0.07896450533659015, 0.08491701988894512, 0.03135861530092921,
        0.07424306886115453, 0.477830197261053, 0.0549504872369301, -0.7692533161103258, 0.8791542905841859
    ],
    'D': [
        0.1198510862015136, 0.025031196173344924, 0.14296391233529118, 0.11410227947760104, 0.05832637574628976,
        0.01825102265290096, 0.5710839497853599, 0.09509620753169612, -0.09542828484918, 0.2856206999125722
    ],
    'E': [
        0.14358036423940662, 0.026732254062660336, 0.16510287546539137, 0.12595857073235134, 0.04945144854929502,
        0.043328326890842456, 0.7460336496393934, 0.11882548556958912, -0.06369090952020622, 0.30134188065938444
    ],
    'EQ': [
        0.03072724193227521, 0.005337194824360535, 0.01808257018045191, 0.04711530632401088, 0.012981551049913394, 0.0,
        0.5, 0.00597236326245772, -0.7635106423281369, 0.7754553688530524
    ],
    'ORACLE': [
        0.17957514055421, 0.012543582154651645, 0.17956804287560935, 0.15623706785775254, 0.08054265350806322, 0.0,
        0.9996589198277444, 0.1548202618843925, -0.10241271186404091, 0.4120532356328259
    ],
}


@pytest.mark.slow
def test_a_small_sweep_prints_the_pinned_numbers(tmp_path):
    spec = SweepSpec.default(["A", "C", "D", "E"], baselines=("equal", "oracle"), seeds=(0, 1), n_days=90,
                             n_boot=200)
    table = run_ablation(spec, tmp_path, plot=False).table.set_index("config")
    assert list(table.index) == list(PINNED)
    for config, values in PINNED.items():
        got = table.loc[config, COLUMNS].to_numpy(dtype=float)
        np.testing.assert_allclose(got, values, rtol=0, atol=1e-12, equal_nan=True, err_msg=f"config {config} moved")
