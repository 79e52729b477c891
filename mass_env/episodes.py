"""Which days an episode of ``MassStackelbergEnv`` plays: its reset options read and checked.

Why apart from the env: the options are plain data with their own errors (whole-number days, a window
that must fit the panel, ``max_cycles`` as a cap), tested on their own, and the env module stays one
idea (the game's PettingZoo face).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import MassError

#: the keys ``MassStackelbergEnv.reset(options=...)`` understands
RESET_OPTIONS = ("start", "end", "episode_days", "initial_action")


def whole_days(value: object, name: str) -> int | None:
    """A day index or count (reset options ``start``, ``end``, ``episode_days``) as an int; None stays None;
    anything but a whole number is a ``MassError`` naming the option."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise MassError(f"{name} is a day index or count, a whole number; got {value!r}")


def episode_bounds(options: Mapping[str, Any] | None, *, episode_days: int | None, first: int, last: int,
                   max_cycles: int | None, rng: np.random.Generator) -> tuple[int | None, int | None, Any]:
    """``(start, end, initial_action)`` from the reset options (see ``MassStackelbergEnv``'s Episodes):
    ``first``..``last`` are the playable days, ``episode_days`` the env's default window length, ``rng``
    draws a window's start when none is given. Called from ``reset`` (warnings point at its caller)."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise MassError(f"reset options must be a dict, got {type(options).__name__}")
    unknown = sorted(set(options) - set(RESET_OPTIONS))
    if unknown:  # a warning, not an error: PettingZoo's api_test resets with options={"options": 1}
        warnings.warn(f"ignoring unknown reset options {unknown}; valid: {', '.join(RESET_OPTIONS)}",
                      UserWarning, stacklevel=3)
    start, end = whole_days(options.get("start"), "start"), whole_days(options.get("end"), "end")
    length = whole_days(options.get("episode_days", episode_days), "episode_days")
    if length is not None:
        length = int(length)
        if length < 1 or (end is not None and "episode_days" in options):
            raise MassError(f"episode_days must be >= 1 and not combined with end, got {length}, end={end}")
        if start is None:
            if first + length - 1 > last:
                raise MassError(f"episode_days={length} does not fit the panel: days {first}..{last} "
                                f"({last - first + 1} days) are playable")
            start = int(rng.integers(first, last - length + 2))
        end = min(int(start) + length - 1, last) if end is None else end
    if max_cycles is not None:
        s = first if start is None else int(start)
        end = min(last if end is None else int(end), s + max_cycles - 1)
    return start, end, options.get("initial_action")
