"""experiments.paper.claims on a daily frame with a known answer: one interval per contrast everywhere
(the ablation table and the claims print the same CI), Holm-corrected combined claims, the ratio claim
only once its denominator is pinned down."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.paper.claims import Evidence, judge_claims
from experiments.stats.inference import difference_ci
from experiments.stats.report import ablation_table, format_table
from experiments.stats.statistics import HOLDS, UNRESOLVED
from experiments.sweep.configs import CONFIGS
from mass_env.game.components import ric_column

SEEDS, DAYS = 4, 120


def _daily(level: dict[str, float], seed: int = 0, consensus: float = 2.0) -> pd.DataFrame:
    """Seeds x days Rank ICs: a config's level + market noise every config and seed shares + own noise."""
    rng = np.random.default_rng(seed)
    market = 0.05 * rng.standard_normal(DAYS)
    rows = []
    for c, mu in level.items():
        for s in range(SEEDS):
            own = 0.02 * rng.standard_normal(DAYS)
            sig = mu + market + own
            frame = {"config": c, "seed": s, "day": np.arange(DAYS), "eval": True, "turnover": 0.1, "alpha": 0.3}
            for h in (1, 5, 10):
                frame[ric_column("signal", h)] = sig
                frame[ric_column("consensus", h)] = consensus * sig
            rows.append(pd.DataFrame(frame))
    return pd.concat(rows, ignore_index=True)


def test_the_table_and_the_claims_print_one_interval_per_contrast():
    daily = _daily({"A": 0.05, "D": 0.03, "E": 0.04, "F": 0.02})
    table = ablation_table(daily, [CONFIGS[c] for c in "ADEF"]).set_index("config")
    col = ric_column("signal", 10)
    ev = Evidence(daily)
    for other in "DEF":
        ci = ev.diff("A", other)  # the claim's A - X is the table's X - A, the same interval mirrored
        row = table.loc[other]
        assert (row[f"{col}_diff"], row[f"{col}_lo"], row[f"{col}_hi"]) == (-ci.estimate, -ci.hi, -ci.lo)
        assert row[f"{col}_mdd"] == ci.mdd()
    claims = judge_claims(daily).set_index("key")
    for other in "DEF":
        ci = ev.diff("A", other)
        assert f"A - {other} = {ci.estimate:+.3f} [{ci.lo:+.3f}, {ci.hi:+.3f}]" in claims.loc["A>D,E,F", "estimate"]
    level = difference_ci(ev.series("A"), 10)
    assert (table.loc["A", f"{col}_mean_lo"], table.loc["A", f"{col}_mean_hi"]) == (level.lo, level.hi)
    text = format_table(table.reset_index())
    assert "sd seeds" in text and "not the precision of the mean" in text


def test_a_combined_claim_holds_only_when_every_part_holds_at_its_holm_level():
    big = judge_claims(_daily({"A": 0.30, "D": 0.0, "E": 0.0, "F": 0.0}, seed=1)).set_index("key")
    assert big.loc["A>D,E,F", "verdict"] == HOLDS and "Holm p" in big.loc["A>D,E,F", "estimate"]
    none = judge_claims(_daily({"A": 0.0, "D": 0.0, "E": 0.0, "F": 0.0}, seed=2)).set_index("key")
    assert none.loc["A>D,E,F", "verdict"] == UNRESOLVED


def test_the_ratio_claim_waits_for_a_denominator_that_excludes_zero():
    noisy = judge_claims(_daily({"A": 0.0}, seed=3)).set_index("key")
    assert noisy.loc["consensus~2x", "verdict"] == UNRESOLVED
    assert "does not exclude zero" in noisy.loc["consensus~2x", "estimate"]
    clear = judge_claims(_daily({"A": 0.3}, seed=4, consensus=2.0)).set_index("key")
    assert clear.loc["consensus~2x", "verdict"] == HOLDS  # exactly 2x, the band is [1.33, 3]
