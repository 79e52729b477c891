"""The ``mass`` command line.

``mass run``      one episode of the game (scripted followers, a chosen leader) on the embedded
                  synthetic market or on ``--data``; prints the Rank IC table and writes tidy files.
``mass data``     load a panel and print what it holds (a quick check of a user's data).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.investors import build_types
from mass_env.panel import MarketPanel
from mass_env.synthetic import SyntheticConfig, synthetic_market


def load_market(data: str | None, seed: int, n_days: int = 160) -> MarketPanel:
    """``--data`` path (shared-data root, or a canonical/vendor table) or the embedded synthetic market."""
    if data is None:
        return synthetic_market(SyntheticConfig(n_days=n_days), seed=seed)[0]
    from mass_env.loaders import load_panel

    return load_panel(data)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="shared-data root or a CSV/parquet long table (default: embedded synthetic market)")
    p.add_argument("--types", type=int, default=8, help="number of investor types (8: the paper's 64-agent setting with --agents 8)")
    p.add_argument("--agents", type=int, default=8, help="agents per type")
    p.add_argument("--horizon", type=int, default=10, help="payoff horizon in trading days")
    p.add_argument("--out", default=None, help="directory for result files")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _cmd_run(args: argparse.Namespace) -> int:
    from agents.scripted import scripted_followers
    from principals.base import EqualWeights

    from .runner import print_progress, run_episode

    panel = load_market(args.data, args.seed)
    source = "embedded synthetic market (no data given)" if args.data is None else args.data
    print(f"market: {panel.summary()}\n  source: {source}")
    env = MassStackelbergEnv(panel, build_types(args.types, args.agents), GameConfig(horizon=args.horizon))
    followers = scripted_followers(env, seed=args.seed)
    res = run_episode(env, EqualWeights(), followers, seed=args.seed,
                      progress=None if args.quiet else print_progress(), label="equal weights")
    s = res.summary
    print(f"\nRank IC over {int(s['eval_days'])} evaluation days (warm-up excluded), equal-weight leader:")
    print(f"  {'horizon':>8} {'signal':>9} {'consensus':>10} {'-disagree':>10}")
    for h in (1, 5, 10):
        print(f"  {h:>7}d {s[f'ric_signal_{h}d']:>+9.4f} {s[f'ric_consensus_{h}d']:>+10.4f} {s[f'ric_disagreement_{h}d']:>+10.4f}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res.history.to_csv(out / "history.csv", index=False)
        (out / "summary.json").write_text(json.dumps({"summary": s, "args": vars(args)}, indent=2, default=str))
        print(f"wrote {out}/history.csv and summary.json")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    panel = load_market(args.data, args.seed)
    print(panel.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mass", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one episode with scripted followers")
    _add_common(run)
    run.add_argument("--seed", type=int, default=0)
    run.set_defaults(func=_cmd_run)
    data = sub.add_parser("data", help="load a panel and describe it")
    data.add_argument("--data", default=None)
    data.add_argument("--seed", type=int, default=0)
    data.set_defaults(func=_cmd_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"mass: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
