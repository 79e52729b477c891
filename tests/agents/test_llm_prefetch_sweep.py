"""``mass ablation --followers llm --llm-prefetch on``: the prefetch pass covers every day and type of
the sweep, so the sweep's runs then replay the cache with zero model calls.

A per-stock stand-in model (a fixed rating distribution) keeps this fast: the real model's pass over
a whole episode takes minutes (tests/test_llm_prefetch_study.py checks the real one on one day).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from experiments.sweep.prefetch import prefetch_study
from experiments.sweep.run import run_ablation
from experiments.sweep.spec import SweepSpec


class Uniform:
    per_stock = True
    fingerprint = {"backend": "uniform-stand-in"}

    def __init__(self) -> None:
        self.rated = 0

    def rate_items(self, pairs):
        self.rated += len(pairs)
        return np.tile([0.1, 0.2, 0.4, 0.2, 0.1, 1.0], (len(pairs), 1))


class Raising(Uniform):
    def rate_items(self, pairs):
        raise AssertionError("the sweep called the model")


def _spec(backend, cache, mode="readwrite") -> SweepSpec:
    spec = SweepSpec.default("A", seeds=(0, 1), n_days=70, followers="llm", n_boot=20,
                             follower_options={"backend": backend, "cache": str(cache), "cache_mode": mode,
                                               "n_candidates": 5})
    return dataclasses.replace(spec, configs=tuple(dataclasses.replace(c, agents_per_type=2) for c in spec.configs))


def test_prefetch_covers_the_sweep_which_then_calls_no_model(tmp_path):
    model, lines = Uniform(), []
    done = prefetch_study(_spec(model, tmp_path / "c.sqlite"), lines.append)
    assert done is not None and done["passes"] == 1  # both seeds share market and types: one pass
    assert done["computed"] == model.rated > 0 and done["days"] > 0
    assert lines[0].startswith("LLM prefetch 1: 8 types") and lines[-1].startswith("LLM prefetch done")
    res = run_ablation(_spec(Raising(), tmp_path / "c.sqlite", mode="replay"), tmp_path / "out", plot=False)
    assert res.answers["failed"] == 0 and res.answers["agent_days"] > 0


def test_nothing_to_prefetch_in_replay(tmp_path):
    model = Uniform()
    assert prefetch_study(_spec(model, tmp_path / "c.sqlite", "replay"), lambda s: None) is None and model.rated == 0


class InThisProcess:
    """An executor (``experiments.executors.Executor``) with two workers that runs them here, in turn."""

    name, workers = "in-this-process", 2

    def map(self, fn, args, *, on_result=None):
        return [fn(*a) for a in args]


def test_prefetch_split_over_workers_rates_each_stock_day_once(tmp_path):
    whole, split = Uniform(), Uniform()
    one = prefetch_study(_spec(whole, tmp_path / "one.sqlite"), lambda s: None)
    lines = []
    two = prefetch_study(_spec(split, tmp_path / "two.sqlite"), lines.append, executor=InThisProcess())
    assert one is not None and two is not None
    # every (day, type, stock) rated exactly once across the two workers, none twice, none missed
    assert split.rated == whole.rated == one["computed"] == two["computed"] and two["days"] == one["days"]
    assert lines[0].startswith("LLM prefetch split by day over 2 workers") and "in 2 workers" in lines[-1]
    res = run_ablation(_spec(Raising(), tmp_path / "two.sqlite", mode="replay"), tmp_path / "out", plot=False)
    assert res.answers["failed"] == 0 and res.answers["agent_days"] > 0
