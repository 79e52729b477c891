"""``mass ablation``: the paper's ablation (configs A-F, E-512, A-512) over seeds with baselines; prints
the Rank IC table and writes tidy files, a JSON record and a plot; resumable (``experiments.sweep``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments import options
from experiments.paper.fidelity import add_fidelity_args, fidelity_from_args
from experiments.sweep import checks
from experiments.sweep.spec import SweepSpec

HELP = "the paper's ablation table (configs A-F, E-512, A-512) over seeds, with baselines; resumable"


def add_arguments(abl: argparse.ArgumentParser) -> None:
    abl.add_argument("--configs", default="A,B,C,D,E,F", help="comma list of configs (A,B,C,D,E,F,E-512,A-512)")
    options.add_seeds(abl, (0, 1, 2))
    abl.add_argument("--baselines", default="equal,oracle",
                     help="comma list of equal, random, oracle (hindsight upper bound), or none")
    options.add_data(abl, absent="the embedded synthetic market")
    abl.add_argument("--days", type=checks.bounded_int(1, checks.MAX_DAYS, " (a synthetic market's days)"), default=160,
                     help="days of the embedded synthetic market (default 160)")
    abl.add_argument("--market-seed", type=checks.nonnegative_int, default=0,
                     help="seed of the synthetic market (held fixed across seeds; default 0)")
    abl.add_argument("--vary-market", action="store_true", help="draw a synthetic market per seed instead")
    abl.add_argument("--followers", default="scripted", type=checks.followers_spec, metavar="NAME[:k=v,...]",
                     help="follower population: scripted, llm (LLM followers; options --llm-*), or hedge "
                          "(scripted views, reports learned with Hedge against the payment rule; options "
                          "eta, library, shade, exaggerate, constants, rule, e.g. hedge:eta=2,library=truthful)")
    abl.add_argument("--agents", type=checks.positive_int, default=None,
                     help="agents per type for every config (default: each config's own; e.g. 2 for a quick LLM run)")
    abl.add_argument("--principal", action="append", default=[], metavar="SPEC",
                     help="extra leader run next to the configs at each population: gradient, anticipating "
                          "(scores the followers' best response; anticipating:rule=R, the rule --followers "
                          "hedge:rule=R pays), rl:PATH "
                          "(a policy saved by `mass train-rl`), NAME[:key=value,...], or your own class or "
                          "factory as module:Attr[:key=value,...] (see --list); repeatable")
    abl.add_argument("--horizon", type=checks.positive_int, default=10,
                     help="payoff horizon of the game in trading days (default 10)")
    abl.add_argument("--reference", default="A", help="config the CIs of differences compare against (default A)")
    abl.add_argument("--boot", type=checks.bounded_int(0, checks.MAX_BOOT), default=2000,
                     help="bootstrap resamples, recorded in the spec (the table's CIs are t intervals and do "
                          "not resample; default 2000)")
    options.add_out(abl, "results/ablation", "output folder, also the resume cache")
    abl.add_argument("--no-resume", action="store_true", help="recompute every run even if its files exist")
    abl.add_argument("--no-plot", action="store_true", help="do not write ablation.png")
    options.add_record_reports(abl, "runs/CONFIG__seedS.reports.parquet beside each stored run; a run stored "
                                    "without them is replayed once to record them")
    abl.add_argument("--list", action="store_true", help="list the configs and the leaders, and exit")
    options.add_quiet(abl)
    options.add_executor(abl)
    from agents.llm.options import add_arguments as add_llm_arguments

    add_llm_arguments(abl, told=True)
    add_fidelity_args(abl)


def list_choices() -> None:
    """``--list``: the configs, the baselines and the registered leaders."""
    from experiments.sweep.configs import BASELINES, CONFIGS
    from experiments.sweep.principal_specs import leader_lines

    print("configs:")
    for c in CONFIGS.values():
        print(f"  {c.name:<6} fitness={c.fitness:<12} alpha={c.alpha:<9} optimiser={c.optimizer:<6} "
              f"mu={c.turnover_penalty:<5g} {c.n_types} types x {c.agents_per_type} agents")
    print("baselines (run at each population size used): " + ", ".join(BASELINES))
    print("leaders (--principal SPEC; registered ones, entry points included):")
    print("\n".join(leader_lines()))


def run(args: argparse.Namespace) -> int:
    from experiments.sweep.engine import run_ablation

    if args.list:
        list_choices()
        return 0
    warn_ignored(args)
    from agents.populations import parse_population

    followers, follower_options = parse_population(args.followers)
    if followers == "llm":
        from agents.llm.options import population_options

        follower_options = population_options(args, args.out)
    baselines = () if args.baselines.strip().lower() in ("", "none") else tuple(
        b.strip().lower() for b in args.baselines.split(",") if b.strip())
    fidelity = fidelity_from_args(args)
    spec = SweepSpec.build(args.configs, baselines=baselines, agents=args.agents, extra_principals=args.principal,
                           seeds=args.seeds, data=args.data, n_days=args.days, market_seed=args.market_seed,
                           vary_market=args.vary_market, followers=followers, follower_options=follower_options,
                           horizon=args.horizon, reference=args.reference, n_boot=args.boot, fidelity=fidelity,
                           record_reports=args.record_reports)
    source = (f"embedded synthetic market (no --data given; SyntheticConfig(n_days={args.days}), market seed "
              f"{'= run seed' if args.vary_market else args.market_seed})") if args.data is None else args.data
    names = ", ".join(c.name for c in spec.configs)
    log = options.progress(args)
    if spec.reference not in {c.name for c in spec.configs}:
        print(f"note: reference {spec.reference!r} is not among the runs ({names}): no confidence intervals",
              file=sys.stderr)
    log(f"conditions: {fidelity.describe()}")
    log(f"ablation on {source}\n  runs: {names} x seeds {list(spec.seeds)} with {args.followers} followers "
        f"-> {args.out}")
    executor = options.executor_from(args)
    if executor is not None:
        log(f"  executor: {executor!r}")
    if args.followers == "llm" and args.llm_told is not None:
        who = "reporting their views" if args.llm_told == "view" else f"told the rule {args.llm_told}"
        log(f"  followers {who}: no prefetch pass (told followers' prompts depend on the game's pay and consensus); "
            "every answer is cached as the runs ask")
    elif args.followers == "llm" and args.llm_prefetch != "off":  # the model works once per study
        from experiments.sweep.prefetch import prefetch_study

        mode = "universe" if args.llm_prefetch == "on" else args.llm_prefetch  # on: the former name
        prefetch_study(spec, log, executor=executor, mode=mode)
    res = run_ablation(spec, args.out, executor=executor, resume=not args.no_resume, plot=not args.no_plot,
                       progress=log)
    ev_days = int(res.table["eval_days"].max()) if len(res.table) else 0
    first = res.daily.loc[res.daily["eval"], "date"].min()
    print(f"\nmarket: {source}")
    print(f"Rank IC over {ev_days} evaluation days from {_date(first)} (one-month warm-up excluded), "
          f"mean over {len(spec.seeds)} seed(s) {list(spec.seeds)} and these days")
    print(f"CI: t interval of the mean and of the difference to {spec.reference}, paired by seed and day "
          "(seed part + shared-day Hansen-Hodrick part, Satterthwaite df: experiments.stats.inference)")
    print(res.format())
    damaged = f", {len(res.damaged)} damaged stored run(s) recomputed" if res.damaged else ""
    print(f"\n{len(res.computed)} run(s) computed{damaged}, {len(res.reused)} reused, {res.wall_s:.1f}s; files in "
          f"{args.out}: " + ", ".join(Path(p).name for p in res.files.values()))
    if followers == "hedge":
        from experiments.studies.strategic import ends_on

        print("hedge followers per config: mean |report - view| over the evaluation days, the strategies with "
              "the largest final weight (mean over types and seeds), certification gap (largest average regret)")
        for c in (c for c in spec.configs if c.kind != "oracle"):  # the oracle replays the equal-weight run
            ends, gap = ends_on(args.out, c.name)
            if ends:
                mis = float(res.daily.loc[(res.daily["config"] == c.name) & res.daily["eval"], "misreport"].mean())
                print(f"  {c.name:<8} misreport {mis:.3f}  {ends}  gap {gap:.3f}")
    if args.followers == "llm":
        from agents.llm.accounting import answers_report

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
    return options.no_values_exit(bool(means.notna().to_numpy().any()), res.spec.data or "synthetic")


def warn_ignored(args: argparse.Namespace) -> None:
    """Flags that the other settings make ignored are named, not silently dropped."""
    parser = args.parser
    notes = []
    if args.followers != "llm":
        llm = checks.changed_flags(args, parser, [d for d in vars(args) if d.startswith("llm_")])
        if llm:
            notes.append(f"{', '.join(llm)} apply only with --followers llm")
    elif args.llm_told is None and checks.changed_flags(args, parser, ["llm_pay_days"]):
        notes.append("--llm-pay-days applies only with --llm-told")
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
