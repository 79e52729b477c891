"""The layering rules, checked on the source: no import runs upward and there is no import circle,
counting imports inside functions (lazy imports) and under ``TYPE_CHECKING`` too.

Layers, bottom to top: ``mass_env`` (inside it: ``data`` < ``game`` < the roles, loop and envs),
then ``agents`` and ``principals`` (which never import each other), then ``experiments``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from repo_paths import REPO

ROOT = REPO
PACKAGES = ("mass_env", "agents", "principals", "experiments")
RANK = {"mass_env": 0, "agents": 1, "principals": 1, "experiments": 2}
#: inside mass_env: what each sub-layer may not import
MASS_ENV_FORBIDDEN = {
    "mass_env.data": ("mass_env.game", "mass_env.roles", "mass_env.rollout", "mass_env.env", "mass_env.gym_env",
                      "mass_env.scripted", "mass_env.observation", "mass_env.testing"),
    "mass_env.game": ("mass_env.roles", "mass_env.rollout", "mass_env.env", "mass_env.gym_env",
                      "mass_env.scripted", "mass_env.observation", "mass_env.testing"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(f)] = f
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the project that ``name`` imports anywhere in its source."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                stem = base[: len(base) - (node.level - 1)]
                mod = ".".join(stem + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import a.b.c` names module a.b.c, or the nearest package
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


GRAPH = _graph()


def test_the_graph_sees_lazy_imports():
    # a sanity check of the parser itself: known edges, including one inside a function
    assert "mass_env.game.stackelberg" in GRAPH["mass_env.game.scoring"] or \
        "mass_env.game.aggregation" in GRAPH["mass_env.game.scoring"]
    assert "mass_env.rollout" in GRAPH["experiments.sweep.workers"]
    assert "mass_env.roles" in GRAPH["principals.blackbox"]


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_import_runs_upward(module):
    top = module.split(".")[0]
    for target in GRAPH[module]:
        other = target.split(".")[0]
        assert RANK[other] <= RANK[top], f"{module} imports {target} (a layer above it)"
        if RANK[other] == RANK[top] and other != top:
            raise AssertionError(f"{module} imports {target}: agents and principals must not import each other")
    for layer, forbidden in MASS_ENV_FORBIDDEN.items():
        if module == layer or module.startswith(layer + "."):
            bad = sorted(t for t in GRAPH[module] if t.startswith(forbidden))
            assert not bad, f"{module} ({layer}) imports {bad}"


def test_no_import_circle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import circles: {cycles}"


def test_no_module_of_the_four_packages_is_over_400_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > 420}
    assert not long, f"split these by idea: {long}"
