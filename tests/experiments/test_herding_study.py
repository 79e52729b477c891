"""The herding replay (``experiments.studies.herding``) and what ``mass incentives --herding`` prints of it."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.incentives import print_herding_contrasts
from experiments.studies.herding import herding_gains
from mass_env import SyntheticConfig, build_types, synthetic_market
from mass_env.game import GameConfig


@pytest.fixture(scope="module")
def gains():
    panel, _ = synthetic_market(SyntheticConfig(n_days=70), seed=0)
    return herding_gains(panel, build_types(3, 2), GameConfig(follower_reward="weighted_skill"), "equal", 0, [0.0, 1.0])


def test_no_herding_gains_nothing_and_full_herding_misreports(gains):
    none, full = gains
    assert none.b == 0.0 and np.array_equal(none.gain, np.zeros(3)) and np.all(none.misreport == 0)
    assert full.b == 1.0 and np.all(full.misreport > 0) and np.any(full.gain != 0)
    np.testing.assert_array_equal(none.truth_pay, full.truth_pay)  # one truthful run per (principal, seed)


def test_the_contrast_is_paired_by_seed_and_type_with_a_ci_over_seeds(capsys):
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(4):
        base = rng.normal(size=5)  # shared by both principals: cancels in the pairing
        for principal, shift in (("equal", 0.0), ("sa", 0.01)):
            rows.append({"principal": principal, "seed": seed, "b": 1.0,
                         "gain": (base + shift + 1e-3 * seed).tolist()})
    print_herding_contrasts(rows)
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.split()[:4] == ["sa", "-", "equal", "1"]
    assert "+0.0100 ±0.0000 (4 seeds)" in line
    print_herding_contrasts([r for r in rows if r["principal"] == "sa"])  # one principal: no contrast
    assert capsys.readouterr().out == ""
