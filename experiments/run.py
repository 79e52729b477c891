"""``mass run``: one episode of the game with scripted followers and the equal-weight leader, on the
embedded synthetic market or on ``--data``; prints the Rank IC table and writes tidy files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from agents.llm.backends.base import scrub_tree
from experiments import options
from experiments.sweep import checks
from experiments.sweep.checks import check_fits, writable_dir
from experiments.sweep.markets import load_market
from experiments.sweep.workers import Progress, run_episode
from mass_env.data.returns import REPORT_HORIZONS
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.game.components import COMPONENTS, ric_column
from mass_env.game.investors import build_types

HELP = "play one episode with scripted followers and equal weights; print its Rank IC"


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.add_data(p, absent="the embedded synthetic market")
    p.add_argument("--types", type=checks.bounded_int(1, checks.MAX_TYPES), default=8,
                   help="number of investor types (8: the paper's 64-agent setting with --agents 8)")
    p.add_argument("--agents", type=checks.positive_int, default=8, help="agents per type (default 8)")
    p.add_argument("--horizon", type=checks.positive_int, default=10,
                   help="payoff horizon in trading days (default 10)")
    p.add_argument("--seed", type=checks.nonnegative_int, default=0,
                   help="seed of the followers' draws and of the synthetic market (default 0)")
    options.add_out(p, None, "folder for history.csv and summary.json")
    options.add_record_reports(p, "reports.parquet in --out")
    options.add_quiet(p)


def print_progress(every: int = 20, stream: Any = None) -> Progress:
    """A progress callback printing one line every ``every`` days (to stderr by default)."""
    out = stream or sys.stderr
    start = time.perf_counter()

    def report(done: int, total: int, label: str) -> None:
        if done == total or done % every == 0:
            el = time.perf_counter() - start
            print(f"  {label}: day {done}/{total} ({el:.1f}s)", file=out, flush=True)

    return report


def run(args: argparse.Namespace) -> int:
    from mass_env.scripted import scripted_followers
    from principals.baselines import EqualWeights

    out = writable_dir(args.out) if args.out else None  # before any computing
    if args.record_reports and out is None:
        print("mass run: warning: --record-reports writes into --out; no --out given, nothing is stored",
              file=sys.stderr)
    panel = load_market(args.data, args.seed)
    source = "embedded synthetic market (no data given)" if args.data is None else args.data
    horizons = tuple(sorted({*REPORT_HORIZONS, args.horizon}))
    game = GameConfig(horizon=args.horizon, report_horizons=horizons)
    check_fits(panel.n_days, args.horizon, 21, warmup=game.warmup_days, what=f"market {panel.name!r}")
    checks.check_population(args.types, args.agents, panel.n_symbols, "mass run")
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
        if args.record_reports:  # read back with ReportLog.from_frame(frame, agents, stocks)
            env.game.report_log.to_frame().to_parquet(out / "reports.parquet", index=False, compression="zstd")
            print(f"wrote {out}/reports.parquet ({env.game.agent_type.size} agents x {panel.n_symbols} stocks)")
        saved = {k: v for k, v in vars(args).items() if k not in ("run", "parser")}
        (out / "summary.json").write_text(json.dumps(scrub_tree({"summary": s, "args": saved}), indent=2, default=str))
        print(f"wrote {out}/history.csv and summary.json")
    values = [s[ric_column(c, h)] for c in COMPONENTS for h in horizons]
    return options.no_values_exit(any(v == v for v in values), panel)  # v == v: not NaN
