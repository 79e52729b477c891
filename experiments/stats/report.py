"""The ablation's statistics and its text table, computed from the tidy per-day Rank ICs.

Kept apart from running the sweep so that a table can be rebuilt from ``daily.parquet`` alone
(``ablation_table(pd.read_parquet(...), configs)``), and so that the numbers a reader sees are
defined in one place:

* per-run means over the evaluation days (``summarise_runs``);
* mean +- std over seeds of the combined signal's and consensus' Rank IC at 1/5/10 days;
* a paired bootstrap CI of each config's difference to the reference (``paired_bootstrap``, defined
  with the other statistics in ``experiments.stats.statistics``): differences are paired by seed and day;
  seeds are resampled with replacement and days in circular blocks as long as the return horizon
  (overlapping forward returns make neighbouring days dependent).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from experiments.stats.statistics import paired_bootstrap
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


def ablation_table(daily: pd.DataFrame, configs: Sequence[AblationConfig], *, reference: str = "A",
                   n_boot: int = 2000, ci: float = 0.95, seed: int = 0,
                   horizons: Sequence[int] = REPORT_HORIZONS) -> pd.DataFrame:
    """Mean +- std over seeds of each table metric, and the paired bootstrap CI vs ``reference``."""
    runs = summarise_runs(daily)
    metrics = table_metrics(horizons)
    ev = daily[daily["eval"]]
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
            row[f"{m}_mean"] = float(r[m].mean())
            row[f"{m}_std"] = float(r[m].std(ddof=1)) if len(r) > 1 else float("nan")
        row["turnover_mean"] = float(r["turnover"].mean())
        row["alpha_mean"] = float(r["alpha"].mean())
        for m in metrics:
            h = int(re.search(r"_(\d+)d$", m).group(1))  # type: ignore[union-attr]
            if reference and cfg.name != reference and (daily["config"] == reference).any():
                x = ev[ev["config"] == cfg.name].pivot(index="seed", columns="day", values=m)
                y = ev[ev["config"] == reference].pivot(index="seed", columns="day", values=m)
                seeds = x.index.intersection(y.index)
                days = x.columns.intersection(y.columns)
                d = x.loc[seeds, days].to_numpy() - y.loc[seeds, days].to_numpy()
                rng = np.random.default_rng([seed, zlib.crc32(cfg.name.encode()), zlib.crc32(m.encode())])
                pt, lo, hi = paired_bootstrap(d, n_boot=n_boot, ci=ci, block=h, rng=rng)
            else:
                pt = lo = hi = float("nan")
            row[f"{m}_diff"], row[f"{m}_lo"], row[f"{m}_hi"] = pt, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, *, reference: str = "A", ci: float = 0.95,
                 headline: str = HEADLINE, horizons: Sequence[int] = REPORT_HORIZONS) -> str:
    """The ablation table as text (Rank IC, mean +- std over seeds; CI of the headline vs reference)."""
    if table.empty:  # e.g. no run had an evaluation day: say so instead of failing on missing columns
        return "(no run had an evaluation day: nothing to tabulate)"
    metrics = table_metrics(horizons)

    def cell(m: float, s: float) -> str:
        return f"{m:+.4f}" + ("" if not np.isfinite(s) else f"±{s:.4f}")

    head = (f"{'config':<12} {'fitness':<12} {'alpha':<9} {'optimiser':<10} {'mu':>6} "
            + " ".join(f"{('sig ' if 'signal' in m else 'cons ') + m.rsplit('_', 1)[1]:>15}" for m in metrics)
            + f"  {'Δ' + headline.rsplit('_', 1)[1] + ' vs ' + reference + f' [{int(ci * 100)}% CI]':>28}"
            + f" {'turnover':>8} {'alpha':>5}")
    lines = [head, "-" * len(head)]
    for _, r in table.iterrows():
        name = r["config"]
        if r["kind"] == "oracle":
            name += "*"
        d, lo, hi = r[f"{headline}_diff"], r[f"{headline}_lo"], r[f"{headline}_hi"]
        ci_txt = "" if not np.isfinite(d) else (f"{d:+.4f} [{lo:+.4f},{hi:+.4f}]" if np.isfinite(lo) else f"{d:+.4f}")
        lines.append(
            f"{name:<12} {str(r['fitness'])[:12]:<12} {str(r['alpha_mode'])[:9]:<9} {str(r['optimizer'])[:10]:<10} "
            f"{r['turnover_penalty']:>6g} " + " ".join(f"{cell(r[m + '_mean'], r[m + '_std']):>15}" for m in metrics)
            + f"  {ci_txt:>28} {r['turnover_mean']:>8.3f} {r['alpha_mean']:>5.2f}")
    if (table["kind"] == "oracle").any():
        lines.append(f"* {ORACLE_LABEL}: best fixed (d, alpha) per column, fitted on the evaluation "
                     "period's realised returns; not achievable by any leader.")
    return "\n".join(lines)

