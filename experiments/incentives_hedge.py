"""The ``hedge`` rows of ``mass incentives``: no-regret followers, their certification gap and learning curves.

Why: the other responders say what *rational* followers would report; a ``hedge`` row says what *learning*
ones do (``mass_env.incentives.learning``: Hedge over a strategy library, one round per day) and how far their
play is from a coarse correlated equilibrium (the certification gap, the largest average regret). A gap
above ``--hedge-tol`` of the library's pay range is flagged ``NOT certified``; a learned profile is never
printed as an equilibrium. On the information market the learners play ``--rounds`` fresh days of the same
market (seeded per seed); with ``--data`` they play the recorded days once.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.sweep import checks
from mass_env.incentives import InformationMarket
from mass_env.incentives.evaluate import HEDGE_TOLERANCE, HedgeSettings, Problem

CURVES = ("private_weight", "herding", "deviation_gain", "gap")



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounds", type=checks.positive_int, default=200,
                   help="hedge rows on the information market: rounds (days) the learners play (default 200)")
    p.add_argument("--eta", type=checks.positive_float, default=None,
                   help="hedge learning rate (default: the regret bound's rate sqrt(8 ln K / T) / pay range)")
    p.add_argument("--hedge-tol", type=checks.positive_float, default=HEDGE_TOLERANCE,
                   help="certify a hedge row when its gap is at most this fraction of the pay range "
                        f"(default {HEDGE_TOLERANCE:g})")
    p.add_argument("--curves", action="store_true",
                   help="write the hedge rows' learning curves (figure hedge_curves.png and the JSON)")


def settings(args: argparse.Namespace, seed: int) -> HedgeSettings:
    return HedgeSettings(eta=args.eta, seed=seed, tolerance=args.hedge_tol)


def key_extra(args: argparse.Namespace) -> dict[str, Any]:
    """What a stored hedge row depends on besides the problem, rule and seed."""
    return {"rounds": args.rounds if args.data is None else None, "eta": args.eta, "tol": args.hedge_tol}


def market_problem(market: InformationMarket, rounds: int, seed: int) -> Problem:
    """The information market with ``rounds`` days: the problem the learners play and are measured on."""
    return Problem.from_market(replace(market, n_days=rounds), seed)


def status(grp: pd.DataFrame, tolerance: float) -> str:
    """The table's status of a hedge row: certified in every seed, or how many seeds were not."""
    bad = int((~grp["converged"].astype(bool)).sum())
    rel = float(np.nanmax(grp["certification_rel"]))
    if bad:
        return f"NOT certified ({bad}/{len(grp)} seeds; max gap {100 * rel:.1f}% > {100 * tolerance:g}%)"
    return f"eps-CCE (gap <= {100 * rel:.1f}% of pay range)"


def curves(per_seed: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Learning curves per rule, the mean over seeds of each curve (rounds on the x axis)."""
    out: dict[str, dict[str, list[float]]] = {}
    rules = list(dict.fromkeys(r["rule"] for r in per_seed if r.get("curves")))
    for rule in rules:
        runs = [r["curves"] for r in per_seed if r["rule"] == rule and r.get("curves")]
        n = min(len(c["gap"]) for c in runs)
        with np.errstate(invalid="ignore"):
            out[rule] = {name: [float(v) for v in np.nanmean([np.asarray(c[name][:n], float) for c in runs], 0)]
                         if any(np.isfinite(np.asarray(c[name][:n], float)).any() for c in runs)
                         else [float("nan")] * n for name in CURVES}
        out[rule]["seeds"] = [float(len(runs))]
    return out


def write_curves(args: argparse.Namespace, per_seed: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """``--curves``: the hedge rows' learning curves (mean over seeds) as a figure and as numbers."""
    from experiments.stats.learning_plot import plot_hedge_curves

    got = curves(per_seed)
    if not got:
        raise SystemExit("mass incentives: error: --curves needs hedge rows (add hedge to --responders)")
    plot = plot_hedge_curves(got, out / "hedge_curves.png")
    print(f"learning curves of {len(got)} rule(s) over rounds" + (f": wrote {plot}" if plot else ""))
    return got
