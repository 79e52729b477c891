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
