"""What is registered at import time is visible inside process-pool workers: a user's leader
registered in their own module, and the LLM follower population built from plain options."""

from __future__ import annotations

import pandas as pd
from user_plugins import leader as plugin  # noqa: F401  (registers "plugin-tilted" here)

import principals
from experiments.parallel.executors import ProcessExecutor
from experiments.sweep.configs import AblationConfig, baseline_for
from experiments.sweep.engine import run_ablation
from experiments.sweep.spec import SweepSpec


def test_a_registered_plugin_leader_and_llm_followers_run_on_process_workers(tmp_path):
    assert "plugin-tilted" in principals.available()
    configs = (AblationConfig("TILT", "plugin-tilted", {"tilt": 4.0}, 3, 2), baseline_for("equal", (3, 2)))
    spec = SweepSpec(configs, seeds=(0,), n_days=70, n_boot=0, reference="EQ-3x2", followers="llm",
                     follower_options={"backend": "scripted", "n_candidates": 5,
                                       "cache": str(tmp_path / "llm-cache.sqlite")})
    assert "user_plugins.leader" in spec.plugin_modules()
    serial = run_ablation(spec, tmp_path / "serial", plot=False)
    pooled = run_ablation(spec, tmp_path / "pool", plot=False, executor=ProcessExecutor(workers=2))
    assert pooled.computed == serial.computed == [("TILT", 0), ("EQ-3x2", 0)]
    pd.testing.assert_frame_equal(serial.table, pooled.table)
    pd.testing.assert_frame_equal(serial.daily, pooled.daily)
    assert serial.runs.loc[serial.runs["config"] == "TILT", "ric_signal_10d"].notna().all()
