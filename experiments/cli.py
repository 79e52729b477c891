"""The ``mass`` command line.

``mass run``      one episode of the game (scripted followers, a chosen leader) on the embedded
                  synthetic market or on ``--data``; prints the Rank IC table and writes tidy files.
``mass data``     load a panel and print what it holds (a quick check of a user's data).
``mass ablation`` the paper's ablation (configs A-F, E-512, A-512) over seeds with baselines; prints
                  the Rank IC table and writes tidy files, a JSON record and a plot; resumable.
``mass reproduce`` the paper's table (A-F, E-512, A-512) on the shared SSE50 data under the ``paper`` and
                  ``clean`` conditions side by side: published vs ours, CIs, claims (``experiments.reproduce``).
``mass train-rl`` train an RL leader (``experiments.train_rl``); ``mass rl-table`` the leaders' results
                  table (``experiments.rl_table``).

This module only parses arguments and prints: the work is done by the modules it calls, none of which
imports it, so every command is also a plain function call from Python.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.sweep import checks
from experiments.sweep.checks import check_fits, writable_dir
from experiments.sweep.markets import load_market
from mass_env.data.returns import REPORT_HORIZONS
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.game.components import COMPONENTS, ric_column
from mass_env.game.investors import build_types


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None,
                   help="a dataset NAME[:key=value,...] (sse50, csi300, us, ...; read from $MASS_DATA_ROOT, default "
                        "../shared/data), a shared-data root, or a CSV/parquet long table (default: synthetic)")
    p.add_argument("--types", type=checks.positive_int, default=8,
                   help="number of investor types (8: the paper's 64-agent setting with --agents 8)")
    p.add_argument("--agents", type=checks.positive_int, default=8, help="agents per type")
    p.add_argument("--horizon", type=checks.positive_int, default=10, help="payoff horizon in trading days")
    p.add_argument("--out", default=None, help="directory for result files")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _cmd_run(args: argparse.Namespace) -> int:
    from experiments.sweep.workers import print_progress, run_episode
    from mass_env.scripted import scripted_followers
    from principals.baselines import EqualWeights

    out = writable_dir(args.out) if args.out else None  # before any computing
    panel = load_market(args.data, args.seed)
    source = "embedded synthetic market (no data given)" if args.data is None else args.data
    horizons = tuple(sorted({*REPORT_HORIZONS, args.horizon}))
    game = GameConfig(horizon=args.horizon, report_horizons=horizons)
    check_fits(panel.n_days, args.horizon, 21, warmup=game.warmup_days, what=f"market {panel.name!r}")
    print(f"market: {panel.summary()}\n  source: {source}")
    env = MassStackelbergEnv(panel, build_types(args.types, args.agents), game)
    followers = scripted_followers(env, seed=args.seed)
    res = run_episode(env, EqualWeights(), followers, seed=args.seed,
                      progress=None if args.quiet else print_progress(), label="equal weights")
    s = res.summary
    print(f"\nRank IC over {int(s['eval_days'])} evaluation days (warm-up excluded), equal-weight leader:")
    print(f"  {'horizon':>8} {'signal':>9} {'consensus':>10} {'-disagree':>10}")
    for h in horizons:
        sig, cons, dis = (s[ric_column(c, h)] for c in COMPONENTS)
        print(f"  {h:>7}d {sig:>+9.4f} {cons:>+10.4f} {dis:>+10.4f}")
    if out is not None:
        res.history.to_csv(out / "history.csv", index=False)
        (out / "summary.json").write_text(json.dumps({"summary": s, "args": vars(args)}, indent=2, default=str))
        print(f"wrote {out}/history.csv and summary.json")
    values = [s[ric_column(c, h)] for c in COMPONENTS for h in horizons]
    return _all_nan_exit(any(v == v for v in values), panel)  # v == v: not NaN


def _all_nan_exit(any_value: bool, market: object) -> int:
    """Exit status 1 with a message when no evaluation day had any Rank IC: a table of NaN is no result."""
    if any_value:
        return 0
    print(f"mass: error: no evaluation day had a Rank IC at any horizon (fewer than 5 scorable stocks a day?); "
          f"the market: {getattr(market, 'summary', lambda: market)()}", file=sys.stderr)
    return 1


def _cmd_data(args: argparse.Namespace) -> int:
    panel = load_market(args.data, args.seed)
    print(panel.summary())
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    from experiments.sweep.configs import BASELINES, CONFIGS
    from experiments.sweep.run import run_ablation
    from experiments.sweep.spec import SweepSpec

    if args.list:
        print("configs:")
        for c in CONFIGS.values():
            print(f"  {c.name:<6} fitness={c.fitness:<12} alpha={c.alpha:<9} optimiser={c.optimizer:<6} "
                  f"mu={c.turnover_penalty:<5g} {c.n_types} types x {c.agents_per_type} agents")
        print("baselines (run at each population size used): " + ", ".join(BASELINES))
        from experiments.sweep.principal_specs import leader_lines

        print("leaders (--principal SPEC; registered ones, entry points included):")
        print("\n".join(leader_lines()))
        return 0
    _warn_ignored(args)
    followers, follower_options = args.followers, {}
    if followers == "llm":
        from agents.llm.cli import population_options

        follower_options = population_options(args, args.out)
    baselines = () if args.baselines.strip().lower() in ("", "none") else tuple(
        b.strip().lower() for b in args.baselines.split(",") if b.strip())
    from experiments.paper.fidelity import apply, fidelity_from_args

    fidelity = fidelity_from_args(args)
    spec = SweepSpec.default(args.configs, baselines=baselines, seeds=args.seeds, data=args.data,
                             n_days=args.days, market_seed=args.market_seed, vary_market=args.vary_market,
                             followers=followers, follower_options=follower_options, horizon=args.horizon,
                             reference=args.reference, n_boot=args.boot)
    if args.agents:
        spec = dataclasses.replace(spec, configs=tuple(dataclasses.replace(c, agents_per_type=args.agents)
                                                       for c in spec.configs))
    if args.principal:  # extra leaders (gradient, rl:PATH, NAME:k=v,..., module:Attr) at each population
        from experiments.sweep.principal_specs import importable_from_cwd, principal_configs

        importable_from_cwd()

        pops = list(dict.fromkeys(c.population for c in spec.configs))
        spec = dataclasses.replace(spec, configs=spec.configs + tuple(principal_configs(args.principal, pops)))
    spec = apply(spec, fidelity)
    source = (f"embedded synthetic market (no --data given; SyntheticConfig(n_days={args.days}), market seed "
              f"{'= run seed' if args.vary_market else args.market_seed})") if args.data is None else args.data
    names = ", ".join(c.name for c in spec.configs)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if spec.reference not in {c.name for c in spec.configs}:
        print(f"note: reference {spec.reference!r} is not among the runs ({names}): no confidence intervals",
              file=sys.stderr)
    log(f"conditions: {fidelity.describe()}")
    log(f"ablation on {source}\n  runs: {names} x seeds {list(spec.seeds)} with {args.followers} followers "
        f"-> {args.out}")
    executor = None  # serial: the runs play in this process
    if args.executor != "serial":
        from experiments.parallel.executors import make_executor

        executor = make_executor(args.executor, args.workers, args.ray_address)
        log(f"  executor: {executor!r}")
    if followers == "llm" and args.llm_prefetch == "on":  # the model works once per study
        from experiments.sweep.prefetch import prefetch_study

        prefetch_study(spec, log, executor=executor)
    res = run_ablation(spec, args.out, executor=executor, resume=not args.no_resume, plot=not args.no_plot,
                       progress=log)
    ev_days = int(res.table["eval_days"].max()) if len(res.table) else 0
    first = res.daily.loc[res.daily["eval"], "date"].min()
    print(f"\nmarket: {source}")
    print(f"Rank IC over {ev_days} evaluation days from {_date(first)} (one-month warm-up excluded), "
          f"mean ± std over {len(spec.seeds)} seed(s) {list(spec.seeds)}")
    print(f"CI: paired bootstrap of the difference to {spec.reference} (seeds and day blocks resampled, "
          f"{spec.n_boot} resamples)")
    print(res.format())
    damaged = f", {len(res.damaged)} damaged stored run(s) recomputed" if res.damaged else ""
    print(f"\n{len(res.computed)} run(s) computed{damaged}, {len(res.reused)} reused, {res.wall_s:.1f}s; files in "
          f"{args.out}: " + ", ".join(Path(p).name for p in res.files.values()))
    if followers == "llm":
        from agents.llm.cli import answers_report

        lines, too_many = answers_report(res.answers, args.llm_max_failed)
        for line in lines:
            print(line, file=sys.stderr if too_many and line.startswith("error") else sys.stdout)
        if args.vary_market:
            print("LLM diagnostics skipped (--vary-market: one market per seed); run `mass llm-diagnostics`")
        else:  # do the LLM followers carry signal? (agents.llm.diagnostics)
            from experiments.llm_diagnostics import after_llm_run

            after_llm_run(follower_options["cache"], args.data, args.market_seed, args.days, args.out, args.horizon)
        if too_many:
            return 3
    means = res.table.filter(regex=r"^ric_.*_mean$")
    return _all_nan_exit(bool(means.notna().to_numpy().any()), res.spec.data or "synthetic")


def _warn_ignored(args: argparse.Namespace) -> None:
    """Flags that the other settings make ignored are named, not silently dropped."""
    parser = args.parser
    notes = []
    if args.followers != "llm":
        llm = checks.changed_flags(args, parser, [d for d in vars(args) if d.startswith("llm_")])
        if llm:
            notes.append(f"{', '.join(llm)} apply only with --followers llm")
    if args.data is not None:
        synth = checks.changed_flags(args, parser, ["days", "market_seed", "vary_market"])
        if synth:
            notes.append(f"{', '.join(synth)} describe the embedded synthetic market; with --data they are ignored")
    if args.executor != "ray" and args.ray_address is not None:
        notes.append("--ray-address applies only with --executor ray")
    if args.executor == "serial" and args.workers is not None:
        notes.append("--workers applies only with --executor process or ray")
    for note in notes:
        print(f"mass ablation: warning: {note}", file=sys.stderr)


def _date(x: object) -> str:
    try:
        return str(x.date())  # type: ignore[attr-defined]
    except AttributeError:
        return str(x)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from experiments.paper.fidelity import Fidelity
    from experiments.paper.reproduction import ReproduceSpec, run_reproduce

    overrides = {n: getattr(args, f"fidelity_{n}") for n in Fidelity.names()
                 if getattr(args, f"fidelity_{n}", None) is not None}
    baselines = tuple(b.strip().lower() for b in args.baselines.split(",") if b.strip() and b.strip() != "none")
    spec = ReproduceSpec(presets=("clean", "paper") if args.preset == "both" else (args.preset,), seeds=args.seeds,
                         dataset=args.dataset, data_root=args.data, overrides=overrides, override=args.override,
                         configs=tuple(c.strip() for c in args.configs.split(",") if c.strip()), baselines=baselines,
                         agents=args.agents, n_days=args.days, n_boot=args.boot)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    executor = None
    if args.executor != "serial":
        from experiments.parallel.executors import make_executor

        executor = make_executor(args.executor, args.workers)
    log(f"reproduce: presets {', '.join(spec.presets)}; {spec.dataset} from {spec.data_root}; seeds "
        f"{list(spec.seeds)}; executor {executor if executor else 'serial'}")
    res = run_reproduce(spec, args.out, executor=executor, resume=not args.no_resume, progress=log)
    print(res.format())
    print(f"\n{res.wall_s:.1f}s; files: " + ", ".join(res.files.values()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mass", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one episode with scripted followers")
    _add_common(run)
    run.add_argument("--seed", type=checks.nonnegative_int, default=0)
    run.set_defaults(func=_cmd_run)
    data = sub.add_parser("data", help="load a panel and describe it")
    data.add_argument("--data", default=None)
    data.add_argument("--seed", type=checks.nonnegative_int, default=0)
    data.set_defaults(func=_cmd_data)
    abl = sub.add_parser("ablation", help="the paper's ablation table over seeds (configs A-F, E-512, A-512)",
                         description="Run the paper's ablation configs over seeds and print the Rank IC table.")
    abl.add_argument("--configs", default="A,B,C,D,E,F", help="comma list of configs (A,B,C,D,E,F,E-512,A-512)")
    abl.add_argument("--seeds", type=checks.seeds, default=(0, 1, 2),
                     help="a count N (seeds 0..N-1) or a comma list of seeds (default 3)")
    abl.add_argument("--baselines", default="equal,oracle",
                     help="comma list of equal, random, oracle (hindsight upper bound), or none")
    abl.add_argument("--data", default=None,
                     help="a dataset NAME[:key=value,...] (sse50, csi300, us, ...; read from $MASS_DATA_ROOT, default "
                        "../shared/data), a shared-data root, or a CSV/parquet long table (default: synthetic)")
    abl.add_argument("--days", type=checks.positive_int, default=160, help="days of the embedded synthetic market")
    abl.add_argument("--market-seed", type=checks.nonnegative_int, default=0,
                     help="seed of the synthetic market (held fixed across seeds)")
    abl.add_argument("--vary-market", action="store_true", help="draw a synthetic market per seed instead")
    abl.add_argument("--followers", default="scripted", choices=("scripted", "llm"),
                     help="follower population: scripted, or llm (LLM investors; options --llm-*)")
    abl.add_argument("--agents", type=checks.positive_int, default=None,
                     help="agents per type for every config (default: each config's own; e.g. 2 for a quick LLM run)")
    abl.add_argument("--principal", action="append", default=[], metavar="SPEC",
                     help="extra leader run next to the configs at each population: gradient, rl:PATH "
                          "(a policy saved by `mass train-rl`), NAME[:key=value,...], or your own class or "
                          "factory as module:Attr[:key=value,...] (see --list); repeatable")
    abl.add_argument("--horizon", type=checks.positive_int, default=10,
                     help="payoff horizon of the game in trading days")
    abl.add_argument("--reference", default="A", help="config the bootstrap CIs compare against")
    abl.add_argument("--boot", type=checks.nonnegative_int, default=2000, help="bootstrap resamples (0: no CI)")
    abl.add_argument("--out", default="results/ablation", help="output directory (also the resume cache)")
    abl.add_argument("--no-resume", action="store_true", help="recompute every run even if its files exist")
    abl.add_argument("--no-plot", action="store_true", help="do not write ablation.png")
    abl.add_argument("--list", action="store_true", help="list the configs and the leaders, and exit")
    abl.add_argument("--quiet", action="store_true", help="no progress output")
    abl.add_argument("--executor", choices=("serial", "process", "ray"), default="serial",
                     help="where the (config, seed) runs execute: this process, a local process pool, or Ray "
                          "(optional: pip install 'mass-mechanism[ray]'); the results are the serial run's")
    abl.add_argument("--workers", type=checks.positive_int, default=None,
                     help="parallel runs for --executor process/ray (default: the usable CPUs)")
    abl.add_argument("--ray-address", default=None,
                     help="join this Ray cluster (e.g. auto, ray://host:10001; default: start a local Ray)")
    from agents.llm.cli import add_arguments as add_llm_arguments

    add_llm_arguments(abl)
    from experiments.paper.fidelity import add_fidelity_args

    add_fidelity_args(abl)
    abl.set_defaults(func=_cmd_ablation, parser=abl)
    rep = sub.add_parser("reproduce", help="the paper's table under its own and this project's conditions",
                         description="Regenerate the paper's ablation (A-F, E-512, A-512) on the shared SSE50 data "
                                     "under the paper's and this project's conditions: published vs ours, CIs, claims.")
    from experiments.paper.fidelity import add_fidelity_args

    add_fidelity_args(rep, both=True)  # reproduce runs one preset or both side by side (the default)
    rep.add_argument("--seeds", type=checks.seeds, default=tuple(range(5)),
                     help="a count N (seeds 0..N-1) or a comma list (default 5; the run says what they can resolve)")
    rep.add_argument("--data", default="../shared/data", help="the shared data folder (default ../shared/data)")
    rep.add_argument("--dataset", default="sse50", help="sse50 (the paper's market) or synthetic (no files)")
    rep.add_argument("--configs", default="A,B,C,D,E,F,E-512,A-512", help="comma list of the paper's configs")
    rep.add_argument("--baselines", default="equal,oracle", help="comma list of equal, random, oracle, or none")
    rep.add_argument("--agents", type=int, default=None, help="agents per type for every config (default: the paper's)")
    rep.add_argument("--days", type=int, default=160, help="days of the synthetic market (--dataset synthetic)")
    rep.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    rep.add_argument("--out", default="results/reproduce", help="output directory (also the resume cache)")
    rep.add_argument("--no-resume", action="store_true", help="recompute every run even if its files exist")
    rep.add_argument("--executor", choices=("serial", "process", "ray"), default="process",
                     help="where runs execute (default: a process pool over the usable CPUs)")
    rep.add_argument("--workers", type=int, default=None, help="parallel runs (default: the usable CPUs)")
    rep.add_argument("--quiet", action="store_true", help="no progress output")
    rep.set_defaults(func=_cmd_reproduce)
    sub.add_parser("train-rl", add_help=False,
                   help="train an RL leader (stable-baselines3 PPO) on mass_env/Principal-v0; `mass train-rl --help`")
    sub.add_parser("llm-diagnostics", add_help=False,
                   help="do the LLM followers of a response cache carry signal? `mass llm-diagnostics --help`")
    sub.add_parser("rl-table", add_help=False,
                   help="results table: SA, CMA-ES, gradient, RL, equal at 8 and 32 types; `mass rl-table --help`")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train-rl":  # these two own their parsers
        from experiments.train_rl import main as train_main

        return int(train_main(argv[1:]) or 0)
    if argv and argv[0] == "llm-diagnostics":
        from experiments.llm_diagnostics import diagnostics_main

        return diagnostics_main(argv[1:])
    if argv and argv[0] == "rl-table":
        from experiments.rl_table import table_main

        return int(table_main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"mass: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mass: interrupted; finished runs and every LLM answer received are kept: rerun to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
