"""Strategic followers in the paper's configs, config by config, each against its truthful control:

* **Hedge rows**: a run of ``mass ablation --followers hedge`` against the scripted (truthful) run of the same
  command. Why: the ablation table says how each leader does when the followers report their views; with
  Hedge followers (``agents.hedge``) each type learns its report from the pay, so the same table measures what
  the leaders' Rank IC is worth once the followers respond to how they are paid. Per config: both runs' 10-day
  Rank IC with their CIs (the stored table), the paired difference (same seeds and days, the project's seed +
  shared-day interval, ``experiments.stats.inference``), the Hedge run's mean misreport |report - view| and
  the strategies its types end on (mean final Hedge weight over types and seeds).
* **LLM rows**: ``mass ablation --followers llm --llm-told RULE`` (LLM followers told the payment rule, their
  type's pay and yesterday's consensus: ``agents.llm.told``) against ``--llm-told view`` (the same followers,
  same candidates and views, reporting their views). Per config: both runs' Rank IC with CIs, the paired
  difference, the told run's mean misreport and its mean move toward the consensus shown, sign(consensus -
  view) x (report - view), with a t CI over its (seed, day) values.

``study`` runs the four sweeps (``experiments.cli``) and prints both tables; a rerun with ``--llm-replay`` and
the first run's cache answers every LLM prompt from the cache (a missing answer is an error, so it makes no
model call).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.stats.inference import DifferenceCI, difference_ci, mean_ci

COLUMNS = ("config", "scripted", "scripted_lo", "scripted_hi", "hedge", "hedge_lo", "hedge_hi", "diff",
           "diff_lo", "diff_hi", "misreport", "ends_on")
LLM_COLUMNS = ("config", "view", "view_lo", "view_hi", "told", "told_lo", "told_hi", "diff", "diff_lo", "diff_hi",
               "misreport", "toward", "toward_ci", "days")


def paired(control: str | Path, other: str | Path, horizon: int = 10, configs: Sequence[str] | None = None
           ) -> Iterator[tuple[str, tuple[float, ...], DifferenceCI, pd.DataFrame]]:
    """Per config run by both ablation folders (``--out`` of each; the oracle left out): its name, the two
    runs' ``horizon``-day Rank IC mean, lo, hi (control first, from the stored tables), the paired difference
    other - control and the other run's evaluation days (``daily.parquet`` rows)."""
    c_dir, o_dir = Path(control), Path(other)
    tc, to = (pd.read_csv(d / "table.csv").set_index("config") for d in (c_dir, o_dir))
    dc, do = (pd.read_parquet(d / "daily.parquet") for d in (c_dir, o_dir))
    col = f"ric_signal_{horizon}d"
    for c in configs or [c for c in to.index if c in tc.index and not c.startswith("ORACLE")]:
        a, b = (d[(d["config"] == c) & d["eval"]].pivot(index="seed", columns="day", values=col) for d in (dc, do))
        ci = difference_ci((b - a).to_numpy(), horizon)
        ics = tuple(float(t.loc[c, f"{col}_mean{x}"]) for t in (tc, to) for x in ("", "_lo", "_hi"))
        yield c, ics, ci, do[(do["config"] == c) & do["eval"]]


def compare(scripted: str | Path, hedge: str | Path, horizon: int = 10, top: int = 2,
            configs: Sequence[str] | None = None) -> pd.DataFrame:
    """The Hedge rows: one per config run by both ablation folders; see the module docstring."""
    rows = [(c, *ics, ci.estimate, ci.lo, ci.hi, float(ev["misreport"].mean()), ends_on(hedge, c, top)[0])
            for c, ics, ci, ev in paired(scripted, hedge, horizon, configs)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def compare_llm(view: str | Path, told: str | Path, horizon: int = 10,
                configs: Sequence[str] | None = None) -> pd.DataFrame:
    """The LLM rows: one per config run by both folders (``--llm-told view`` and ``--llm-told RULE``; the
    told run's misreport and move toward the consensus over its evaluation days); see the module docstring."""
    rows = []
    for c, ics, ci, ev in paired(view, told, horizon, configs):
        toward = [x for seed, days in ev.groupby("seed")["day"] for x in told_moves(told, c, int(seed), set(days))]
        m, hw = mean_ci(toward)
        rows.append((c, *ics, ci.estimate, ci.lo, ci.hi, float(ev["misreport"].mean()), m, hw,
                     int(np.isfinite(toward).sum())))
    return pd.DataFrame(rows, columns=list(LLM_COLUMNS))


def told_moves(out: str | Path, config: str, seed: int, days: set[int]) -> list[float]:
    """The told followers' daily mean move toward the consensus shown on ``days`` of a stored run (``runs/
    CONFIG__seedS.json``, ``followers.told``: ``LLMFollowers.report``); NaN on a day with none shown."""
    meta = json.loads((Path(out) / "runs" / f"{config}__seed{seed}.json").read_text()).get("followers") or {}
    told = meta.get("told")
    if told is None:
        raise ValueError(f"{out}: run {config} seed {seed} has no told followers (run it with --llm-told RULE)")
    return [float(x) for d, x in zip(told["days"], told["toward"]) if d in days]


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


def _ci(x: float, lo: float, hi: float) -> str:
    return f"{x:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def markdown(table: pd.DataFrame) -> str:
    """The Hedge comparison as the results page prints it."""
    out = ["| config | scripted (truthful) 10d Rank IC [95% CI] | hedge 10d Rank IC [95% CI] | hedge - scripted "
           "[95% CI] | mean misreport | the types end on (mean final weight) |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        out.append(f"| {r.config} | {_ci(r.scripted, r.scripted_lo, r.scripted_hi)} | "
                   f"{_ci(r.hedge, r.hedge_lo, r.hedge_hi)} | {_ci(r.diff, r.diff_lo, r.diff_hi)} | "
                   f"{r.misreport:.3f} | {r.ends_on} |")
    return "\n".join(out)


def markdown_llm(table: pd.DataFrame, rule: str = "weighted_skill") -> str:
    """The LLM comparison as the results page prints it."""
    out = [f"| config | LLM, views (not told) 10d Rank IC [95% CI] | LLM told {rule} 10d Rank IC [95% CI] | told - "
           "views [95% CI] | mean misreport | move toward the consensus ± 95% CI (days) |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        out.append(f"| {r.config} | {_ci(r.view, r.view_lo, r.view_hi)} | {_ci(r.told, r.told_lo, r.told_hi)} | "
                   f"{_ci(r.diff, r.diff_lo, r.diff_hi)} | {r.misreport:.3f} | {r.toward:+.4f} ±{r.toward_ci:.4f} "
                   f"({r.days}) |")
    return "\n".join(out)


if __name__ == "__main__":
    from experiments.studies.strategic_run import main

    raise SystemExit(main())
