"""Shared fixtures. ``tests/helpers`` (the fault server, a user's plugin package, repository paths) is put on
``sys.path`` here so every test folder imports the helpers the same way."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

import numpy as np
import pytest

from mass_env import SyntheticConfig, synthetic_market


@pytest.fixture(scope="session")
def small_market():
    """A 90-day, 30-stock synthetic market (fast enough for every env test)."""
    return synthetic_market(SyntheticConfig(n_days=90, n_symbols=30, n_industries=5), seed=3)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def ray_executor():
    """One local Ray instance (2 CPUs) for every Ray test of the session: starting Ray costs ~10 s."""
    pytest.importorskip("ray")
    from experiments.parallel.executors import RayExecutor

    ex = RayExecutor(workers=2)
    yield ex
    ex.shutdown()
