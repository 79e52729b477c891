"""One ``register`` / ``make`` registry shape for everything chosen by name.

Principals, LLM backends, follower populations, datasets and vendor adapters are each a
``Registry``: a name (plus aliases) maps to a factory; ``make(name, **options)`` calls it.
Installed packages can add entries through an entry-point group (loaded on first lookup, and
again when ``sys.path`` changed since). A name of the form
``module:attribute`` (``my_leaders:MyLeader``, ``pkg.mod:make``) that is not registered is an
import *reference*: ``get`` imports the module and returns the attribute (a class or factory), so a
user's own code is usable by name without registering it.

Entries registered when a module is imported are visible in process-pool and Ray workers as long
as the worker imports that module too: ``modules()`` lists the modules whose import (re)creates
the registrations (for a reference: its module), and a sweep imports them in each worker before it
runs anything (``import_modules``). A worker does not share the parent's ``sys.path`` (Ray workers
get only the driver script's folder), so the parent also sends the folders those modules were
imported from (``module_roots``), which a worker on the same machine adds before importing. A factory
defined in ``__main__`` or in a closure cannot be re-created in a worker and is reported as such
instead of failing later with an unknown name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import MassError

T = TypeVar("T")

#: ``module.path:attribute.path``: an import reference to a class or factory.
_REFERENCE = re.compile(r"\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*")


def is_reference(name: str) -> bool:
    """True when ``name`` has the form ``module:attribute`` (an import reference)."""
    return isinstance(name, str) and _REFERENCE.fullmatch(name) is not None


def load_reference(ref: str, kind: str = "entry") -> Callable[..., Any]:
    """Import ``module:attribute`` and return the attribute, which must be callable (a class or factory).

    Every failure is a ``MassError`` that says what was wrong: the module is not importable (and from
    where modules are imported), it has no such attribute (listing its public callables), or the
    attribute is not callable.
    """
    m = _REFERENCE.fullmatch(ref)
    if m is None:
        raise MassError(f"{ref!r} is not a {kind} reference; write module:attribute (e.g. my_leaders:MyLeader)")
    mod_name, attr = m.groups()
    try:
        obj: Any = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):
            raise MassError(f"{kind} {ref!r}: no module named {exc.name!r} on the Python path; run from the "
                            "folder that holds it, add that folder to PYTHONPATH, or install its package"
                            ) from exc
        raise MassError(f"{kind} {ref!r}: importing {mod_name!r} failed: {exc}") from exc
    except SyntaxError as exc:  # the user's module does not compile: where, not a traceback
        raise MassError(f"{kind} {ref!r}: {exc.filename or mod_name}, line {exc.lineno}: {type(exc).__name__}: "
                        f"{exc.msg}") from exc
    except Exception as exc:  # noqa: BLE001 (the module raised while imported: say so, with its words)
        raise MassError(f"{kind} {ref!r}: importing {mod_name!r} raised {type(exc).__name__}: {exc}") from exc
    for i, part in enumerate(attr.split(".")):
        if not hasattr(obj, part):
            where = ".".join([mod_name, *attr.split(".")[:i]])
            names = sorted(n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None)))
            raise MassError(f"{kind} {ref!r}: {where} has no attribute {part!r}; its public callables: "
                            f"{', '.join(names) or 'none'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise MassError(f"{kind} {ref!r} is a {type(obj).__name__}, not a class or factory")
    return obj  # type: ignore[no-any-return]


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
        self._scanned_path: tuple[str, ...] | None = None

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
        """The factory registered as ``name`` (or an alias), or the class or factory a ``module:attribute``
        reference names."""
        key = self._resolve(name)
        if key not in self._factories:
            self._load_entry_points()
            key = self._resolve(name)
        if key not in self._factories:
            if is_reference(name):
                return load_reference(name, self.kind)
            raise UnknownNameError(f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}")
        return self._factories[key]

    def make(self, name: str, /, **options: Any) -> T:
        """Build the entry ``name`` with keyword ``options``."""
        return self.get(name)(**options)

    def canonical(self, name: str) -> str:
        """The registered name behind ``name`` (resolves aliases; a reference stays as written, case
        included; raises for unknown names)."""
        self.get(name)
        key = self._resolve(name)
        return key if key in self._factories else name.strip()

    def available(self) -> tuple[str, ...]:
        """Registered names (aliases excluded), in registration order."""
        self._load_entry_points()
        return tuple(self._factories)

    def describe(self) -> dict[str, str]:
        """``{name: first docstring line}`` for listings (``mass ablation --list``)."""
        return {n: self._docs.get(n, "") for n in self.available()}

    def __contains__(self, name: object) -> bool:
        """Registered (entry points included); an import reference counts when it loads."""
        if not isinstance(name, str):
            return False
        if self._resolve(name) not in self._factories:
            self._load_entry_points()
        if self._resolve(name) in self._factories:
            return True
        if is_reference(name):
            try:
                load_reference(name, self.kind)
            except MassError:
                return False
            return True
        return False

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._factories)})"

    # ------------------------------------------------------------------ workers
    def modules(self, names: Iterable[str] | None = None) -> tuple[str, ...]:
        """Modules whose import registers ``names`` (default: every entry), for worker processes."""
        keys = self.available() if names is None else [self.canonical(n) for n in names]
        out: list[str] = []
        for k in keys:
            ref = _REFERENCE.fullmatch(k) if k not in self._factories else None
            mod = ref.group(1) if ref else getattr(self._factories[k], "__module__", None)
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
        """Register the group's entry points: once, and again when ``sys.path`` changed since (e.g. in a
        worker that just added a plugin's folder)."""
        if self.entry_point_group is None:
            return
        if self._entry_points_loaded and self._scanned_path == tuple(sys.path):
            return
        self._entry_points_loaded = True
        self._scanned_path = tuple(sys.path)
        for ep in importlib.metadata.entry_points(group=str(self.entry_point_group)):
            if self._norm(ep.name) in self._factories:
                continue
            try:
                factory = ep.load()
            except Exception as exc:  # a broken plugin must not hide the working entries
                raise MassError(f"{self.kind} plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            self.register(ep.name, factory)


def module_roots(modules: Iterable[str]) -> tuple[str, ...]:
    """The ``sys.path`` folders the (imported) ``modules`` were loaded from, for ``import_modules`` in a
    worker whose path lacks them (``pkg.sub.mod`` in ``/x/pkg/sub/mod.py`` -> ``/x``)."""
    out: list[str] = []
    for name in modules:
        mod = sys.modules.get(name)
        file = getattr(mod, "__file__", None)
        if not file or name == "__main__":
            continue
        path = Path(file).resolve()
        depth = name.count(".") + (1 if path.name == "__init__.py" else 0)
        root = str(path.parents[depth])
        if root not in out:
            out.append(root)
    return tuple(out)


def import_modules(modules: Iterable[str], paths: Iterable[str] = ()) -> None:
    """Import the modules that register entries (in a worker, before it looks anything up), after
    appending the existing ``paths`` folders (``module_roots`` of the parent) missing from ``sys.path``."""
    added = [p for p in paths if p not in sys.path and Path(p).is_dir()]
    if added:
        sys.path.extend(added)
        importlib.invalidate_caches()
    for m in modules:
        if m == "__main__":
            raise MassError("an entry registered in __main__ cannot be re-created in a worker process: "
                            "define and register it in an importable module")
        try:
            importlib.import_module(m)
        except ModuleNotFoundError as exc:
            if exc.name and (m == exc.name or m.startswith(exc.name + ".")):
                raise MassError(f"module {m!r} is not importable in this worker process (not under "
                                f"{list(paths) or 'its sys.path'}): install its package there, or on a remote "
                                "Ray cluster ship it with runtime_env={'py_modules': [...]}") from exc
            raise
        except SyntaxError as exc:
            raise MassError(f"module {m!r}: {exc.filename}, line {exc.lineno}: SyntaxError: {exc.msg}") from exc
