"""Deprecated import paths kept for one release (0.2 moved modules into ``data/`` and ``game/``).

An old module is a stub whose attribute access forwards to the new module with a
``DeprecationWarning`` naming the new path, so ``from mass_env.panel import MarketPanel`` keeps
working and says where ``MarketPanel`` lives now.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved_module(old: str, new: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` forwarding every name of ``old`` to ``new`` (with a warning)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(f"{old} is deprecated and will be removed in 0.3; import {name} from {new}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new), name)

    return __getattr__


def moved_names(old: str, names: dict[str, str], *, stacklevel: int = 2) -> Callable[[str], Any]:
    """A module ``__getattr__`` for individual names that moved: ``{name: new_module}``
    (``stacklevel=3`` when another module ``__getattr__`` calls this one, so the warning still
    points at the importing line)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        new = names[name]
        warnings.warn(f"{old}.{name} is deprecated and will be removed in 0.3; import it from {new}",
                      DeprecationWarning, stacklevel=stacklevel)
        return getattr(importlib.import_module(new), name)

    return __getattr__
