"""Deprecated (removed in 0.3): follower populations moved to ``agents.populations``, a registry whose
entries take plain options (``SweepSpec(followers=NAME, follower_options={...})``) so that process-pool
and Ray workers can build them too."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.populations import POPULATIONS, register_population


def register_followers(name: str, factory: Callable[..., Mapping[str, Any]],
                       sources: Sequence[str | Path] = ()) -> None:
    """Deprecated: ``agents.populations.register_population(name, factory, sources=...)``."""
    warnings.warn("experiments.followers.register_followers is deprecated and will be removed in 0.3; use "
                  "agents.populations.register_population", DeprecationWarning, stacklevel=2)
    register_population(name, factory, sources=sources, replace=True)


def __getattr__(name: str) -> Any:
    if name in ("FOLLOWERS", "FOLLOWER_SOURCES"):
        warnings.warn(f"experiments.followers.{name} is deprecated and will be removed in 0.3; use "
                      "agents.populations.POPULATIONS",
                      DeprecationWarning, stacklevel=2)
        from agents.populations import population_sources

        if name == "FOLLOWERS":
            return {n: POPULATIONS.get(n) for n in POPULATIONS.available()}
        return {n: list(population_sources(n)) for n in POPULATIONS.available()}
    raise AttributeError(f"module 'experiments.followers' has no attribute {name!r}")
