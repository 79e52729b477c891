"""Strategic followers in the paper's configs: a run of ``mass ablation --followers hedge`` against the
scripted (truthful) run of the same command, config by config.

Why: the ablation table says how each leader does when the followers report their views; with Hedge
followers (``agents.hedge``) each type learns its report from the pay, so the same table measures what the
leaders' Rank IC is worth once the followers respond to how they are paid. Per config: both runs' 10-day
Rank IC with their CIs (the stored table), the paired difference (same seeds and days, the project's
seed + shared-day interval, ``experiments.stats.inference``), the Hedge run's mean misreport |report -
view| and the strategies its types end on (mean final Hedge weight over types and seeds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.stats.inference import difference_ci

COLUMNS = ("config", "scripted", "scripted_lo", "scripted_hi", "hedge", "hedge_lo", "hedge_hi", "diff",
           "diff_lo", "diff_hi", "misreport", "ends_on")


def compare(scripted: str | Path, hedge: str | Path, horizon: int = 10, top: int = 2,
            configs: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per config run by both ablation folders (``--out`` of each run); see the module docstring."""
    s_dir, h_dir = Path(scripted), Path(hedge)
    ts, th = (pd.read_csv(d / "table.csv").set_index("config") for d in (s_dir, h_dir))
    ds, dh = (pd.read_parquet(d / "daily.parquet") for d in (s_dir, h_dir))
    col = f"ric_signal_{horizon}d"
    rows = []
    for c in configs or [c for c in th.index if c in ts.index and not c.startswith("ORACLE")]:
        a, b = (d[(d["config"] == c) & d["eval"]].pivot(index="seed", columns="day", values=col) for d in (ds, dh))
        ci = difference_ci((b - a).to_numpy(), horizon)
        ends = ends_on(h_dir, c, top)[0]
        mis = float(dh.loc[(dh["config"] == c) & dh["eval"], "misreport"].mean())
        rows.append((c, *(t.loc[c, f"{col}_mean{x}"] for t in (ts, th) for x in ("", "_lo", "_hi")),
                     ci.estimate, ci.lo, ci.hi, mis, ends))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def ends_on(out: str | Path, config: str, top: int = 2) -> tuple[str, float]:
    """Where the Hedge types of ``config``'s stored runs in ablation folder ``out`` end: the ``top`` strategies
    by mean final weight (over types and seeds) as text, and the mean certification gap ("" and NaN: no
    Hedge runs)."""
    weights, gaps, names = [], [], []
    for p in sorted((Path(out) / "runs").glob(f"{config}__seed*.json")):
        meta = json.loads(p.read_text()).get("followers") or {}
        if "final_weights" in meta:
            names = meta["strategies"]
            weights.append(np.asarray(meta["final_weights"]))
            gaps.append(float(meta["gap"]))
    if not weights:
        return "", float("nan")
    w = np.concatenate(weights).mean(0)
    return ", ".join(f"{names[i]} {w[i]:.2f}" for i in np.argsort(-w)[:top]), float(np.mean(gaps))


def markdown(table: pd.DataFrame) -> str:
    """The comparison as the results page prints it."""
    out = ["| config | scripted (truthful) 10d Rank IC [95% CI] | hedge 10d Rank IC [95% CI] | hedge - scripted "
           "[95% CI] | mean misreport | the types end on (mean final weight) |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        out.append(f"| {r.config} | {r.scripted:+.4f} [{r.scripted_lo:+.4f}, {r.scripted_hi:+.4f}] | {r.hedge:+.4f} "
                   f"[{r.hedge_lo:+.4f}, {r.hedge_hi:+.4f}] | {r.diff:+.4f} [{r.diff_lo:+.4f}, {r.diff_hi:+.4f}] | "
                   f"{r.misreport:.3f} | {r.ends_on} |")
    return "\n".join(out)


if __name__ == "__main__":  # python -m experiments.studies.strategic SCRIPTED_OUT HEDGE_OUT
    import sys

    print(markdown(compare(sys.argv[1], sys.argv[2])))
