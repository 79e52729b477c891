"""Whether LLM followers carry signal (``agents.llm.diagnostics``): the diagnostics tell the scripted
backend from dice."""

from __future__ import annotations

import numpy as np
import pytest

from agents.llm import Answer, BaseBackend, llm_followers
from agents.llm.backends.base import OK, ScriptedBackend
from agents.llm.diagnostics import cache_frame, diagnose, format_diagnostics
from experiments.sweep.markets import load_market
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals


class Dice(BaseBackend):
    """A null model: ratings drawn from a fixed generator, unrelated to the market."""

    @property
    def fingerprint(self):
        return {"backend": "dice"}

    def _answer(self, requests, emit):
        for i, r in enumerate(requests):
            rng = np.random.default_rng([r.type_id, r.agent_index, r.day])
            p = rng.dirichlet(np.ones(5), size=len(r.items))
            emit(i, Answer(OK, tuple(tuple(float(x) for x in row) for row in p)))


@pytest.fixture(scope="module")
def market():
    return load_market(None, 0, 90)  # the CLI's embedded market with --days 90


def run(panel, backend, db, seed=0, **kw):
    env = MassStackelbergEnv(panel, build_types(4, 2), GameConfig(horizon=5))
    f = llm_followers(env, backend, seed=seed, cache=db, n_candidates=12, **kw)
    return f, follower_signals(env, f, start=30, end=54, seed=seed)


def test_diagnostics_tell_signal_from_noise(market, tmp_path, capsys):
    run(market, ScriptedBackend(), tmp_path / "scripted.sqlite")
    d = diagnose(cache_frame(tmp_path / "scripted.sqlite"), market, horizon=5)
    for v in d["per_type"].values():
        assert v["corr_with_scripted"] == pytest.approx(1.0)  # the scripted backend is its own reference
        assert v["rank_ic"] == pytest.approx(v["scripted_rank_ic"]) and v["days"] == 25
        assert 0 < v["noise_share"] < 1 and v["ci95"][0] <= v["rank_ic"] <= v["ci95"][1]
    assert d["failure_rate"] == 0.0
    signal = [t for t, v in d["per_type"].items() if v["ci_bonferroni"][0] > 0]
    assert ("NO SIGNAL" in d["verdict"][0]) == (not signal)
    assert sum(d["rating_histogram"].values()) == pytest.approx(1.0, abs=1e-3)

    run(market, Dice(), tmp_path / "dice.sqlite")
    noise = diagnose(cache_frame(tmp_path / "dice.sqlite"), market, horizon=5)
    assert "NO SIGNAL" in noise["verdict"][0]
    assert all(abs(v["corr_with_scripted"]) < 0.1 for v in noise["per_type"].values())
    assert noise["noise_share"] > 0.5 and "dice" in format_diagnostics(noise)

    # the same report from the command line, saved next to the cache
    from experiments.cli import main

    assert main(["llm-diagnostics", "--cache", str(tmp_path / "dice.sqlite"), "--days", "90", "--horizon", "5"]) == 0
    assert "NO SIGNAL" in capsys.readouterr().out
    assert (tmp_path / "llm-diagnostics.json").is_file() and (tmp_path / "llm-diagnostics.txt").is_file()

