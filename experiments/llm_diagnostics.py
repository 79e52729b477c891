"""``mass llm-diagnostics``: do the LLM followers of a response cache carry signal?

Reads the cache's per-stock ratings (and per-agent answers of served models), the market panel for
forward returns, and prints and saves ``agents.llm.diagnostics``' report (per-type Rank IC with
CIs, within- vs across-type spread, sampling-noise share, rating histogram, failure rate,
correlation with the scripted view). ``mass ablation --followers llm`` runs the same report at the
end of every LLM sweep (``after_llm_run``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from experiments import options
from experiments.sweep import checks
from experiments.sweep.markets import load_market

HELP = "do the LLM followers of a response cache carry signal? (per-type Rank IC, noise, failures)"


def after_llm_run(cache: str | Path, data: str | None, market_seed: int, n_days: int, out_dir: str | Path,
                  horizon: int = 10) -> dict[str, Any] | None:
    """Diagnose an LLM sweep's cache, print the report and save it next to the run's files."""
    from agents.llm.diagnostics import format_diagnostics, write_diagnostics

    if not Path(cache).is_file():
        print(f"LLM diagnostics: no cache at {cache}", file=sys.stderr)
        return None
    d = write_diagnostics(cache, load_market(data, market_seed, n_days), out_dir, horizon=horizon)
    print("\n" + format_diagnostics(d) + f"\n  (saved: {Path(out_dir) / 'llm-diagnostics.json'})")
    return d


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--cache", required=True, help="the SQLite response cache (e.g. OUT/llm-cache.sqlite)")
    options.add_data(ap, absent="the embedded synthetic market; give the run's own --data")
    ap.add_argument("--days", type=checks.positive_int, default=160,
                    help="days of the synthetic market when no --data is given (default 160)")
    ap.add_argument("--market-seed", type=checks.nonnegative_int, default=0,
                    help="seed of the synthetic market when no --data is given (default 0)")
    ap.add_argument("--horizon", type=checks.positive_int, default=10,
                    help="forward-return horizon in trading days (default 10)")
    options.add_out(ap, None, "folder for llm-diagnostics.json and .txt (default: the cache's folder)")
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the text report")


def run(args: argparse.Namespace) -> int:
    from agents.llm.diagnostics import cache_frame, diagnose, format_diagnostics

    if not Path(args.cache).is_file():
        raise ValueError(f"no cache file {args.cache}")
    d = diagnose(cache_frame(args.cache), load_market(args.data, args.market_seed, args.days), horizon=args.horizon)
    out = Path(args.out) if args.out else Path(args.cache).parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "llm-diagnostics.json").write_text(json.dumps(d, indent=1, default=float))
    (out / "llm-diagnostics.txt").write_text(format_diagnostics(d) + "\n")
    print(json.dumps(d, indent=1, default=float) if args.json else format_diagnostics(d))
    return 0
