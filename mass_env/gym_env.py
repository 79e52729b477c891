"""Gymnasium single-agent view: the leader alone, followers embedded (``mass_env/Principal-v0``).

Any stock RL library can train on it with no adapter: the action is the leader's
``Box(0, 1, (K+2,))`` and the observation is its flat ``Box(-1, 1)`` (see ``PrincipalObsLayout``).
Followers default to the reference scripted investors (``mass_env.scripted``); pass ``followers``
to embed any ``Follower`` policies. Each step runs the followers through ``mass_env.rollout``'s
``follower_actions``, the same code every episode loop uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium

from .env import PRINCIPAL, MassStackelbergEnv
from .rollout import follower_actions, reset_followers
from .scripted import scripted_followers


class PrincipalEnv(gymnasium.Env):
    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, game_env: MassStackelbergEnv | None = None, followers: Mapping[str, Any] | None = None,
                 *, follower_seed: int = 0, render_mode: str | None = None, **env_kwargs: Any) -> None:
        self.game_env = game_env if game_env is not None else MassStackelbergEnv(render_mode=render_mode, **env_kwargs)
        if followers is None:
            followers = scripted_followers(self.game_env, seed=follower_seed)
        missing = set(self.game_env.possible_agents) - {PRINCIPAL} - set(followers)
        if missing:
            raise ValueError(f"no follower policy for {sorted(missing)}")
        self.followers = dict(followers)
        self.follower_seed = follower_seed
        self.render_mode = render_mode
        self.observation_space = self.game_env.observation_space(PRINCIPAL)
        self.action_space = self.game_env.action_space(PRINCIPAL)
        self._obs: dict[str, Any] = {}
        self._infos: dict[str, Any] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            reset_followers(self.followers, seed)
        self._obs, self._infos = self.game_env.reset(seed=seed, options=options)
        return self._obs[PRINCIPAL], dict(self._infos[PRINCIPAL])

    def step(self, action: Any):
        actions = follower_actions(self.followers, self._obs, self._infos)
        actions[PRINCIPAL] = action
        obs, rewards, terms, truncs, infos = self.game_env.step(actions)
        self._obs, self._infos = obs, infos
        return (obs[PRINCIPAL], float(rewards[PRINCIPAL]), bool(terms[PRINCIPAL]),
                bool(truncs[PRINCIPAL]), dict(infos[PRINCIPAL]))

    def render(self) -> str | None:
        return self.game_env.render()

    @property
    def game(self):
        return self.game_env.game

