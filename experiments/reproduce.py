"""``mass reproduce``: the paper's table (A-F, E-512, A-512) on the shared SSE50 data under the paper's
conditions and this project's, side by side: published vs ours, CIs, claims (``experiments.paper``)."""

from __future__ import annotations

import argparse

from experiments import options
from experiments.paper.fidelity import Fidelity, add_fidelity_args
from experiments.paper.reproduction import DEFAULT_SEEDS, ReproduceSpec, run_reproduce
from experiments.sweep import checks

HELP = "the paper's table under its own and this project's conditions: published vs ours, CIs, claims"


def add_arguments(rep: argparse.ArgumentParser) -> None:
    add_fidelity_args(rep, both=True)  # reproduce runs one preset or both side by side (the default)
    options.add_seeds(rep, DEFAULT_SEEDS, "seeds (the report says which differences they can resolve)")
    options.add_data(rep, "sse50")
    rep.add_argument("--configs", default="A,B,C,D,E,F,E-512,A-512",
                     help="comma list of the paper's configs (default all eight)")
    rep.add_argument("--baselines", default="equal,oracle",
                     help="comma list of equal, random, oracle, or none (default equal,oracle)")
    rep.add_argument("--agents", type=checks.positive_int, default=None,
                     help="agents per type for every config (default: the paper's)")
    rep.add_argument("--boot", type=checks.bounded_int(0, checks.MAX_BOOT), default=2000,
                     help="bootstrap resamples for the median alpha's interval (the other CIs are t intervals; "
                          "default 2000)")
    options.add_out(rep, "results/reproduce", "output folder, also the resume cache")
    rep.add_argument("--no-resume", action="store_true", help="recompute every run even if its files exist")
    options.add_record_reports(rep, "OUT/PRESET/runs/CONFIG__seedS.reports.parquet beside each stored run")
    options.add_executor(rep, "process", ray_address=False)
    options.add_quiet(rep)


def run(args: argparse.Namespace) -> int:
    overrides = {n: getattr(args, f"fidelity_{n}") for n in Fidelity.names()
                 if getattr(args, f"fidelity_{n}", None) is not None}
    baselines = tuple(b.strip().lower() for b in args.baselines.split(",") if b.strip() and b.strip() != "none")
    spec = ReproduceSpec(presets=("clean", "paper") if args.preset == "both" else (args.preset,), seeds=args.seeds,
                         data=args.data, overrides=overrides, override=args.override,
                         configs=tuple(c.strip() for c in args.configs.split(",") if c.strip()), baselines=baselines,
                         agents=args.agents, n_boot=args.boot, record_reports=args.record_reports)
    log = options.progress(args)
    executor = options.executor_from(args)
    log(f"reproduce: presets {', '.join(spec.presets)}; data {spec.data}; seeds {list(spec.seeds)}; "
        f"executor {executor if executor else 'serial'}")
    res = run_reproduce(spec, args.out, executor=executor, resume=not args.no_resume, progress=log)
    print(res.summary())
    print(f"\nThe full table (MDD, effective types, median alpha per preset) and the claims' estimates: "
          f"{res.files['markdown']}")
    print(f"{res.wall_s:.1f}s; files: " + ", ".join(res.files.values()))
    return 0
