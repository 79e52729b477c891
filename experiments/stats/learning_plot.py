"""Learning curves of followers that learn to report: private weight, herding and deviation gain against
training steps, one line per rule (seeds averaged, their range shaded), the closed-form equilibrium weight
dashed; the weight and herding axes are scaled to the trained policies (an untrained policy's ratio of two
near-zero coefficients is noise), the gains on a symlog axis. Optional matplotlib, as ``experiments.stats.plots``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: (column, axis label) of the panels, in order; a column missing from the curves is skipped
PANELS = (("private_weight", "private weight"), ("herding", "herding toward the public signal"),
          ("exact_gain", "deviation gain (exact, linear fit)"), ("search_gain", "deviation gain (family, lower bound)"))


def plot_learning_curves(curves: pd.DataFrame, path: Path, closed_form: dict[str, float] | None = None) -> Path | None:
    """One panel per metric in ``PANELS`` present in ``curves`` (columns ``rule``, ``seed``, ``steps`` and the
    metrics); ``closed_form`` maps a rule to its equilibrium private weight (drawn dashed). None without
    matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    panels = [(c, label) for c, label in PANELS if c in curves and curves[c].notna().any()]
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
