"""What every benchmark shares, imported first (``from common import ...``) by each ``bench_*.py``.

Importing it puts this checkout's root on ``sys.path``, so ``python benchmarks/bench_x.py`` measures the
code next to it (not an installed copy); ``MASS_BENCH_CODE`` points at another tree instead (a
benchmark comparing against older code sets it for its child processes). ``SHARED_DATA`` is the shared
data folder: ``$MASS_DATA_ROOT``, default ``../shared/data`` next to the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

#: The repository's root (the folder holding ``benchmarks/``).
ROOT = Path(__file__).resolve().parents[1]
#: The tree whose packages the benchmarks import.
CODE = os.environ.get("MASS_BENCH_CODE", str(ROOT))
if CODE not in sys.path:
    sys.path.insert(0, CODE)

#: The shared research data (SSE50, CSI300, US): ``$MASS_DATA_ROOT`` or ``../shared/data``.
SHARED_DATA = Path(os.environ.get("MASS_DATA_ROOT", ROOT.parent / "shared" / "data"))


def timed_vec_env(venv, clock=None):  # type: ignore[no-untyped-def]
    """``venv`` (an SB3 ``VecEnv``) wrapped so that the time spent in its ``reset``/``step`` adds up in the
    wrapper's ``spent`` (by ``clock``, default ``time.perf_counter``): the env's share of an RL loop."""
    import time

    from stable_baselines3.common.vec_env import VecEnvWrapper

    tick = clock or time.perf_counter

    class Timed(VecEnvWrapper):
        spent = 0.0

        def _timed(self, fn, *args):
            t0 = tick()
            out = fn(*args)
            self.spent += tick() - t0
            return out

        def reset(self):
            return self._timed(self.venv.reset)

        def step_async(self, actions):
            self._timed(self.venv.step_async, actions)

        def step_wait(self):
            return self._timed(self.venv.step_wait)

        def seed(self, seed=None):  # SuperSuit's ConcatVecEnv has no seed(): its games draw their own
            try:
                return self.venv.seed(seed)
            except AttributeError:
                return [None] * self.num_envs

    return Timed(venv)


def child_options(ap: argparse.ArgumentParser, steps: int) -> None:
    """The hidden options of a benchmark that measures in child processes (``run_child``): which measurement
    (``--child``), its size (``--n``) and length (``--steps``)."""
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=steps, help=argparse.SUPPRESS)


def run_child(script: str, tree: str, argv: list[str]) -> dict:
    """Run ``script --child ...`` (``argv``) in a fresh process on the code of ``tree`` (one numpy thread) and
    return the JSON object its last line prints, or ``{"error": ...}`` with its last line of stderr."""
    env = dict(os.environ, MASS_BENCH_CODE=tree, PYTHONPATH=tree, OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, script, *argv], env=env, capture_output=True, text=True, timeout=1800)
    if res.returncode:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"rc {res.returncode}"}
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))
