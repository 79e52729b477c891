"""Offline model x prompt design, scored on SSE50 days outside the evaluation window.

    nice -n 10 python benchmarks/bench_llm_designs.py --data ../shared/data --out runs/llm-designs
    python benchmarks/bench_llm_designs.py --out runs/llm-designs --table-only     # re-print the table

Samples ``--days`` decision days spread evenly over SSE50 ``--start``..``--end`` (point-in-time
members; default 2021-01..2022-11, before the 2023 episode the paper's table uses), takes
``--types`` of the 8 investor types, and asks each design (``agents.llm.prompts.designs``: single, fewshot,
pairwise, ranked) for a score of every stock of the day's universe with the local model. Each
design's rows are saved as ``OUT/<model>-<design>.csv`` (a rerun skips the designs already there), and
``experiments.studies.llm_designs`` prints per design the Rank IC against 10-day forward returns with a 95% CI,
the scripted investor's IC on the same rows, the correlation with the scripted view, the spreads and
a verdict, then the per-type ICs. The load average is printed: on a shared machine every time is slower.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from common import SHARED_DATA

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from experiments.studies.llm_designs import (
    evaluate,
    format_per_type,
    format_table,
    load_rows,
    make_cases,
    sample_days,
    score_design,
    scripted_reference,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA), help="shared data folder (SSE50)")
    ap.add_argument("--start", default="2021-01-01")
    ap.add_argument("--end", default="2022-11-30")
    ap.add_argument("--days", type=int, default=10, help="sampled decision days")
    ap.add_argument("--every", type=int, default=1,
                    help="score only every EVERY-th sampled day (a cheaper design on a subset of the same days)")
    ap.add_argument("--offset", type=int, default=0, help="with --every: start at this sampled day (0..EVERY-1)")
    ap.add_argument("--types", default="0,2,5,7", help="type ids of build_types(8) (default: every modality)")
    ap.add_argument("--designs", default="single,fewshot,ranked,pairwise")
    ap.add_argument("--model-dir", default=None, help="a local Hugging Face model folder (default: SmolLM2-135M)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--horizon", type=int, default=10)
    ap.add_argument("--opponents", type=int, default=2, help="pairwise: rounds of random pairs per stock")
    ap.add_argument("--rounds", type=int, default=2, help="ranked: lists each stock appears in")
    ap.add_argument("--out", default="runs/llm-designs", help="folder for the per-design rows and the table")
    ap.add_argument("--table-only", action="store_true", help="only evaluate the rows already in --out")
    args = ap.parse_args()

    from mass_env.data.datasets import load_dataset
    from mass_env.game.investors import build_types

    panel = load_dataset("sse50", args.data, start=args.start, end=args.end)
    days = sample_days(panel, args.days, horizon=args.horizon)
    wanted = {int(t) for t in args.types.split(",")}
    types = [t for t in build_types(8, 1) if t.type_id in wanted]
    cases = make_cases(panel, types, days[args.offset::max(1, args.every)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"panel: {panel.name}; days {[str(panel.dates[d].date()) for d in days]}; types {[t.name for t in types]}; "
          f"{sum(len(c.stocks) for c in cases)} (day, type, stock)s per design; load average {os.getloadavg()}",
          flush=True)
    costs_path = out / "costs.json"
    costs = json.loads(costs_path.read_text()) if costs_path.is_file() else {}
    backend = None
    model = Path(args.model_dir).name if args.model_dir else "SmolLM2-135M"
    if not args.table_only:
        from agents.llm.prompts.designs import make_design

        scripted = scripted_reference(panel, cases)
        for name in args.designs.split(","):
            path = out / f"{model}-{name}.csv"
            if path.is_file():
                continue
            if backend is None:
                from agents.llm.backends.local import TransformersBackend

                backend = TransformersBackend(args.model_dir, threads=args.threads)
            design = make_design(name, horizon=args.horizon, opponents=args.opponents, rounds=args.rounds)
            part = path.with_suffix(".partial")
            frame, info = score_design(design, backend, panel, cases, scripted,
                                       on_case=lambda f, part=part: f.to_csv(part, index=False))
            frame.to_csv(path, index=False)
            part.unlink(missing_ok=True)
            costs[f"{model} / {name}"] = {**info, "days": len(cases) // max(1, len(types)),
                                          "load_average": os.getloadavg(), "threads": backend.threads,
                                          "dtype": backend.dtype, "opponents": args.opponents, "rounds": args.rounds}
            costs_path.write_text(json.dumps(costs, indent=1))
            print(f"{model} / {name}: {info}", flush=True)
    frames = {}
    for path in sorted(out.glob("*.csv")) + sorted(out.glob("*.partial")):
        model_name, design_name = path.stem.rsplit("-", 1)
        frames[f"{model_name} / {design_name}" + (" (partial)" if path.suffix == ".partial" else "")] = \
            load_rows(path)
    results = {name: evaluate(f, panel, horizon=args.horizon) for name, f in frames.items()}
    keys = {name: set(zip(f["day"], f["type_id"])) for name, f in frames.items()}
    common = set.intersection(*keys.values()) if keys else set()
    for name, f in frames.items():  # designs scored on more (day, type)s: also on those every design has
        if common and keys[name] != common:
            sub = f[[k in common for k in zip(f["day"], f["type_id"])]]
            results[f"{name} (common {len(common)} day-types)"] = evaluate(sub, panel, horizon=args.horizon)
    if not results:
        print("no rows yet: run without --table-only")
        return 1
    (out / "designs.json").write_text(json.dumps({"results": results, "costs": costs}, indent=1, default=float))
    table = format_table(results, costs) + "\n\nRank IC per type (95% CI):\n\n" + format_per_type(results)
    (out / "designs.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
