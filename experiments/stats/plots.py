"""Figures of experiments: the ablation's Rank IC and weight trajectories, and RL learning curves.

Plotting is optional (``pip install 'mass-mechanism[plot]'``): matplotlib is imported inside each
function and a missing one returns None instead of failing a sweep or a training run whose numbers
are already on disk. Figures are drawn on an Agg canvas (no display, safe in workers and CI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.stats.report import HEADLINE, summarise_runs


def plot_ablation(daily: pd.DataFrame, weights: pd.DataFrame, table: pd.DataFrame, path: Path,
                  *, headline: str = HEADLINE) -> Path | None:
    """Rank IC by config (bars: mean with its 95% CI, dots: seed means) and weight trajectories d_t
    (first seed of each config, stacked). Returns None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    runs = summarise_runs(daily)
    names = list(table["config"])
    traj = [n for n in names if n in set(weights["config"])]
    ncol = 4
    nrow = 1 + -(-len(traj) // ncol)
    fig = Figure(figsize=(4 * ncol, 3.2 * nrow), constrained_layout=True)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(nrow, ncol)
    ax = fig.add_subplot(gs[0, :])
    x = np.arange(len(names))
    comps = [("signal", headline), ("consensus", headline.replace("signal", "consensus"))]
    width = 0.38
    for j, (lab, m) in enumerate(comps):
        means = table[f"{m}_mean"].to_numpy()
        lo, hi = (table.get(f"{m}_mean_{e}", table[f"{m}_mean"]).to_numpy() for e in ("lo", "hi"))
        err = np.nan_to_num(np.vstack([means - lo, hi - means]))  # the CI, not the seed spread
        xs = x + (j - 0.5) * width
        ax.bar(xs, means, width, yerr=err, capsize=3, label=f"{lab} ({m.rsplit('_', 1)[1]})", alpha=0.8)
        for i, n in enumerate(names):
            v = runs.loc[runs["config"] == n, m].to_numpy()
            ax.plot(np.full(v.size, xs[i]), v, "k.", ms=4)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [n + ("*" if k == "oracle" else "") for n, k in zip(names, table["kind"])])
    ax.set_ylabel("mean Rank IC (evaluation days)")
    ax.set_title("Rank IC by config (bars: mean, 95% CI; dots: seed means; *: hindsight upper bound)")
    ax.legend(loc="best", fontsize=8)
    for i, n in enumerate(traj):
        a = fig.add_subplot(gs[1 + i // ncol, i % ncol])
        w = weights[weights["config"] == n]
        s0 = w["seed"].min()
        piv = w[w["seed"] == s0].pivot(index="date", columns="type", values="weight").sort_index()
        a.stackplot(piv.index, piv.to_numpy().T, linewidth=0, labels=[f"type {k}" for k in piv.columns])
        a.set_ylim(0, 1)
        if i == 0 and piv.shape[1] <= 8:
            a.legend(loc="upper left", fontsize=6, ncol=2, framealpha=0.6)
        a.set_title(f"{n}: weights d_t (seed {s0})", fontsize=9)
        a.tick_params(axis="x", labelrotation=30, labelsize=7)
        a.tick_params(axis="y", labelsize=7)
    fig.savefig(path, dpi=110)
    return path


def plot_curve(curve: pd.DataFrame, path: Path, *, reference: float | None = None, title: str = "") -> Path | None:
    """Episode reward vs timesteps (+ rolling mean); None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(7, 4), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(curve):
        ax.plot(curve["timesteps"], curve["episode_reward"], ".", alpha=0.35, label="episode return")
        roll = curve["episode_reward"].rolling(max(1, min(10, len(curve))), min_periods=1).mean()
        ax.plot(curve["timesteps"], roll, "-", lw=2, label="rolling mean (10 episodes)")
    if reference is not None and np.isfinite(reference):
        ax.axhline(reference, color="k", ls="--", lw=1, label="equal weights (training days)")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("episode return (sum of paid Rank IC payoffs)")
    ax.set_title(title or "learning curve")
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path, dpi=110)
    return path

