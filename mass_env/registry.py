"""One ``register`` / ``make`` registry shape for everything chosen by name.

Principals, LLM backends, follower populations, datasets and vendor adapters are each a
``Registry``: a name (plus aliases) maps to a factory; ``make(name, **options)`` calls it.
Installed packages can add entries through an entry-point group (loaded on first lookup).

Entries registered when a module is imported are visible in process-pool and Ray workers as long
as the worker imports that module too: ``modules()`` lists the modules whose import (re)creates
the registrations, and a sweep imports them in each worker before it runs anything
(``import_modules``). A factory defined in ``__main__`` or in a closure cannot be re-created in a
worker and is reported as such instead of failing later with an unknown name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from .errors import MassError

T = TypeVar("T")


class UnknownNameError(MassError, KeyError):
    """A registry was asked for a name it does not hold (the message lists the valid names)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Names -> factories returning ``T``. ``kind`` words the error messages ("principal", ...)."""

    def __init__(self, kind: str, *, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._factories: dict[str, Callable[..., T]] = {}
        self._aliases: dict[str, str] = {}
        self._docs: dict[str, str] = {}
        self._entry_points_loaded = entry_point_group is None

    # ------------------------------------------------------------------ registering
    def register(self, name: str, factory: Callable[..., T], *, aliases: Iterable[str] = (),
                 replace: bool = False, doc: str | None = None) -> Callable[..., T]:
        """Add ``factory`` under ``name`` (case-insensitive) and ``aliases``; returns the factory."""
        key = self._norm(name)
        if not key:
            raise MassError(f"a {self.kind} needs a non-empty name")
        names = [key, *(self._norm(a) for a in aliases)]
        if not replace:
            taken = [n for n in names if n in self._factories or n in self._aliases]
            if taken:
                raise MassError(f"{self.kind} {taken[0]!r} is already registered (pass replace=True to override)")
        self._factories[key] = factory
        for a in names[1:]:
            self._aliases[a] = key
        self._docs[key] = doc if doc is not None else (factory.__doc__ or "").strip().split("\n")[0]
        return factory

    def unregister(self, name: str) -> None:
        key = self._resolve(name)
        self._factories.pop(key, None)
        self._docs.pop(key, None)
        for a in [a for a, k in self._aliases.items() if k == key]:
            del self._aliases[a]

    # ------------------------------------------------------------------ looking up
    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (or an alias)."""
        key = self._resolve(name)
        if key not in self._factories:
            self._load_entry_points()
            key = self._resolve(name)
        if key not in self._factories:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}")
        return self._factories[key]

    def make(self, name: str, /, **options: Any) -> T:
        """Build the entry ``name`` with keyword ``options``."""
        return self.get(name)(**options)

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (resolves aliases; raises for unknown names)."""
        self.get(name)
        return self._resolve(name)

    def available(self) -> tuple[str, ...]:
        """Registered names (aliases excluded), in registration order."""
        self._load_entry_points()
        return tuple(self._factories)

    def describe(self) -> dict[str, str]:
        """``{name: first docstring line}`` for listings (``mass ablation --list``)."""
        return {n: self._docs.get(n, "") for n in self.available()}

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if self._resolve(name) not in self._factories:
            self._load_entry_points()
        return self._resolve(name) in self._factories

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._factories)})"

    # ------------------------------------------------------------------ workers
    def modules(self, names: Iterable[str] | None = None) -> tuple[str, ...]:
        """Modules whose import registers ``names`` (default: every entry), for worker processes."""
        keys = self.available() if names is None else [self.canonical(n) for n in names]
        out: list[str] = []
        for k in keys:
            mod = getattr(self._factories[k], "__module__", None)
            if mod and mod not in out:
                out.append(mod)
        return tuple(out)

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _norm(name: str) -> str:
        return str(name).strip().lower()

    def _resolve(self, name: str) -> str:
        key = self._norm(name)
        return self._aliases.get(key, key)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=str(self.entry_point_group)):
            if self._norm(ep.name) in self._factories:
                continue
            try:
                factory = ep.load()
            except Exception as exc:  # a broken plugin must not hide the working entries
                raise MassError(f"{self.kind} plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            self.register(ep.name, factory)


def import_modules(modules: Iterable[str]) -> None:
    """Import the modules that register entries (in a worker, before it looks anything up)."""
    for m in modules:
        if m == "__main__":
            raise MassError("an entry registered in __main__ cannot be re-created in a worker process: "
                            "define and register it in an importable module")
        importlib.import_module(m)
