"""A leader's options get the type its factory declares, checked before anything runs.

Why: ``--principal sa:learn_alpha=no`` arrives as the text ``"no"``, which Python takes for true; a
``step=nan`` or ``lookback="5"`` fails (or worse, runs) deep inside an episode. Every option is
therefore converted to the type the leader declares (its annotations; for a factory taking
``**options``, its ``option_types`` attribute) before the leader is built, and a value that does
not fit is an error naming the option, the leader and the values it takes. Booleans accept
true/false, yes/no, on/off and 1/0; numbers must be finite; an integer is whole; ``None`` is
accepted where the type allows it; an option without a declared type is passed as given (a
number-valued default still refuses text).
"""

from __future__ import annotations

import enum
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from mass_env.errors import MassError

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class _Number:
    """The type of an unannotated option whose default is a number: int or float, finite."""


def declared_types(factory: Callable[..., Any]) -> dict[str, Any]:
    """``{option: declared type}`` of a leader factory (its ``option_types``, else its signature)."""
    explicit = getattr(factory, "option_types", None)
    if explicit is not None:
        return dict(explicit)
    target = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 (annotations naming what is not importable: fall back to defaults)
        hints = {}
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    out: dict[str, Any] = {}
    for p in params:
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        if p.name in hints:
            out[p.name] = hints[p.name]
        elif isinstance(p.default, bool):
            out[p.name] = bool
        elif isinstance(p.default, (int, float)):
            out[p.name] = _Number
    return out


def dataclass_types(cls: type) -> dict[str, Any]:
    """``{field: type}`` of a dataclass of options (``WindowOptions``)."""
    return dict(typing.get_type_hints(cls))


def typed_options(principal: str, options: Mapping[str, Any], declared: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` converted to their ``declared`` types; ``MassError`` naming the option otherwise."""
    return {k: (coerce(principal, k, v, declared[k]) if k in declared else v) for k, v in options.items()}


def _fail(principal: str, key: str, value: Any, takes: str) -> MassError:
    shown = f"the text {value!r}" if isinstance(value, str) else repr(value)
    return MassError(f"option {key!r} of principal {principal!r} takes {takes}, got {shown}")


def coerce(principal: str, key: str, value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (see the module docstring)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("none", "null"))):
            return None
        rest = [a for a in args if a is not type(None)]
        errors = []
        for a in rest:  # the first type the value fits
            try:
                return coerce(principal, key, value, a)
            except MassError as exc:
                errors.append(str(exc).split(" takes ", 1)[1].split(", got ")[0])
        raise _fail(principal, key, value, " or ".join(errors + (["None"] if type(None) in args else [])))
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise _fail(principal, key, value, "one of " + ", ".join(map(repr, allowed)))
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise _fail(principal, key, value, "true or false (yes/no, on/off, 1/0)")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise _fail(principal, key, value, f"a whole number (write {key}=5, without quotes)")
    if hint is float or hint is _Number:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value) if hint is float else value
        raise _fail(principal, key, value, f"a finite number (write {key}=0.5, without quotes)")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        valid = [m.value for m in hint]
        if isinstance(value, hint) or value in valid:
            return value
        raise _fail(principal, key, value, "one of " + ", ".join(map(repr, valid)))
    if hint is str:
        if isinstance(value, str):
            return value
        raise _fail(principal, key, value, "a text")
    return value
