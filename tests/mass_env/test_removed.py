"""``mass_env.removed``: every entry of the table, both ways. The old path fails with an error that
names the new home, and the new home exists (so the table cannot go stale)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import subprocess
import sys

import numpy as np
import pytest
from repo_paths import REPO

from mass_env.removed import REMOVED, message

#: a sample instance of each class whose attributes are in the table
INSTANCES = {
    "mass_env.game.mechanism.PrincipalAction": lambda: importlib.import_module("mass_env").PrincipalAction(
        np.ones(2), 0.5, 0.1),
    "mass_env.game.stackelberg.GameConfig": lambda: importlib.import_module("mass_env").GameConfig(),
}


def _experiments_regrouped() -> bool:
    spec = importlib.util.find_spec("experiments.sweep")
    return spec is not None and spec.submodule_search_locations is not None


def _resolve(path: str) -> object:
    """Import the longest importable prefix of a dotted path, then follow attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def _new_paths(new: str) -> list[str]:
    """The dotted paths a table value names (itself, or those inside a sentence)."""
    if " " not in new:
        return [new]
    return [p.rstrip(".,;:") for p in re.findall(r"\b(?:mass_env|agents|principals|experiments)(?:\.\w+)+", new)]


def _skip_unless_ready(old: str, new: str) -> None:
    if (old.startswith("experiments.") or new.startswith("experiments.")) and not _experiments_regrouped():
        pytest.skip("the experiments package is regrouped into sweep/, parallel/, stats/ in 0.3")


@pytest.mark.parametrize("old", sorted(REMOVED))
def test_the_old_path_fails_naming_the_new_one(old):
    new = REMOVED[old]
    _skip_unless_ready(old, new)
    if "(" in old:  # a keyword of a call: the old keyword is unknown, the new one exists
        target, kw = re.fullmatch(r"(.+)\((\w+)=\)", old).groups()
        new_target, new_kw = re.fullmatch(r"(.+)\((\w+)=\)", new).groups()
        assert new_target == target
        params = inspect.signature(_resolve(target)).parameters
        assert kw not in params and new_kw in params
        return
    parent, _, name = old.rpartition(".")
    if parent in INSTANCES:  # an attribute of a class
        with pytest.raises(AttributeError, match=re.escape(message(old))):
            getattr(INSTANCES[parent](), name)
        return
    try:
        module = importlib.import_module(parent)
    except ImportError:  # the parent is gone too: only the import of the old path itself can be tried
        module = None
    if module is None or hasattr(module, "__path__"):  # `import old` (a module, or a name in a package)
        with pytest.raises(ImportError, match=re.escape(message(old))):
            importlib.import_module(old)
    if module is not None:  # `from parent import name`
        with pytest.raises(ImportError, match=re.escape(message(old))):
            exec(f"from {parent} import {name}", {})


@pytest.mark.parametrize("old", sorted(REMOVED))
def test_the_new_home_exists(old):
    new = REMOVED[old]
    _skip_unless_ready(old, new)
    paths = _new_paths(new.split("(")[0])
    assert paths, f"{old}: the table names no new path ({new!r})"
    for path in paths:
        if path.rpartition(".")[0] in INSTANCES:
            assert hasattr(INSTANCES[path.rpartition(".")[0]](), path.rpartition(".")[2])
        else:
            _resolve(path)


def test_other_missing_names_keep_their_usual_errors():
    import mass_env

    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        mass_env.no_such_name  # noqa: B018
    with pytest.raises(ModuleNotFoundError, match="No module named 'mass_env.no_such_module'"):
        importlib.import_module("mass_env.no_such_module")
    with pytest.raises(AttributeError, match="'GameConfig' object has no attribute 'no_such_field'"):
        mass_env.GameConfig().no_such_field  # noqa: B018


@pytest.mark.parametrize("package", ["mass_env", "agents", "principals", "experiments"])
def test_importing_any_package_installs_the_table(package):
    code = (f"import {package}\n"
            "try:\n    import mass_env.panel\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert "use mass_env.data.panel" in out.stdout, out.stderr
