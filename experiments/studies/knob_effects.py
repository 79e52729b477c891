"""Each fidelity knob switched alone (``experiments.paper.fidelity``): its effect on the SSE50 ablation.

For every field of ``Fidelity`` this runs the clean sweep with that one field at its ``paper`` value
(the two window dates together), plus the clean and the full paper preset, on the shared SSE50 data
with scripted followers, and prints a markdown table of the 10-day signal Rank IC (mean +- std over
seeds) per config and the change against clean (mean of the per-seed differences). A knob that
cannot change a config (``cmaes`` for SA, ``sa_alpha`` for all but C) is not rerun for it.

    python -m experiments.studies.knob_effects --data sse50 --seeds 3 --out /tmp/knob_runs > knob_effects.md

Runs are stored under ``--out`` per condition (resumable, like ``mass ablation``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.paper.fidelity import PRESETS, WINDOW_FIELDS, Fidelity, fidelity_from
from experiments.sweep.configs import CONFIGS
from experiments.sweep.engine import run_ablation
from experiments.sweep.markets import DATA_HELP
from experiments.sweep.spec import SweepSpec

HEAD = "ric_signal_10d"
#: configs a knob can change (None: all)
ONLY = {"cmaes": ("D", "E", "F", "E-512"), "sa_alpha": ("C",)}


def conditions() -> list[tuple[str, Fidelity]]:
    paper = PRESETS["paper"]
    out = [("clean", PRESETS["clean"])]
    for name in Fidelity.names():
        if name in WINDOW_FIELDS[1:]:
            continue
        if name == WINDOW_FIELDS[0]:
            out.append(("eval window", fidelity_from(**{f: getattr(paper, f) for f in WINDOW_FIELDS})))
        else:
            out.append((name, fidelity_from(**{name: getattr(paper, name)})))
    out.append(("paper (all)", paper))
    return out


def per_seed(daily: pd.DataFrame) -> pd.DataFrame:
    ev = daily[daily["eval"]]
    return ev.groupby(["config", "seed"])[HEAD].mean().unstack("seed")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="sse50", help=DATA_HELP + " (default sse50)")
    ap.add_argument("--configs", default="A,C,D,E", help="comma list of the paper's configs (default A,C,D,E)")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds, 0..N-1 (default 3)")
    ap.add_argument("--out", default="results/knob_effects", help="folder of the stored runs, per condition")
    ap.add_argument("--workers", type=int, default=1, help="process-pool workers (default 1: serial)")
    args = ap.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",")]
    executor = None
    if args.workers > 1:
        from experiments.parallel.executors import make_executor

        executor = make_executor("process", args.workers, None)
    results: dict[str, pd.DataFrame] = {}
    t0 = time.perf_counter()
    for label, fid in conditions():
        knob = label if label in ONLY else None
        cfgs = [n for n in names if knob is None or n in ONLY[knob]]
        if not cfgs:
            continue
        spec = SweepSpec.default(cfgs, baselines=() if knob else ("equal",), seeds=tuple(range(args.seeds)),
                                 data=args.data, n_boot=0, reference=cfgs[0], fidelity=fid)
        t = time.perf_counter()
        res = run_ablation(spec, Path(args.out) / label.replace(" ", "_"), executor=executor, plot=False)
        results[label] = per_seed(res.daily)
        print(f"{label}: {time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
    cols = names + ["EQ"]
    clean = results["clean"]
    print(f"10-day signal Rank IC on the SSE50 data, scripted followers, seeds 0-{args.seeds - 1}: mean ± std "
          f"over seeds, and [change vs clean] (mean of per-seed differences); one knob at its paper value, "
          f"the rest clean. {platform.node()}, {os.cpu_count()} cores, {time.perf_counter() - t0:.0f}s.\n")
    print("| condition | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, tab in results.items():
        cells = []
        for c in cols:
            if c not in tab.index:
                cells.append("= clean")
                continue
            v = tab.loc[c].to_numpy(dtype=float)
            cell = f"{v.mean():+.3f} ± {v.std(ddof=1) if v.size > 1 else 0:.3f}"
            if label != "clean" and c in clean.index:
                d = v - clean.loc[c].reindex(tab.columns).to_numpy(dtype=float)
                cell += f" [{np.nanmean(d):+.3f}]"
            cells.append(cell)
        print(f"| {label} | " + " | ".join(cells) + " |")
    paper = {k: v for k, v in {"A": 0.0331, "D": 0.0230, "E": 0.0205, "F": 0.0128}.items() if k in cols}
    print("\npaper (published): " + ", ".join(f"{k} {v:.3f}" for k, v in paper.items()))
    print("configs: " + "; ".join(f"{n}: {CONFIGS[n].fitness}, alpha {CONFIGS[n].alpha}, {CONFIGS[n].optimizer}, "
                                  f"mu {CONFIGS[n].turnover_penalty:g}" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
