"""The leaders' registry: ``make(name, **options)`` builds any registered leader.

Each leader registers itself in the module that defines it, so a new leader is one module plus
one import line in ``principals/__init__.py``; installed packages add leaders through the
``mass_mechanism.principals`` entry-point group (a factory or class, called with keyword options).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mass_env.registry import Registry
from mass_env.roles import Principal

Factory = Callable[..., Principal]

PRINCIPALS: Registry[Principal] = Registry("principal", entry_point_group="mass_mechanism.principals")


@dataclass(frozen=True)
class LeaderInfo:
    """How a registered leader is described in tables: its display ``label`` and, for window leaders,
    the window options its factory defaults to (``None``: not a window leader)."""

    label: str
    window_defaults: Mapping[str, Any] | None = None


_INFO: dict[str, LeaderInfo] = {}


def register(name: str, factory: Factory, *, aliases: Iterable[str] = (), replace: bool = False,
             label: str | None = None, window_defaults: Mapping[str, Any] | None = None) -> Factory:
    """Add a leader under ``name``; ``factory(**options)`` must return a ``Principal``. ``label`` and
    ``window_defaults`` describe it in tables (``leader_info``)."""
    PRINCIPALS.register(name, factory, aliases=aliases, replace=replace)
    key = PRINCIPALS.canonical(name)
    _INFO[key] = LeaderInfo(label or key, None if window_defaults is None else dict(window_defaults))
    return factory


def leader_info(name: str) -> LeaderInfo:
    """The table description of leader ``name`` (its own name and no window defaults if none was given)."""
    key = PRINCIPALS.canonical(name)
    return _INFO.get(key, LeaderInfo(key))


def make(name: str, **options: Any) -> Principal:
    """Build the leader registered as ``name`` with keyword ``options`` (see ``principals``)."""
    return PRINCIPALS.make(name, **options)


def available() -> tuple[str, ...]:
    """Names ``make`` accepts (aliases excluded)."""
    return PRINCIPALS.available()


def check_options(name: str, options: Iterable[str], valid: Iterable[str]) -> None:
    """Raise a clear error for options a leader does not take (listing the valid ones)."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) for principal {name!r}: {unknown}; valid: {sorted(set(valid))}")
