"""The README's promises stay true: its quick start runs and CI runs its exact test command."""

import re

from repo_paths import REPO

ROOT = REPO
README = (ROOT / "README.md").read_text()


def test_quick_start_runs():
    block = re.search(r"## Quick start \(Python\)\s+```python\n(.*?)```", README, re.S).group(1)
    assert len(block.strip().splitlines()) <= 22
    exec(compile(block, "README-quickstart", "exec"), {})


def test_ci_runs_the_readme_test_command():
    readme_cmd = re.search(r"Run the tests:\s+```bash\n(.*?)\n```", README, re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = readme_cmd.split("&&")[-1].strip()
    assert test_cmd in ci.splitlines()
    for part in readme_cmd.split("&&")[:-1]:
        assert part.strip().replace("pip install", "python -m pip install") in ci
