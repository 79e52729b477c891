"""Gymnasium single-agent view: the leader alone, followers embedded (``mass_env/Principal-v0``).

Any stock RL library can train on it with no adapter and no keyword arguments
(``stable_baselines3.common.env_util.make_vec_env("mass_env/Principal-v0", n_envs=4)``, with
``DummyVecEnv`` or ``SubprocVecEnv``). The action is the leader's symmetric ``Box(-1, 1, (K+2,))``
whose zero is equal weights, alpha 0.5, no inertia (``ActionCodec``), so an untrained policy starts
at the neutral commitment; the observation is its flat ``Box(-1, 1)`` (``PrincipalObsLayout``).
Followers default to the reference scripted investors (``mass_env.scripted``); pass ``followers``
to embed any ``Follower`` policies. Each step runs them through ``mass_env.rollout.follower_actions``.

Episodes: ``reset(seed=s)`` is bit-reproducible (env, followers and, with ``episode_days``, the
window). ``reset()`` without a seed starts a *different* episode drawn from ``np_random``: new
follower seeds and, when ``episode_days`` is set (constructor or reset option), a random window
of that many days within the panel. Options: those of ``MassStackelbergEnv.reset`` (``start``,
``end``, ``episode_days``, ``initial_action``); unknown keys are an error.
Render modes: ``ansi`` (a line of text), ``rgb_array`` (a picture of the applied weights per type and
the paid Rank IC over the episode) and ``human`` (the text, printed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium

from .env import PRINCIPAL, RESET_OPTIONS, MassStackelbergEnv
from .errors import MassError
from .rollout import follower_actions, reset_followers
from .scripted import scripted_followers

SEED_BOUND = 2**31 - 1


class PrincipalEnv(gymnasium.Env):
    metadata = {"render_modes": ["ansi", "rgb_array", "human"], "render_fps": 4}

    def __init__(self, game_env: MassStackelbergEnv | None = None, followers: Mapping[str, Any] | None = None,
                 *, follower_seed: int = 0, render_mode: str | None = None, **env_kwargs: Any) -> None:
        if render_mode is not None and render_mode not in MassStackelbergEnv.RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {MassStackelbergEnv.RENDER_MODES}, "
                             f"got {render_mode!r}")
        self.game_env = game_env if game_env is not None else MassStackelbergEnv(render_mode=render_mode, **env_kwargs)
        if game_env is not None and render_mode is not None:
            self.game_env.render_mode = render_mode
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
        if options is not None:
            unknown = sorted(set(options) - set(RESET_OPTIONS))
            if unknown:
                raise MassError(f"unknown reset options {unknown}; valid: {', '.join(RESET_OPTIONS)}")
        if seed is None:  # a new episode: the game's window and the followers drawn from this env's np_random
            inner = int(self.np_random.integers(SEED_BOUND))
            reset_followers(self.followers, int(self.np_random.integers(SEED_BOUND)))
        else:
            inner = seed
            reset_followers(self.followers, seed)
        self._obs, self._infos = self.game_env.reset(seed=inner, options=options)
        return self._obs[PRINCIPAL], dict(self._infos[PRINCIPAL])

    def step(self, action: Any):
        if not self._obs:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        actions = follower_actions(self.followers, self._obs, self._infos, self.game_env.agents)
        actions[PRINCIPAL] = action
        obs, rewards, terms, truncs, infos = self.game_env.step(actions)
        self._obs, self._infos = obs, infos
        return (obs[PRINCIPAL], float(rewards[PRINCIPAL]), bool(terms[PRINCIPAL]),
                bool(truncs[PRINCIPAL]), dict(infos[PRINCIPAL]))

    def render(self) -> Any:
        return self.game_env.render()

    @property
    def game(self):
        return self.game_env.game
