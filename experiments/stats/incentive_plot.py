"""The figure of ``mass incentives``: per payment rule, the deviation gain at truth and the efficiency of
each responder's profile (bars with 95% CIs over seeds). Optional matplotlib, as ``experiments.stats.plots``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def plot_incentives(table: pd.DataFrame, path: Path) -> Path | None:
    """Two panels: deviation gain at the truthful profile per rule, and efficiency per rule x responder."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    rules = list(dict.fromkeys(table["rule"]))
    responders = list(dict.fromkeys(table["responder"]))
    fig = Figure(figsize=(max(7.0, 1.1 * len(rules)), 6), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    first = table.drop_duplicates("rule")
    x = np.arange(len(rules))
    err = np.nan_to_num(first["deviation_gain_ci"].to_numpy(dtype=float))
    colors = ["tab:blue" if k == "exact" else "tab:orange" for k in first["gain_kind"]]
    ax1.bar(x, first["deviation_gain"].to_numpy(dtype=float), yerr=err, color=colors)
    ax1.set_xticks(x, rules, rotation=20, fontsize=8)
    ax1.set_ylabel("deviation gain at truth")
    ax1.set_title("blue: exact, orange: lower bound (family search)", fontsize=9)
    width = 0.8 / max(len(responders), 1)
    for j, resp in enumerate(responders):
        sub = table[table["responder"] == resp].set_index("rule").reindex(rules)
        ok = sub["converged"].fillna(False).to_numpy(dtype=bool)
        vals = sub["efficiency"].to_numpy(dtype=float)
        bars = ax2.bar(x + (j - (len(responders) - 1) / 2) * width, vals, width, label=resp,
                       yerr=np.nan_to_num(sub["efficiency_ci"].to_numpy(dtype=float)))
        for b, good in zip(bars, ok):
            if not good:
                b.set_hatch("//")  # not converged: not an equilibrium
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_xticks(x, rules, rotation=20, fontsize=8)
    ax2.set_ylabel("efficiency (Rank IC vs truth)")
    ax2.legend(fontsize=8, title="hatched: not converged (hedge: not certified)", title_fontsize=7)
    fig.savefig(path, dpi=110)
    return path
