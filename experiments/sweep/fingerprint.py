"""What a run's result depends on in code, and which versions produced it.

A sweep resumes by reusing stored runs whose key matches; the key must therefore change whenever
code that shapes a run changes. ``run_sources`` lists that code for one config (the game, the
episode runner, the leader and its optimiser, the followers) and ``code_fingerprint`` hashes it.
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

import hashlib
import inspect
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import principals
from agents.populations import population_sources
from experiments.sweep.configs import AblationConfig
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
    files += population_sources(followers)
    return sorted(set(files))


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
