"""The AEC view of the game (PettingZoo's ``raw_env`` / ``env`` convention) over ``MassStackelbergEnv``."""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec_wrapper
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from .env import parallel_env
from .errors import MassError


class MassAECEnv(parallel_to_aec_wrapper):
    """The AEC view of ``MassStackelbergEnv`` (PettingZoo's ``parallel_to_aec_wrapper``) with clear
    errors where the stock wrapper would fail deep inside (stepping or observing before ``reset``)."""

    def _check_reset(self, what: str) -> None:
        if not hasattr(self, "agent_selection"):
            raise MassError(f"{what} called before reset(): call env.reset(seed=...) first")

    def step(self, action: Any) -> None:
        self._check_reset("step()")
        super().step(action)

    def observe(self, agent: str) -> Any:
        self._check_reset("observe()")
        return super().observe(agent)

    def last(self, observe: bool = True) -> Any:
        self._check_reset("last()")
        return super().last(observe)


def raw_env(**kwargs: Any) -> MassAECEnv:
    """The game as an unwrapped PettingZoo AEC env (``MassAECEnv`` over ``parallel_env``), as
    PettingZoo's own environments define ``raw_env``."""
    return MassAECEnv(parallel_env(**kwargs))


def env(**kwargs: Any) -> Any:
    """The game as a PettingZoo AEC env: ``raw_env`` with PettingZoo's order-enforcing wrapper."""
    return OrderEnforcingWrapper(raw_env(**kwargs))
