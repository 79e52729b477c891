"""The documentation stays true: every code block of docs/**/*.md and README.md is checked.

* ```python blocks run (code files included with ``--8<-- "path"`` are expanded first, as MkDocs'
  snippets extension does), in a temporary folder, in page order, sharing one namespace per page;
* in ```bash blocks, every ``mass ...`` command parses with the real ``mass`` argument parser (it is
  not run), ``python path.py`` names an existing file and ``python -m pkg.mod`` of this project an
  existing module;
* ```text, ```console, ```toml and other fences are not checked: they are for output, shell sessions
  that need a GPU server or the network, and configuration.

The README keeps its own promises: at most 200 lines, a quick start of at most 22 lines that runs, and
a test command that CI (``.ci/run``) runs step by step.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import signal
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_paths import REPO

DOCS = REPO / "docs"
README = REPO / "README.md"
PAGES = sorted(DOCS.rglob("*.md")) + [README]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)
SNIPPET = re.compile(r'^(?P<indent>[ \t]*)--8<--[ \t]+"(?P<path>[^"]+)"[ \t]*$', re.M)
# packages the optional extras install: a page whose code needs a missing one is skipped, not failed
OPTIONAL = {"torch", "stable_baselines3", "supersuit", "torchrl", "ray", "transformers", "openai", "llama_cpp",
            "gguf", "accelerate", "matplotlib"}
PROJECT = {"mass_env", "agents", "principals", "experiments", "benchmarks", "examples"}
BLOCK_SECONDS = 120  # each block is sized to run in seconds; this only stops a hang


def _name(page: Path) -> str:
    return str(page.relative_to(REPO))


def expand(text: str) -> str:
    """``--8<-- "path"`` lines replaced by the file's text (paths from the repository root)."""

    def include(m: re.Match[str]) -> str:
        path = REPO / m.group("path")
        assert path.is_file(), f"snippet {m.group('path')} does not exist"
        return "\n".join(m.group("indent") + line for line in path.read_text().splitlines())

    return SNIPPET.sub(include, text)


def blocks(page: Path, lang: str) -> list[str]:
    out = []
    for m in FENCE.finditer(expand(page.read_text())):
        if m.group("lang") == lang:
            indent = len(m.group("indent"))
            out.append("\n".join(line[indent:] for line in m.group("body").splitlines()))
    return out


PY_PAGES = [p for p in PAGES if blocks(p, "python")]
SH_PAGES = [p for p in PAGES if blocks(p, "bash")]


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout(f"a docs code block ran longer than {BLOCK_SECONDS} s")


@pytest.mark.parametrize("page", PY_PAGES, ids=_name)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO))  # `examples.hedge_leader` imports as it does from the repo root
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = types.ModuleType(f"docs_page_{page.stem.replace('-', '_')}")  # a real module: dataclasses look it up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i, code in enumerate(blocks(page, "python")):
            signal.alarm(BLOCK_SECONDS)
            try:
                exec(compile(code, f"{_name(page)}[block {i}]", "exec"), namespace)
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] in OPTIONAL:
                    pytest.skip(f"{_name(page)} block {i} needs {exc.name} (an optional extra)")
                raise
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)


PREFIX = {"do", "then", "else", "time", "/usr/bin/time", "-v", "nice", "-n", "env", "exec"}
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}


def commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a shell block as words, without env assignments and prefixes (nice, time)."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = "#"
        segment: list[str] = []
        for tok in [*lex, ";"]:
            if tok in SEPARATORS or set(tok) <= set(";&|()"):
                while segment and (segment[0] in PREFIX or re.match(r"^\w+=", segment[0]) or segment[0].isdigit()):
                    segment.pop(0)
                if segment:
                    yield segment
                segment = []
            else:
                segment.append(tok)


def _parser():
    from experiments.cli import build_parser

    return build_parser()


def check_command(words: list[str]) -> str | None:
    """None if the command is fine, else what is wrong."""
    if words[0] == "mass":
        try:
            _parser().parse_args(words[1:])
        except SystemExit as exc:
            return None if exc.code == 0 else f"`{' '.join(words)}` does not parse (exit {exc.code})"
    elif words[0] in ("python", "python3") and len(words) > 1:
        if words[1] == "-m":
            top = words[2].split(".")[0]
            if top in PROJECT and importlib.util.find_spec(words[2]) is None:
                return f"`{' '.join(words)}`: no module {words[2]}"
        elif words[1].endswith(".py") and not (REPO / words[1]).is_file():
            return f"`{' '.join(words)}`: no file {words[1]}"
    return None


@pytest.mark.parametrize("page", SH_PAGES, ids=_name)
def test_bash_blocks_name_real_commands(page, capsys):
    problems = []
    for script in blocks(page, "bash"):
        for words in commands(script):
            problem = check_command(words)
            if problem:
                problems.append(problem)
    capsys.readouterr()  # argparse's usage messages
    assert not problems, "\n".join(problems)


def test_the_command_checker_finds_commands():
    found = list(commands('for m in us csi300; do\n  X=1 mass ablation --data $m:start=2022 --out "a b"  # c\ndone\n'
                          "pip install -e . && nice -n 10 python benchmarks/x.py --days 1"))
    assert ["mass", "ablation", "--data", "$m:start=2022", "--out", "a b"] in found
    assert ["python", "benchmarks/x.py", "--days", "1"] in found
    assert check_command(["mass", "ablation", "--no-such-flag"]) is not None
    assert check_command(["python", "examples/no_such_file.py"]) is not None


# --------------------------------------------------------------------------- the README's own promises
def _readme() -> str:
    return README.read_text()


def test_readme_is_short():
    assert len(_readme().splitlines()) <= 200


def test_readme_quick_start_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = re.search(r"## Quick start\s+```python\n(.*?)```", _readme(), re.S).group(1)
    assert len(block.strip().splitlines()) <= 22
    exec(compile(block, "README-quickstart", "exec"), {"__name__": "readme"})


def _test_command(text: str) -> str:
    return re.search(r"```bash\n(pip install [^\n]*python -m pytest -q)\n```", text).group(1)


def test_ci_runs_the_readme_test_command():
    readme_cmd = _test_command(_readme())
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = readme_cmd.split("&&")[-1].strip()
    assert test_cmd in ci.splitlines()
    for part in readme_cmd.split("&&")[:-1]:
        assert part.strip().replace("pip install", "python -m pip install") in ci
    assert "llamacpp" not in readme_cmd  # a newcomer's first test run does not compile llama.cpp
    assert "mkdocs build --strict" in ci


def test_install_page_shows_the_readme_commands():
    install = (DOCS / "getting-started" / "install.md").read_text()
    assert _test_command(install) == _test_command(_readme())
    assert "pip install -e . && mass ablation --configs A,B,C,D,E,F --seeds 3" in _readme()
    assert "pip install -e . && mass ablation --configs A,B,C,D,E,F --seeds 3" in install


def test_the_examples_are_included_not_pasted():
    guide = (DOCS / "guides" / "own-leader.md").read_text()
    assert '--8<-- "examples/hedge_leader.py"' in guide
    assert "--principal examples.hedge_leader:Hedge" in guide
    for example in sorted((REPO / "examples").glob("*.py")):
        assert any(f'--8<-- "examples/{example.name}"' in p.read_text() for p in DOCS.rglob("*.md")), example.name


def test_the_readme_links_into_the_docs():
    for target in re.findall(r"\]\((docs/[^)#]+)", _readme()):
        assert (REPO / target).is_file(), target


def test_the_docs_speak_of_the_project_only():
    """No paths of a particular machine, no files outside the repository but the data folder, no work notes."""
    work_notes = ["issue'?s?", "this[ ]task", "process notes"]  # spelled as patterns: this file is no work note
    places = r"/work/|\.\./shared/(?!data)|shared/design|shared/papers"
    bad = re.compile(places + "|" + "|".join(rf"\b{w}\b" for w in work_notes), re.I)
    for page in PAGES:
        for n, line in enumerate(expand(page.read_text()).splitlines(), 1):
            assert not bad.search(line), f"{_name(page)}:{n}: {line.strip()}"


def test_every_page_is_in_the_nav():
    nav = (REPO / "mkdocs.yml").read_text()
    for page in DOCS.rglob("*.md"):
        assert str(page.relative_to(DOCS)) in nav, page



def test_the_changelog_lists_every_removed_name():
    """Every old path in ``mass_env/removed.py`` (what an old import's error names) is in the changelog."""
    from mass_env.removed import REMOVED

    changelog = (REPO / "docs" / "changelog.md").read_text()
    missing = [old for old in REMOVED if f"`{old}`" not in changelog]
    assert not missing, f"docs/changelog.md lacks {missing}"
