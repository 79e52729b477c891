"""Flags several ``mass`` commands share, defined once so that a flag means the same in every command.

Each command module (``experiments.run``, ``.ablation``, ...) defines its own flags in
``add_arguments(parser)`` and calls these for the shared ones: ``--data`` (one meaning everywhere:
``experiments.sweep.markets.parse_data``), ``--seeds`` (a count or a list), ``--out``, ``--quiet``,
``--record-reports`` and the executor flags.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from experiments.parallel.executors import EXECUTORS, Executor, make_executor
from experiments.sweep import checks
from experiments.sweep.markets import DATA_HELP

Say = Callable[[str], None]


def add_data(parser: argparse.ArgumentParser, default: str | None = None, *, absent: str = "") -> None:
    """``--data``: a dataset name, a shared-data root or a long table (``absent``: what no value means)."""
    parser.add_argument("--data", default=default, metavar="DATA",
                        help=DATA_HELP + (f" (default: {default})" if default else f" (default: {absent})"
                                          if absent else ""))


def add_seeds(parser: argparse.ArgumentParser, default: tuple[int, ...], what: str = "seeds") -> None:
    """``--seeds``: a count N (seeds 0..N-1) or a comma list (``"7,"``: the single seed 7)."""
    parser.add_argument("--seeds", type=checks.seeds, default=default, metavar="N|LIST",
                        help=f"{what}: a count N (seeds 0..N-1) or a comma list such as 0,11,22 "
                             f"(default {len(default)})")


def add_out(parser: argparse.ArgumentParser, default: str | None, what: str = "output folder") -> None:
    parser.add_argument("--out", default=default, metavar="FOLDER",
                        help=what + (f" (default {default})" if default else " (default: no files)"))


def add_record_reports(parser: argparse.ArgumentParser, where: str) -> None:
    """``--record-reports``: also store every agent's view and report per day (``mass_env.game.reports``)."""
    parser.add_argument("--record-reports", action="store_true",
                        help="also store every agent's view and report per day (float32 parquet of the cells "
                             f"looked at, {where})")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def add_executor(parser: argparse.ArgumentParser, default: str = "serial", *, ray_address: bool = True) -> None:
    """``--executor``, ``--workers`` and (``ray_address``) ``--ray-address``."""
    parser.add_argument("--executor", choices=EXECUTORS, default=default,
                        help="where the (config, seed) runs execute: serial (this process), process (a local "
                             "process pool) or ray (optional: pip install 'mass-mechanism[ray]'); every executor "
                             f"gives the serial run's numbers (default {default})")
    parser.add_argument("--workers", type=checks.positive_int, default=None,
                        help="parallel runs for --executor process or ray (default: the usable CPUs)")
    if ray_address:
        parser.add_argument("--ray-address", default=None,
                            help="join this Ray cluster (e.g. auto, ray://host:10001; default: start a local Ray)")


def executor_from(args: argparse.Namespace) -> Executor | None:
    """The executor the flags ask for; None for serial (the runs play in this process)."""
    if args.executor == "serial":
        return None
    return make_executor(args.executor, args.workers, getattr(args, "ray_address", None))


def progress(args: argparse.Namespace) -> Say:
    """Progress lines to stderr, or nothing with ``--quiet``."""
    if args.quiet:
        return lambda msg: None
    return lambda msg: print(msg, file=sys.stderr, flush=True)


def no_values_exit(any_value: bool, market: object) -> int:
    """Exit status 1 with a message when no evaluation day had any Rank IC: a table of NaN is no result."""
    if any_value:
        return 0
    print(f"mass: error: no evaluation day had a Rank IC at any horizon (fewer than 5 scorable stocks a day?); "
          f"the market: {getattr(market, 'summary', lambda: market)()}", file=sys.stderr)
    return 1
