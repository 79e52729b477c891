"""The leaders' registry: ``make(name, **options)`` builds any registered leader.

Each leader registers itself in the module that defines it, so a new leader is one module plus
one import line in ``principals/__init__.py``; installed packages add leaders through the
``mass_mechanism.principals`` entry-point group (a factory or class, called with keyword options),
and ``make("my_module:MyLeader", ...)`` builds a user's class or factory by import reference without
registering it. ``make`` checks what it builds: options the factory does not take and an object that
is not a ``Principal`` are clear errors, never a failure deep inside an episode.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mass_env.errors import MassError
from mass_env.registry import Registry
from mass_env.roles import Principal

from .options import declared_types, typed_options

Factory = Callable[..., Principal]

PRINCIPALS: Registry[Principal] = Registry("principal", entry_point_group="mass_mechanism.principals")


@dataclass(frozen=True)
class PrincipalInfo:
    """How a registered leader is described in tables: its display ``label`` and, for window leaders,
    the window options its factory defaults to (``None``: not a window leader)."""

    label: str
    window_defaults: Mapping[str, Any] | None = None


_INFO: dict[str, PrincipalInfo] = {}


def register(name: str, factory: Factory, *, aliases: Iterable[str] = (), replace: bool = False,
             label: str | None = None, window_defaults: Mapping[str, Any] | None = None) -> Factory:
    """Add a leader under ``name``; ``factory(**options)`` must return a ``Principal``. ``label`` and
    ``window_defaults`` describe it in tables (``principal_info``)."""
    PRINCIPALS.register(name, factory, aliases=aliases, replace=replace)
    key = PRINCIPALS.canonical(name)
    _INFO[key] = PrincipalInfo(label or key, None if window_defaults is None else dict(window_defaults))
    return factory


def principal_info(name: str) -> PrincipalInfo:
    """The table description of leader ``name``: what ``register`` was given; for an entry point or an
    import reference, the factory's ``label`` attribute (else its name) and no window defaults."""
    key = PRINCIPALS.canonical(name)
    if key in _INFO:
        return _INFO[key]
    return PrincipalInfo(str(getattr(PRINCIPALS.get(key), "label", key)))


def validate(name: str, options: Mapping[str, Any]) -> Factory:
    """The factory of ``name`` after checking that it takes ``options`` (without building anything):
    unknown names and options are errors that list what is valid."""
    factory = PRINCIPALS.get(name)
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return factory
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return factory  # takes **options: the factory checks them itself
    valid = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    check_options(name, options, valid)
    missing = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in options]
    if missing:
        raise MassError(f"principal {name!r} needs option(s) {missing} (NAME:key=value); it takes {valid}")
    return factory


def typed(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` of leader ``name`` converted to the types it declares (``principals.options``): the
    text ``"no"`` of a boolean option is False, a NaN step or a quoted number is a clear error."""
    return typed_options(name, options, declared_types(PRINCIPALS.get(name)))


def make(name: str, **options: Any) -> Principal:
    """Build the leader ``name`` (registered, an entry point, or a ``module:attribute`` reference to a
    class or factory) with keyword ``options`` (see ``principals``), each of the type it declares."""
    options = typed(name, options)
    leader = validate(name, options)(**options)
    if not isinstance(leader, Principal):
        lacks = [m for m in ("name", "reset", "act", "observe") if not hasattr(leader, m)]
        raise MassError(f"principal {name!r} built a {type(leader).__name__}, which is not a Principal: it lacks "
                        f"{', '.join(lacks)} (see mass_env.roles.Principal; check it with "
                        "mass_env.testing.check_principal)")
    return leader


def available() -> tuple[str, ...]:
    """Registered names ``make`` accepts (aliases and import references excluded)."""
    return PRINCIPALS.available()


def listing() -> dict[str, tuple[str, str]]:
    """``{name: (label, first docstring line)}`` of every registered leader, entry points included."""
    return {n: (principal_info(n).label, doc) for n, doc in PRINCIPALS.describe().items()}


def check_options(name: str, options: Iterable[str], valid: Iterable[str]) -> None:
    """Raise a clear error for options a leader does not take (listing the valid ones)."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise MassError(f"unknown option(s) for principal {name!r}: {unknown}; valid: {sorted(set(valid))}")
