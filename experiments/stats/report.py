"""The ablation's statistics and its text table, computed from the tidy per-day Rank ICs.

Kept apart from running the sweep so that a table can be rebuilt from ``daily.parquet`` alone
(``ablation_table(pd.read_parquet(...), configs)``), and so that the numbers a reader sees are
defined in one place:

* per-run means over the evaluation days (``summarise_runs``);
* the mean over seeds and days of the combined signal's and consensus' Rank IC at 1/5/10 days, with
  its t interval (``experiments.stats.inference.difference_ci`` of the config's seeds x days array:
  one standard error from the seed part and the day noise every seed shares, Hansen-Hodrick with lag
  ``h - 1`` for overlapping h-day returns, Satterthwaite degrees of freedom);
* the standard deviation over seeds of the per-seed means, labelled as such: it is the spread of the
  seeds, not the precision of the mean (it leaves out the day noise every seed shares);
* the CI of each config's difference to the reference from the same ``difference_ci`` (differences
  paired by seed and day), its standard error and its minimum detectable difference (same se and df),
  so that every table and the paper's claims print one interval per contrast.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from experiments.stats.inference import difference_ci
from experiments.sweep.configs import AblationConfig
from mass_env.data.returns import REPORT_HORIZONS
from mass_env.game.components import Component, ric_column
from mass_env.game.metrics import REPORTED_METRICS

#: Components of the reported table (the oracle is fitted for these).
TABLE_COMPONENTS = (Component.SIGNAL, Component.CONSENSUS)
ORACLE_LABEL = "oracle (hindsight upper bound)"

#: The headline column: the combined signal's Rank IC at the paper's 10-day horizon.
HEADLINE = ric_column(Component.SIGNAL, 10)

def table_metrics(horizons: Sequence[int] = REPORT_HORIZONS) -> list[str]:
    """The table's metric columns: each of ``TABLE_COMPONENTS`` at each horizon."""
    return [ric_column(c, h) for c in TABLE_COMPONENTS for h in horizons]


def summarise_runs(daily: pd.DataFrame) -> pd.DataFrame:
    """Per-run means over the evaluation days (one row per config and seed): ``runs.csv`` of a sweep.

    ``runs.csv`` columns, one row per (config, seed) run:

    ======================  =================================================================================
    column                  meaning
    ======================  =================================================================================
    ``config``              the row's name: a paper config (A-F, E-512, A-512), a baseline (EQ, RAND,
                            ORACLE; ``-512`` or ``-KxM`` at other populations) or an extra ``--principal``
    ``seed``                the run's seed (followers' draws and the leader's randomness)
    ``ric_C_Hd``            mean over the evaluation days of the daily Rank IC (Spearman correlation across
                            stocks) between component ``C`` and the ``H``-day forward return; ``C`` is
                            ``signal`` (the combined signal the leader's weights and alpha make),
                            ``consensus`` (the weighted mean of the followers' views) or ``disagreement``
                            (their weighted standard deviation, which the signal subtracts); ``H`` is 1, 5,
                            10 and the payoff horizon (``mass_env.game.aggregation``)
    ``turnover``            mean daily turnover of the leader's weights, ``||d_t - d_{t-1}||_1 / 2``
    ``alpha``               mean of the leader's alpha (the signal's weight on consensus vs disagreement; 0.5 fixed
                            for A and B and the baselines)
    ``eval_days``           number of evaluation days (the episode's days after the 21-day warm-up)
    ======================  =================================================================================

    Days without a Rank IC (fewer than 5 scorable stocks, or a return not yet realised) are skipped in the
    means. ``table.csv`` aggregates these rows over seeds (``ablation_table``).
    """
    ev = daily[daily["eval"]]
    cols = [c for c in daily.columns if c.split("_", 1)[0] in REPORTED_METRICS] + ["turnover", "alpha"]
    out = ev.groupby(["config", "seed"], sort=False)[cols].mean()
    out["eval_days"] = ev.groupby(["config", "seed"], sort=False).size()
    return out.reset_index()


def seed_day(ev: pd.DataFrame, config: str, column: str) -> pd.DataFrame:
    """One config's evaluation-day values of ``column`` as a seeds x days frame."""
    return ev[ev["config"] == config].pivot(index="seed", columns="day", values=column)


def ablation_table(daily: pd.DataFrame, configs: Sequence[AblationConfig], *, reference: str = "A",
                   ci: float = 0.95, horizons: Sequence[int] = REPORT_HORIZONS) -> pd.DataFrame:
    """Per config and table metric: the mean with its CI (``_mean``, ``_mean_lo``, ``_mean_hi``), the
    spread of the seed means (``_std``: sd over seeds) and the difference to ``reference`` with its CI,
    standard error and MDD (``_diff``, ``_lo``, ``_hi``, ``_se``, ``_mdd``), all from ``difference_ci``."""
    runs = summarise_runs(daily)
    metrics = table_metrics(horizons)
    ev = daily[daily["eval"]]
    has_ref = bool(reference) and (daily["config"] == reference).any()
    rows = []
    for cfg in configs:
        r = runs[runs["config"] == cfg.name]
        if r.empty:
            continue
        row: dict[str, Any] = {"config": cfg.name, "label": cfg.label or cfg.name, "kind": cfg.kind,
                               "fitness": cfg.fitness, "alpha_mode": cfg.alpha, "optimizer": cfg.optimizer,
                               "turnover_penalty": cfg.turnover_penalty,
                               "population": f"{cfg.n_types}x{cfg.agents_per_type}",
                               "n_seeds": int(r["seed"].nunique()), "eval_days": float(r["eval_days"].mean())}
        for m in metrics:
            h = int(re.search(r"_(\d+)d$", m).group(1))  # type: ignore[union-attr]
            level = difference_ci(seed_day(ev, cfg.name, m).to_numpy(dtype=np.float64), h, ci)
            row[f"{m}_mean"] = float(r[m].mean())
            row[f"{m}_mean_lo"], row[f"{m}_mean_hi"] = level.lo, level.hi
            row[f"{m}_std"] = float(r[m].std(ddof=1)) if len(r) > 1 else float("nan")
        row["turnover_mean"] = float(r["turnover"].mean())
        row["alpha_mean"] = float(r["alpha"].mean())
        for m in metrics:
            h = int(re.search(r"_(\d+)d$", m).group(1))  # type: ignore[union-attr]
            pt = lo = hi = se = mdd = float("nan")
            if has_ref and cfg.name != reference:
                x, y = seed_day(ev, cfg.name, m), seed_day(ev, reference, m)
                seeds, days = x.index.intersection(y.index), x.columns.intersection(y.columns)
                d = x.loc[seeds, days].to_numpy(dtype=np.float64) - y.loc[seeds, days].to_numpy(dtype=np.float64)
                if d.size:
                    dc = difference_ci(d, h, ci)
                    pt, lo, hi, se, mdd = dc.estimate, dc.lo, dc.hi, dc.se, dc.mdd()
            row[f"{m}_diff"], row[f"{m}_lo"], row[f"{m}_hi"] = pt, lo, hi
            row[f"{m}_se"], row[f"{m}_mdd"] = se, mdd
        rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, *, reference: str = "A", ci: float = 0.95,
                 headline: str = HEADLINE, horizons: Sequence[int] = REPORT_HORIZONS) -> str:
    """The ablation table as text: the mean Rank IC of every table metric; for the headline its CI, the
    sd over seeds (labelled: seed spread, not precision) and the CI of the difference to ``reference``."""
    if table.empty:  # e.g. no run had an evaluation day: say so instead of failing on missing columns
        return "(no run had an evaluation day: nothing to tabulate)"
    metrics = table_metrics(horizons)
    pct = f"{int(round(ci * 100))}% CI"
    h = headline.rsplit("_", 1)[1]

    def iv(m: float, lo: float, hi: float) -> str:
        if not np.isfinite(m):
            return ""
        return f"{m:+.4f} [{lo:+.4f},{hi:+.4f}]" if np.isfinite(lo) and np.isfinite(hi) else f"{m:+.4f}"

    head = (f"{'config':<12} {'fitness':<12} {'alpha':<9} {'optimiser':<10} {'mu':>6} "
            + " ".join(f"{('sig ' if 'signal' in m else 'cons ') + m.rsplit('_', 1)[1]:>9}" for m in metrics)
            + f"  {'sig ' + h + f' mean [{pct}]':>27} {'sd seeds':>8}"
            + f"  {'Δ' + h + ' vs ' + reference + f' [{pct}]':>27}"
            + f" {'turnover':>8} {'alpha':>5}")
    lines = [head, "-" * len(head)]
    for _, r in table.iterrows():
        name = r["config"]
        if r["kind"] == "oracle":
            name += "*"
        sd = r[f"{headline}_std"]
        lines.append(
            f"{name:<12} {str(r['fitness'])[:12]:<12} {str(r['alpha_mode'])[:9]:<9} {str(r['optimizer'])[:10]:<10} "
            f"{r['turnover_penalty']:>6g} " + " ".join(f"{r[m + '_mean']:>+9.4f}" for m in metrics)
            + f"  {iv(r[f'{headline}_mean'], r[f'{headline}_mean_lo'], r[f'{headline}_mean_hi']):>27}"
            + f" {(f'{sd:.4f}' if np.isfinite(sd) else ''):>8}"
            + f"  {iv(r[f'{headline}_diff'], r[f'{headline}_lo'], r[f'{headline}_hi']):>27}"
            + f" {r['turnover_mean']:>8.3f} {r['alpha_mean']:>5.2f}")
    lines.append(f"Rank IC means over seeds and days. {pct}: t interval with one standard error from the seed "
                 f"part and the day noise all seeds share (Hansen-Hodrick, lag h-1); sd seeds: the spread of "
                 f"the seed means, not the precision of the mean.")
    if (table["kind"] == "oracle").any():
        lines.append(f"* {ORACLE_LABEL}: best fixed (d, alpha) per column, fitted on the evaluation "
                     "period's realised returns; not achievable by any leader.")
    return "\n".join(lines)
