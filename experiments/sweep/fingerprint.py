"""What a run's result depends on in code, and which versions produced it.

A sweep resumes by reusing stored runs whose key matches; the key must therefore change whenever
code that shapes a run changes. ``run_sources`` lists that code for one config (the game, the
episode runner, the leader and its optimiser with every module they import from their own source
root, a user's ``--principal module:Attr`` helpers included, the followers) and ``code_fingerprint``
hashes it.
Two kinds of code are deliberately left out:

* data loading (``data/frame.py``, ``vendors.py``, ``datasets.py``, ``macro.py``): the panel's content
  is hashed instead
  (``experiments.sweep.markets.market_fingerprint``);
* the sweep's own modules (``experiments.sweep.engine``, ``.store``, ``.spec``, ``.markets``,
  ``experiments.stats.oracle``): bump ``experiments.sweep.store.FORMAT_VERSION`` when they change what a
  run produces (``experiments.sweep.workers``, which plays a run, is hashed).

``versions()`` records the interpreter and package versions in ``ablation.json`` and ``train.json``.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import principals
from agents.populations import population_sources
from experiments.sweep.configs import AblationConfig
from mass_env.registry import is_reference, module_roots
from principals.blackbox import optimise
from principals.cmaes import CMAES

#: Source files whose effect a run's key already captures: data loading (the panel is hashed).
_NOT_FINGERPRINTED = {"loaders.py", "frame.py", "vendors.py", "datasets.py", "macro.py"}
_ROOT = Path(__file__).resolve().parents[2]  # the repository (experiments/sweep/ -> ../..)

#: Packages whose versions are recorded (missing ones as "not installed").
PACKAGES = ("mass-mechanism", "numpy", "pandas", "scipy", "cma", "statsmodels", "gymnasium", "pettingzoo", "pyarrow",
            "matplotlib", "torch", "stable-baselines3")


def _source_file(obj: Any) -> Path | None:
    """The file defining a class or function (or the class of an instance); None for builtins."""
    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj)
    try:
        f = inspect.getsourcefile(target)
    except TypeError:
        return None
    return Path(f).resolve() if f else None


def run_sources(cfg: AblationConfig, followers: str) -> list[Path]:
    """The source files a run of ``cfg`` depends on: the game (``mass_env``), the episode runner,
    the modules defining the leader (and its optimiser) and the followers."""
    files = [f for f in sorted((_ROOT / "mass_env").rglob("*.py")) if f.name not in _NOT_FINGERPRINTED]
    files += [_ROOT / "experiments" / "sweep" / "workers.py"]
    leader = principals.make(cfg.principal, **cfg.principal_options())
    parts: list[Any] = [leader, getattr(leader, "optimizer", None)]
    if cfg.kind == "oracle":
        parts += [CMAES, optimise]
    files += [f for f in (_source_file(o) for o in parts if o is not None) if f is not None]
    modules = {_module_of(o) for o in parts if o is not None}
    if is_reference(cfg.principal):  # the module a ``module:Attr`` leader is imported from
        modules.add(cfg.principal.split(":", 1)[0].strip())
    for name in sorted(m for m in modules if m):
        files += local_imports(name)
    files += population_sources(followers)
    return sorted(set(files))


def _module_of(obj: Any) -> str | None:
    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    return getattr(target, "__module__", None)


def local_imports(module: str) -> list[Path]:
    """The file of the imported ``module`` and of every module it imports, directly or through others,
    from its own source root (the ``sys.path`` folder it was imported from; for an installed package,
    from its own package only). Why: a leader runs the code of its helpers too, so editing a helper
    module it imports must change the stored run's key. Lazy imports inside functions count (the
    source is read, nothing is imported)."""
    mod = sys.modules.get(module)
    file = getattr(mod, "__file__", None)
    roots = module_roots([module])
    if not file or not roots:
        return []
    root = Path(roots[0])
    top = module.split(".")[0]
    installed = any(p in ("site-packages", "dist-packages") for p in root.parts)
    seen: set[Path] = set()
    todo = [(module, Path(file).resolve())]
    while todo:
        name, path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for imported in _imported_names(path, name):
            if installed and imported.split(".")[0] != top:
                continue
            base = root.joinpath(*imported.split("."))
            for cand in (base.with_suffix(".py"), base / "__init__.py"):
                if cand.is_file() and cand.resolve() not in seen:
                    todo.append((imported, cand.resolve()))
    return sorted(seen)


def _imported_names(path: Path, module: str) -> list[str]:
    """Absolute names of the modules ``path`` (module ``module``) imports, and of the names it imports
    from them (``from pkg import helper`` -> ``pkg``, ``pkg.helper``)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[:len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                out.append(base)
                out += [f"{base}.{a.name}" for a in node.names if a.name != "*"]
    return out


def code_fingerprint(files: Iterable[Path]) -> str:
    """Hash of the given source files (paths relative to the project root, and contents)."""
    h = hashlib.sha256()
    for f in sorted(set(files)):
        if f.exists():
            try:
                h.update(f.relative_to(_ROOT).as_posix().encode())
            except ValueError:
                h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Python, the platform and the versions of ``PACKAGES``."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
