"""LLM follower populations (``agents.llm.follower``): one policy per type, failures counted per agent and
day, served models anonymized by default, and the source files a resume fingerprint hashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llm_play import make_env, play

from agents.llm import Answer, BaseBackend, llm_followers
from agents.llm.backends.base import ERROR, MALFORMED, OK, TIMEOUT, ScriptedBackend
from experiments.sweep.markets import load_market
from mass_env import GameConfig, MassStackelbergEnv, build_types


def test_types_never_merge_even_with_identical_information(small_market):
    """Two types with the same modalities and style are two types: own agents, own streams."""
    from mass_env.data.modalities import Modality
    from mass_env.game.investors import InvestorType

    panel = small_market[0]
    types = (InvestorType(0, Modality.OHLCV, "balanced", 2), InvestorType(1, Modality.OHLCV, "balanced", 2))
    env = MassStackelbergEnv(panel, types, GameConfig(horizon=5))
    f = llm_followers(env, ScriptedBackend(), seed=0, n_candidates=6)
    assert set(f) == {"investor_0", "investor_1"}
    sig = play(env, f, 25, 26)
    assert not np.array_equal(sig[0]["investor_0"], sig[0]["investor_1"], equal_nan=True)


class Flaky(BaseBackend):
    """Answers like the scripted backend, but fails some agents in several ways."""

    fingerprint = {"backend": "flaky"}

    def __init__(self):
        super().__init__()
        self.inner = ScriptedBackend()

    def _answer(self, requests, emit):
        good = self.inner.answer(requests)
        for i, r in enumerate(requests):
            if r.agent_index == 0 and r.day % 2 == 0:
                emit(i, Answer.failure(TIMEOUT, "no answer within 1s", attempts=3))
            elif r.agent_index == 1 and r.type_id == 1:
                emit(i, Answer.failure(MALFORMED, "not JSON"))
            elif r.agent_index == 1 and r.type_id == 2:
                emit(i, Answer(OK, good[i].probs[:-1]))  # one candidate short: unusable
            elif r.agent_index == 1 and r.type_id == 3 and r.day == 26:
                raise RuntimeError("backend crashed")  # the rest of this batch becomes 'error'
            else:
                emit(i, good[i])


def test_failures_are_counted_per_agent_and_day_and_are_missing_not_zero(small_market):
    env = make_env(small_market[0], 4, 3)
    f = llm_followers(env, Flaky(), seed=0, n_candidates=6)
    sig = play(env, f, 25, 28)  # 4 days
    log = f.log_frame()
    fails = f.failures()
    rep = f.report()
    assert rep["agent_days"] == 4 * 4 * 3 == len(log)
    assert rep["by_status"][TIMEOUT] == 4 * 2          # agent 0 of every type on days 26, 28
    assert rep["by_status"][MALFORMED] == 4 + 4         # type 1 agent 1, plus the short answers of type 2
    assert rep["by_status"][ERROR] == 2                 # type 3 agents 1, 2 on day 26
    assert rep["failed_agent_days"] == len(fails) == 18
    assert sum(rep["failures_by_day"].values()) == 18
    for _, row in fails.iterrows():
        x = sig[row["day"] - 25][f"investor_{row['type_id']}"][row["agent_index"]]
        assert np.isnan(x).all()                        # missing, never zero
    assert (fails["status"] != OK).all()
    assert fails.loc[fails["status"] == TIMEOUT, "attempts"].eq(3).all()
    ok = log[log["status"] == OK]
    for _, row in ok.iterrows():
        x = sig[row["day"] - 25][f"investor_{row['type_id']}"][row["agent_index"]]
        assert np.isfinite(x).sum() == 6


@pytest.fixture(scope="module")
def market():
    return load_market(None, 0, 90)  # the CLI's embedded market with --days 90


def test_served_models_are_anonymized_by_default(market):
    pytest.importorskip("openai")
    from agents.llm.backends.openai import OpenAIBackend

    env = MassStackelbergEnv(market, build_types(2, 1), GameConfig(horizon=5))
    served = OpenAIBackend("some-model", "http://127.0.0.1:9/v1")
    assert llm_followers(env, served)["investor_0"].briefs.anonymize is True
    assert llm_followers(env, ScriptedBackend())["investor_0"].briefs.anonymize is False
    assert llm_followers(env, served, anonymize=False)["investor_0"].briefs.anonymize is False



def test_the_resume_fingerprint_covers_every_module_of_the_package():
    """A stored run is reused only while the code that made it is unchanged: the files of the subpackages
    (backends, cache, prompts) count as much as the top-level ones."""
    import agents.llm
    from agents.llm.follower import SOURCES, follower_factory
    from agents.populations import population_sources

    root = Path(agents.llm.__file__).resolve().parent
    names = {p.relative_to(root).as_posix() for p in SOURCES}
    assert names == {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    assert {"follower.py", "type_policy.py", "backends/base.py", "cache/store.py", "prompts/templates.py"} <= names
    assert tuple(population_sources("llm")) == SOURCES == follower_factory("scripted").sources
