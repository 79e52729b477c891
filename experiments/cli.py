"""The ``mass`` command line: a table of commands, each one a module of ``experiments`` with
``HELP`` (its line in ``mass --help``), ``add_arguments(parser)`` and ``run(args) -> int``.

A new command is one new module and one line in ``COMMANDS``. The modules do the work through
functions that take plain values, so every command is also a function call from Python.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

#: ``mass COMMAND`` -> the module that implements it.
COMMANDS: dict[str, str] = {
    "run": "experiments.run",
    "data": "experiments.data",
    "ablation": "experiments.ablation",
    "reproduce": "experiments.reproduce",
    "train-rl": "experiments.train_rl",
    "rl-table": "experiments.rl_table",
    "llm-diagnostics": "experiments.llm_diagnostics",
    "incentives": "experiments.incentives",
}

DESCRIPTION = ("Experiments on the MASS Stackelberg game: a principal weights the signals of investor types, "
               "followers answer. Run `mass COMMAND --help` for a command's options.")


def command_module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mass", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for name in COMMANDS:
        mod = command_module(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP[:1].upper() + mod.HELP[1:] + ".")
        mod.add_arguments(p)
        p.set_defaults(run=mod.run, parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.run(args) or 0)
    except (ValueError, OSError, ImportError) as exc:
        print(f"mass {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"mass {args.command}: error: out of memory; runs that finished are kept in their output folder "
              "(a rerun reuses them): use smaller sizes (--agents, --types, --days, --boot)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if argv is None and threading.current_thread() is threading.main_thread():  # the `mass` process itself:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # exiting already, a second Ctrl-C must not cut that short
        print("mass: interrupted; finished runs and every LLM answer received are kept: rerun to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
