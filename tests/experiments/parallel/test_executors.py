"""Executors: serial, process pool and Ray give the serial sweep's results, in input order."""

from __future__ import annotations

import json
import operator
import os
from pathlib import Path

import pandas as pd
import pytest
from repo_paths import REPO

from experiments.parallel.executors import (
    ProcessExecutor,
    SerialExecutor,
    make_executor,
)
from experiments.sweep.configs import AblationConfig, baseline_for
from experiments.sweep.engine import run_ablation
from experiments.sweep.spec import SweepSpec


def _tiny_spec(**kw):
    configs = (
        AblationConfig("A", "sa", {"component": "disagreement"}, 4, 2, fitness="disagreement",
                       alpha="0.5 fixed", optimizer="SA"),
        AblationConfig("E", "cmaes", {}, 4, 2, turnover_penalty=0.1, fitness="combined", alpha="learned",
                       optimizer="CMA-ES"),
        baseline_for("oracle", (4, 2)),
    )
    return SweepSpec(configs, **{"seeds": (0, 1), "n_days": 60, "n_boot": 100, **kw})


def _assert_same(a, b):
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.weights, b.weights)
    pd.testing.assert_frame_equal(a.runs, b.runs)
    pd.testing.assert_frame_equal(a.table, b.table)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return run_ablation(_tiny_spec(), tmp_path_factory.mktemp("serial"), plot=False)


def test_executors_keep_input_order():
    args = [(i, 10) for i in range(7)]
    want = [i * 10 for i in range(7)]
    seen = []
    assert SerialExecutor().map(operator.mul, args, on_result=lambda i, r: seen.append(i)) == want
    assert seen == list(range(7))
    assert ProcessExecutor(2).map(operator.mul, args) == want
    assert ProcessExecutor(2).map(operator.mul, []) == []
    assert isinstance(make_executor("process", 3), ProcessExecutor) and make_executor("process", 3).workers == 3
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("threads")
    with pytest.raises(ValueError):
        ProcessExecutor(0)


def test_process_workers_get_one_blas_thread_and_parent_env_is_restored(monkeypatch):
    """Workers must not each spin a full BLAS pool (oversubscription); the parent keeps its settings."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    names = [("OPENBLAS_NUM_THREADS",), ("OMP_NUM_THREADS",), ("MKL_NUM_THREADS",)]
    assert ProcessExecutor(2).map(os.getenv, names) == ["1", "1", "1"]
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3" and "OMP_NUM_THREADS" not in os.environ
    assert ProcessExecutor(1, threads_per_worker=None).map(os.getenv, names[:2]) == ["3", None]
    with pytest.raises(ValueError, match="threads_per_worker"):
        ProcessExecutor(2, threads_per_worker=0)


def test_process_pool_matches_serial_sweep_and_resumes(serial, tmp_path):
    logs = []
    par = run_ablation(_tiny_spec(), tmp_path, executor=ProcessExecutor(2), plot=False, progress=logs.append)
    _assert_same(serial, par)
    assert par.computed == serial.computed and not par.reused
    serial_runs = Path(serial.files["table"]).parent / "runs"
    for c, s in serial.computed:  # per-run histories on disk are identical too
        name = f"{c}__seed{s}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "runs" / name), pd.read_parquet(serial_runs / name))
    summary = json.loads((tmp_path / "ablation.json").read_text())
    assert summary["executor"] == {"name": "process", "workers": 2}
    assert len(summary["computed"]) == 6 and summary["reused"] == []
    assert sum("seed" in m for m in logs) == 6
    # a second call reuses everything, like the serial sweep
    again = run_ablation(_tiny_spec(), tmp_path, executor=ProcessExecutor(2), plot=False)
    assert not again.computed and len(again.reused) == 6
    _assert_same(serial, again)


class _Interrupted:
    """Runs the first ``n`` jobs here, then is interrupted (a parallel sweep killed half-way)."""

    name = "interrupted"

    def __init__(self, n):
        self.n = n

    def map(self, fn, args, *, on_result=None):
        for i, a in enumerate(args[: self.n]):
            on_result(i, fn(*a))
        raise KeyboardInterrupt


def test_interrupted_executor_sweep_resumes(serial, tmp_path):
    """Runs are stored as they arrive, not at the end: a killed sweep keeps what finished."""
    with pytest.raises(KeyboardInterrupt):
        run_ablation(_tiny_spec(), tmp_path, executor=_Interrupted(2), plot=False)
    res = run_ablation(_tiny_spec(), tmp_path, executor=SerialExecutor(), plot=False)
    assert res.reused == serial.computed[:2] and res.computed == serial.computed[2:]
    _assert_same(serial, res)


def test_serial_executor_matches_run_ablation(serial, tmp_path):
    _assert_same(serial, run_ablation(_tiny_spec(), tmp_path, executor=SerialExecutor(), plot=False))


def test_ray_matches_serial_sweep(serial, tmp_path, ray_executor):
    ex = ray_executor
    assert ex.map(operator.mul, [(i, 3) for i in range(5)]) == [0, 3, 6, 9, 12]
    _assert_same(serial, run_ablation(_tiny_spec(), tmp_path, executor=ex, plot=False))


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += sorted(kids - out)
            out |= kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from Linux /proc")
def test_workers_exit_when_the_parent_is_killed():
    import signal
    import subprocess
    import sys
    import time

    code = ("import time\nfrom experiments.parallel.executors import ProcessExecutor\n"
            "ProcessExecutor(2).map(time.sleep, [(600,), (600,)])\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", code], env=env)
    workers: set[int] = set()
    others: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # two workers asleep in their task (plus the resource tracker)
            workers = {p for p in _descendants(parent.pid)
                       if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()} if parent.poll() is None else set()
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2, "the pool did not start its workers"
        time.sleep(1.0)  # let them pick up their tasks
        others = _descendants(parent.pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in others):
            time.sleep(0.1)
        left = [p for p in others if _alive(p)]
        assert not left, f"processes of the killed parent still running: {left}"
    finally:
        for p in workers | others:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
