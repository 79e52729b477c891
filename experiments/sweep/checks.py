"""Checks that run before any computing: output folders, seeds, horizons against the market's length.

Why a module: every command (``mass run``, ``ablation``, ``train-rl``, ``rl-table``) and the Python
entry points (``run_ablation``) must refuse bad settings *before* they spend minutes computing, with a
message that says what was wrong and what is valid, not crash after the work is done. The argparse
types here (``seeds``, ``positive_int``, ...) give every command the same meaning for the same flag.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

#: Largest ``--seeds`` count and the seed range numpy and the stored int64 columns handle alike.
MAX_SEEDS = 10_000
MAX_SEED = 2**32 - 1
#: Bounds of the size flags (``bounded_int``): a synthetic market's days, investor types, bootstrap resamples.
MAX_DAYS = 100_000
MAX_TYPES = 4096
MAX_BOOT = 1_000_000
#: Bytes a run may plan to allocate per (agent, stock) of a day (follower views, signals, scores).
BYTES_PER_AGENT_STOCK = 64


def writable_dir(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """``path`` as a folder this process can write (created if absent); ``ValueError`` otherwise."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{what} {p} is a file; give a folder (it is created if absent)")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".mass-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{what} {p} is not a writable folder ({exc.strerror or type(exc).__name__})") from None
    return p


def check_seeds(seeds: Sequence[int], what: str = "seeds") -> tuple[int, ...]:
    """Distinct integer seeds in ``[0, MAX_SEED]``, at most ``MAX_SEEDS`` of them."""
    out = tuple(int(s) for s in seeds)
    if not out:
        raise ValueError(f"{what}: at least one seed is needed")
    if len(out) > MAX_SEEDS:
        raise ValueError(f"{what}: {len(out)} seeds is more than the {MAX_SEEDS} allowed")
    bad = [s for s in out if not 0 <= s <= MAX_SEED]
    if bad:
        raise ValueError(f"{what} must lie in 0..{MAX_SEED}, got {bad[:3]}")
    if len(set(out)) != len(out):
        raise ValueError(f"{what} must be distinct, got {list(out)}")
    return out


def seeds(text: str) -> tuple[int, ...]:
    """argparse type of every ``--seeds``-like flag: ``"3"`` -> seeds 0, 1, 2 (a count); ``"0,11,22"``
    (any comma, ``"7,"`` for the single seed 7) -> exactly those seeds."""
    try:
        if "," in text:
            return check_seeds([int(x) for x in text.split(",") if x.strip()])
        n = int(text)
    except ValueError as exc:
        msg = str(exc) if "seed" in str(exc) else f"takes a count (3) or a comma list (0,11,22), got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 1 <= n <= MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"a seed count must lie in 1..{MAX_SEEDS}, got {n} "
                                         "(for one particular seed write it as a list: 7,)")
    return tuple(range(n))


def _bounded(kind: type, lo: float, text: str, hi: float | None = None) -> int | float:
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
                                         ) from None
    if not (v >= lo and (hi is None or v <= hi)):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= {lo:g}" + ("" if hi is None else f" and <= {hi:g}")
                                         + f", got {text!r}")
    return v


def bounded_int(lo: int, hi: int, why: str = "") -> Callable[[str], int]:
    """argparse type: an integer in ``lo..hi`` (``why``: what the bound protects, said when refused)."""
    def parse(text: str) -> int:
        v = int(_bounded(int, lo, text))
        if v > hi:
            raise argparse.ArgumentTypeError(f"must be <= {hi}{why}, got {text!r}")
        return v

    return parse


def memory_budget() -> int:
    """Bytes a run may plan to allocate: half the machine's physical memory (8 GiB when unknown)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_allocation(nbytes: float, what: str, fix: str) -> None:
    """Before allocating: ``ValueError`` with the numbers when ``what`` would take more than
    ``memory_budget()`` (a clear refusal instead of a MemoryError or an out-of-memory kill later)."""
    budget = memory_budget()
    if nbytes > budget:
        raise ValueError(f"{what} would allocate about {nbytes / 2**30:,.1f} GiB, more than the "
                         f"{budget / 2**30:,.1f} GiB allowed (half this machine's memory): {fix}")


def check_population(n_types: int, agents_per_type: int, n_symbols: int, what: str) -> None:
    """Refuse a population whose per-day follower arrays would not fit in memory, with the numbers."""
    n = int(n_types) * int(agents_per_type)
    check_allocation(float(n) * n_symbols * BYTES_PER_AGENT_STOCK,
                     f"{what}: {n_types} types x {agents_per_type} agents = {n:,} agents on {n_symbols} stocks",
                     "use fewer agents or types")


def check_bootstrap(n_boot: int, n_seeds: int, n_days: int) -> None:
    """Refuse a bootstrap whose resample arrays (``n_boot`` x seeds x days) would not fit in memory."""
    check_allocation(3.0 * 8 * n_boot * max(1, n_seeds) * max(1, n_days),
                     f"--boot {n_boot} over {n_seeds} seed(s) x {n_days} days", "use fewer resamples")


def followers_spec(text: str) -> str:
    """``--followers NAME[:key=value,...]``: a registered population with options it accepts (checked now,
    so a bad name or option fails before any run, naming the valid ones); the text itself is kept."""
    from agents.populations import parse_population

    try:
        parse_population(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return int(_bounded(int, 1, text))


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return int(_bounded(int, 0, text))


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return float(_bounded(float, 0.0, text, 1e300))


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def min_days(horizon: int, eval_skip: int, warmup: int = 20, lag: int = 1) -> int:
    """Fewest market days with at least one evaluation day whose ``horizon``-day return is paid.

    The episode runs from day ``warmup`` to ``T - 2``; evaluation starts ``eval_skip`` days in; a day
    is paid once its return realises ``horizon + lag`` days later, inside the episode.
    """
    return warmup + eval_skip + horizon + lag + 2


def check_fits(n_days: int, horizon: int, eval_skip: int, *, what: str, warmup: int = 20, lag: int = 1) -> None:
    """Before computing: ``ValueError`` when a market of ``n_days`` days has no evaluation day with even
    a 1-day return (every number would be NaN); a ``RuntimeWarning`` when the payoff ``horizon`` is never
    paid on an evaluation day (leaders learn from no payoff and that horizon's Rank IC is NaN; the
    1/5/10-day columns still mean what they say)."""
    if horizon < 1:
        raise ValueError(f"--horizon must be >= 1 trading day, got {horizon}")
    longest = n_days - min_days(0, eval_skip, warmup, lag)
    if longest < 1:
        raise ValueError(
            f"{what} has {n_days} days, too few for any evaluation day: it needs at least {min_days(1, eval_skip)} "
            f"({warmup} warm-up + {eval_skip} evaluation skip + a 1-day return + lag {lag} + 2)")
    if horizon > longest:
        warnings.warn(
            f"{what} has {n_days} days: at horizon {horizon} no evaluation day is ever paid (it needs "
            f"{min_days(horizon, eval_skip, warmup, lag)} days); leaders get no payoff and the {horizon}-day "
            f"Rank IC is NaN; the longest horizon this market pays is {longest}", RuntimeWarning, stacklevel=3)


def changed_flags(args: argparse.Namespace, parser: argparse.ArgumentParser, flags: Sequence[str]) -> list[str]:
    """The ``flags`` (dest names) set to something other than the parser's default, as ``--flag-name``:
    a command warns about (or refuses) the ones its other settings make it ignore."""
    return ["--" + f.replace("_", "-") for f in flags if getattr(args, f, None) != parser.get_default(f)]
