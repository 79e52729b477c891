"""What the LLM follower tests share: a small env, playing followers over a few days, a recording backend."""

from __future__ import annotations

from agents.llm import BaseBackend
from agents.llm.backends.base import ScriptedBackend
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.testing import follower_signals


def make_env(panel, n_types=8, agents=2):
    return MassStackelbergEnv(panel, build_types(n_types, agents), GameConfig(horizon=5))


def play(env, followers, start=25, end=30, seed=0):
    return follower_signals(env, followers, start=start, end=end, seed=seed)


class Recording(BaseBackend):
    """Wraps a backend and records every request it is asked."""

    def __init__(self, inner=None):
        super().__init__()
        self.inner = inner or ScriptedBackend()
        self.seen = []

    @property
    def fingerprint(self):
        return self.inner.fingerprint

    def _answer(self, requests, emit):
        self.seen.extend(requests)
        for i, a in enumerate(self.inner.answer(requests)):
            emit(i, a)


class Herder(BaseBackend):
    """A deterministic backend that reads the told prompt (``agents.llm.prompts.told``): each stock's rating
    is the scripted one moved toward the consensus rating shown by the consensus share the rule states
    (``consensus:r=0.6``: 60%), and the scripted one where no share or no consensus is shown."""

    def __init__(self):
        super().__init__()
        self.inner = ScriptedBackend()

    @property
    def fingerprint(self):
        return {"backend": "herder-test"}

    def _answer(self, requests, emit):
        import re

        import numpy as np

        from agents.llm.backends.base import OK, Answer, score_to_probs

        ratings = np.arange(1, 6)
        for i, (req, ans) in enumerate(zip(requests, self.inner.answer(requests))):
            share = re.search(r"and (\d+)% is minus the squared distance between your rating and the consensus",
                              "".join(req.segments))
            w = int(share.group(1)) / 100 if share else 0.0
            probs = []
            for it, p in zip(req.items, ans.probs):
                centre = float(np.asarray(p) @ ratings)
                shown = re.search(r"consensus rating (\d\.\d)", it.text)
                if shown:
                    centre = (1 - w) * centre + w * float(shown.group(1))
                probs.append(score_to_probs((centre - 3.0) / 2.0))
            emit(i, Answer(OK, tuple(probs)))
