"""Ctrl-C on a process-pool sweep: once or twice in quick succession, the command exits within seconds
(status 130) and keeps the runs that finished. The terminal sends SIGINT to the whole foreground process
group (the command and its workers), so the test does the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from repo_paths import REPO


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
def test_two_ctrl_c_on_a_process_pool_sweep_exit_within_seconds_keeping_finished_runs(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "experiments.cli", "ablation", "--configs", "A,B,C,D,E,F", "--seeds", "4",
           "--executor", "process", "--workers", "2", "--days", "120", "--boot", "0", "--no-plot", "--quiet",
           "--out", str(out)]
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not list(out.glob("runs/**/*.parquet")) and not list(out.rglob("*.parquet")):
            assert p.poll() is None, p.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "no run finished in 180 s"
            time.sleep(0.1)
        time.sleep(0.3)  # workers are in the middle of their next runs
        os.killpg(p.pid, signal.SIGINT)
        time.sleep(0.3)
        os.killpg(p.pid, signal.SIGINT)
        t0 = time.monotonic()
        _, err = p.communicate(timeout=20)
        assert time.monotonic() - t0 < 10
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    text = err.decode()
    assert p.returncode == 130, text[-2000:]
    assert "interrupted" in text and "Traceback" not in text
    assert list(out.rglob("*.parquet"))  # the finished runs are kept
