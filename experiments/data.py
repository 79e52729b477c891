"""``mass data``: load a market panel and print what it holds (a quick check of a user's data)."""

from __future__ import annotations

import argparse

from experiments import options
from experiments.sweep import checks
from experiments.sweep.markets import load_market

HELP = "load a market (a dataset, the shared data or your table) and describe it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.add_data(p, absent="the embedded synthetic market")
    p.add_argument("--seed", type=checks.nonnegative_int, default=0,
                   help="seed of the synthetic market when no --data is given (default 0)")


def run(args: argparse.Namespace) -> int:
    print(load_market(args.data, args.seed).summary())
    return 0
