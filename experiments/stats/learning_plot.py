"""Learning-curve figures of followers that learn to report, one line per payment rule. Optional matplotlib,
as ``experiments.stats.plots``.

* ``plot_hedge_curves`` (``mass incentives --curves``): the Hedge followers' private weight, herding,
  deviation gain (the day's best-in-library gain over the pay received) and certification gap against rounds.
* ``plot_training_curves`` (``experiments.studies.rl_followers``): RL followers' private weight, herding and
  deviation gain against training steps (seeds averaged, their range shaded), the closed-form equilibrium
  weight dashed; the weight and herding axes are scaled to the trained policies (an untrained policy's ratio
  of two near-zero coefficients is noise), the gains on a symlog axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HEDGE_PANELS = (("private_weight", "private weight of the reports"), ("herding", "herding (corr with anchor, vs view)"),
          ("deviation_gain", "deviation gain (day's regret)"), ("gap", "certification gap (running)"))


def smooth(values: list[float], window: int) -> np.ndarray:
    """Trailing moving average over ``window`` rounds, NaN-aware (the daily numbers are noisy)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    num = np.convolve(np.where(ok, v, 0.0), np.ones(window))[: v.size]
    den = np.convolve(ok.astype(float), np.ones(window))[: v.size]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def plot_hedge_curves(curves: dict[str, dict[str, list[float]]], path: Path) -> Path | None:
    """Four panels against rounds (moving average over ~5% of the rounds, the gap as it is)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(11, 7), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(2, 2, i + 1) for i in range(len(HEDGE_PANELS))]
    for rule, c in curves.items():
        n = len(c["gap"])
        window = max(1, n // 20)
        rounds = np.arange(1, n + 1)
        for ax, (name, _) in zip(axes, HEDGE_PANELS):
            ax.plot(rounds, c[name] if name == "gap" else smooth(c[name], window), label=rule, lw=1.2)
    for ax, (name, title) in zip(axes, HEDGE_PANELS):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("round (day)")
        if name == "gap":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle("Hedge followers: learning curves (mean over seeds)", fontsize=10)
    fig.savefig(path, dpi=110)
    return path


#: (column, axis label) of the panels, in order; a column missing from the curves is skipped
TRAINING_PANELS = (("private_weight", "private weight"), ("herding", "herding toward the public signal"),
          ("exact_gain", "deviation gain (exact, linear fit)"), ("search_gain", "deviation gain (family, lower bound)"))


def plot_training_curves(curves: pd.DataFrame, path: Path, closed_form: dict[str, float] | None = None) -> Path | None:
    """One panel per metric in ``TRAINING_PANELS`` present in ``curves`` (columns ``rule``, ``seed``, ``steps`` and the
    metrics); ``closed_form`` maps a rule to its equilibrium private weight (drawn dashed). None without
    matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    panels = [(c, label) for c, label in TRAINING_PANELS if c in curves and curves[c].notna().any()]
    fig = Figure(figsize=(5.0 * len(panels), 4.0), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, len(panels), j + 1) for j in range(len(panels))]
    for k, (rule, sub) in enumerate(curves.groupby("rule", sort=False)):
        color = f"C{k % 10}"
        for ax, (col, label) in zip(axes, panels):
            g = sub.groupby("steps")[col]
            steps = np.asarray(g.mean().index, dtype=float)
            ax.plot(steps, g.mean().to_numpy(), color=color, label=str(rule))
            if sub["seed"].nunique() > 1:
                ax.fill_between(steps, g.min().to_numpy(), g.max().to_numpy(), color=color, alpha=0.2)
            if col == "private_weight" and closed_form and rule in closed_form:
                ax.axhline(closed_form[rule], color=color, linestyle="--", linewidth=1)
            if col.endswith("_gain"):
                ax.set_yscale("symlog", linthresh=1e-5)
            ax.set_xlabel("training steps (follower-stock reports)")
            ax.set_ylabel(label)
    trained = curves[curves["steps"] > 0]
    for ax, (col, _) in zip(axes, panels):  # an untrained policy's ratios are noise: scale to the trained ones
        vals = trained[col].dropna().to_numpy(dtype=float)
        if col in ("private_weight", "herding") and vals.size:
            extra = list(closed_form.values()) if closed_form and col == "private_weight" else []
            lo, hi = float(np.nanmin([*vals, *extra])), float(np.nanmax([*vals, *extra]))
            pad = 0.1 * (hi - lo) + 1e-3
            ax.set_ylim(lo - pad, hi + pad)
    if axes:
        axes[0].legend(fontsize=8, title="dashed: closed form", title_fontsize=8)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
