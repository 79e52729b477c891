"""The learning-curves figure of ``mass incentives --curves``: the Hedge followers' private weight, herding,
deviation gain (the day's best-in-library gain over the pay received) and certification gap against rounds,
one line per payment rule. Optional matplotlib, as ``experiments.stats.plots``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PANELS = (("private_weight", "private weight of the reports"), ("herding", "herding (corr with anchor, vs view)"),
          ("deviation_gain", "deviation gain (day's regret)"), ("gap", "certification gap (running)"))


def smooth(values: list[float], window: int) -> np.ndarray:
    """Trailing moving average over ``window`` rounds, NaN-aware (the daily numbers are noisy)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    num = np.convolve(np.where(ok, v, 0.0), np.ones(window))[: v.size]
    den = np.convolve(ok.astype(float), np.ones(window))[: v.size]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def plot_learning_curves(curves: dict[str, dict[str, list[float]]], path: Path) -> Path | None:
    """Four panels against rounds (moving average over ~5% of the rounds, the gap as it is)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(11, 7), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(2, 2, i + 1) for i in range(len(PANELS))]
    for rule, c in curves.items():
        n = len(c["gap"])
        window = max(1, n // 20)
        rounds = np.arange(1, n + 1)
        for ax, (name, _) in zip(axes, PANELS):
            ax.plot(rounds, c[name] if name == "gap" else smooth(c[name], window), label=rule, lw=1.2)
    for ax, (name, title) in zip(axes, PANELS):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("round (day)")
        if name == "gap":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle("Hedge followers: learning curves (mean over seeds)", fontsize=10)
    fig.savefig(path, dpi=110)
    return path
