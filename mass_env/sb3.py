"""Stable-Baselines3 over the batched leader env: ``make_vec_env(N)`` is a ``VecEnv`` whose N games are
one ``PrincipalVectorEnv``, so ``PPO("MlpPolicy", make_vec_env(16))`` trains unchanged. Over the batched
followers' env: ``make_followers_vec_env(N)`` makes every (game, investor type) one sub-env, so one policy is
shared by all followers of all games. And over the information market's followers:
``make_market_vec_env(env)`` makes every (follower, stock) pair one sample
of one shared per-stock policy (parameter sharing across followers and stocks).

SB3 is an optional dependency: it is imported when ``make_vec_env`` is called, never by ``mass_env``.
SB3's autoreset is Gymnasium's ``SAME_STEP``: a game whose episode ends is reset within the step; its
last observation is in ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]``
says the episode was cut by its last day (the game never terminates), so value bootstrapping is right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import MassError
from .followers_vector import FollowersVectorEnv
from .vector import PrincipalVectorEnv


def _vec_env_base() -> Any:
    """SB3's ``VecEnv`` extended with what every adapter here shares: its sub-envs live in one object
    (``target``), so attributes are read and set there, methods run on ``sub_env(i)`` and nothing is
    wrapped. Imported on call: SB3 is optional (a clear error names it)."""
    try:
        from stable_baselines3.common.vec_env import VecEnv
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MassError("mass_env.sb3 needs stable-baselines3: pip install stable-baselines3") from exc

    class OneObjectVecEnv(VecEnv):  # type: ignore[misc]
        target: Any = None

        def sub_env(self, i: int) -> Any:
            return self.target

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(self.target, attr_name) for _ in self._get_indices(indices)]

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            setattr(self.target, attr_name, value)

        def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
                       ) -> list[Any]:
            return [getattr(self.sub_env(i), method_name)(*method_args, **method_kwargs)
                    for i in self._get_indices(indices)]

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            return [False for _ in self._get_indices(indices)]

    return OneObjectVecEnv


def make_vec_env(n_envs: int = 1, *, seed: int | None = None, **env_kwargs: Any) -> Any:
    """An SB3 ``VecEnv`` of ``n_envs`` games (``PrincipalVectorEnv``'s keyword arguments, e.g.
    ``follower_draws="block"`` for its fastest draws); ``seed`` seeds game ``i`` with ``seed + i`` at the first
    reset, as SB3's own ``make_vec_env`` does."""

    class PrincipalVecEnv(_vec_env_base()):  # type: ignore[misc]
        """SB3's view of a ``PrincipalVectorEnv`` (SAME_STEP autoreset, one info dict per game)."""

        def __init__(self) -> None:
            self.batched = self.target = PrincipalVectorEnv(n_envs, autoreset_mode="SameStep", **env_kwargs)
            super().__init__(n_envs, self.batched.single_observation_space, self.batched.single_action_space)
            self._seeds: list[int | None] = [None if seed is None else seed + i for i in range(n_envs)]
            self._actions: np.ndarray | None = None

        def reset(self) -> np.ndarray:
            seeds = self._seeds if any(s is not None for s in self._seeds) else None
            obs, _ = self.batched.reset(seed=seeds)
            self._seeds = [None] * self.num_envs
            self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            return obs

        def step_wait(self) -> Any:
            obs, rewards, terms, truncs, infos = self.batched.step(self._actions)
            dones = terms | truncs
            out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            for i in np.flatnonzero(dones):
                out[i] = {"terminal_observation": infos["final_obs"][i],
                          "TimeLimit.truncated": bool(truncs[i] and not terms[i])}
            return obs, rewards.astype(np.float32), dones, out

        def close(self) -> None:
            self.batched.close()

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
            return list(self._seeds)

        def sub_env(self, i: int) -> Any:
            return self.batched.games[i]

    return PrincipalVecEnv()


def make_market_vec_env(env: Any) -> Any:
    """An SB3 ``VecEnv`` over a ``MarketFollowersEnv`` whose sub-envs are its (follower, stock) pairs.

    Why: a follower's report on a stock depends on that stock's row only (its signals, yesterday's
    consensus, the rule), so one per-stock policy ``row -> report`` shared by every follower and stock learns
    from F x S samples a day. Observation: one row of the env (``env.columns``); action: the report, shape
    (1,); reward: the rule's pay on that stock (``stock_pay``). All pairs end their episode together (the
    market's last day, ``TimeLimit.truncated``) and the next market is drawn in the same step (SB3's
    autoreset); each day is a new, independent draw, so PPO's ``gamma=0`` (a contextual bandit) is exact.
    """
    from gymnasium import spaces

    f, s, c = env.market.n_followers, env.market.n_stocks, len(env.columns)
    bound = float(env.action_space(env.possible_agents[0]).high.max())

    class MarketVecEnv(_vec_env_base()):  # type: ignore[misc]
        """SB3's view of the information market: F x S sub-envs, one per (follower, stock)."""

        def __init__(self) -> None:
            super().__init__(f * s, spaces.Box(-np.inf, np.inf, (c,), np.float32),
                             spaces.Box(-bound, bound, (1,), np.float32))
            self.market_env = self.target = env
            self._seed: int | None = None
            self._actions: np.ndarray | None = None

        def reset(self) -> np.ndarray:
            obs = env.reset_arrays(self._seed)
            self._seed = None
            self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            return obs.reshape(f * s, c).astype(np.float32)

        def step_wait(self) -> Any:
            obs, stock_pay, _, done = env.step_arrays(np.asarray(self._actions, np.float64).reshape(f, s))
            rows = obs.reshape(f * s, c).astype(np.float32)
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            if done:
                infos = [{"terminal_observation": row, "TimeLimit.truncated": True} for row in rows]
                rows = env.reset_arrays().reshape(f * s, c).astype(np.float32)
            return rows, stock_pay.reshape(-1).astype(np.float32), np.full(self.num_envs, done), infos

        def close(self) -> None:
            env.close()

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._seed = seed
            return [seed] * self.num_envs


    return MarketVecEnv()


def make_followers_vec_env(n_games: int = 1, *, seed: int | None = None, principal: Any = None,
                           **env_kwargs: Any) -> Any:
    """An SB3 ``VecEnv`` of ``n_games`` x K sub-envs, one per (game, investor type), over one
    ``FollowersVectorEnv`` (its keyword arguments; ``principal``: the leader embedded in every game).

    Why: every type has the same box observation (with a mask of the feature columns it sees) and, when all
    types have as many agents, the same action space, so one ``PPO("MlpPolicy", venv)`` is the shared policy
    of every follower of every game (parameter sharing). Sub-env ``i * K + k`` is type ``k`` of game ``i``;
    its action is the type's signals ``(n_agents, N)``, its reward the payment rule's pay of the type. A game's
    types end together; the game is reset in the same step (``terminal_observation``, ``TimeLimit.truncated``).
    ``seed`` seeds game ``i`` with ``seed + i`` at the first reset."""
    from gymnasium import spaces

    batched = FollowersVectorEnv(n_games, principal, **env_kwargs)
    sizes = sorted({t.n_agents for t in batched.types})
    if len(sizes) > 1:
        raise MassError(f"a shared policy needs one action shape: every investor type needs the same number of "
                        f"agents, got {sizes}")
    E, K, N = n_games, batched.n_types, batched.core.batch.N

    class FollowersVecEnv(_vec_env_base()):  # type: ignore[misc]
        """SB3's view of a ``FollowersVectorEnv``: E x K sub-envs, one per (game, type)."""

        def __init__(self) -> None:
            super().__init__(E * K, batched.single_observation_space, spaces.Box(-1.0, 1.0, (sizes[0], N), np.float32))
            self.batched = self.target = batched
            self._first: list[int | None] | None = None if seed is None else [seed + i for i in range(E)]
            self._actions: np.ndarray | None = None

        def reset(self) -> np.ndarray:
            obs, _ = batched.reset(seed=self._first)
            self._first = None
            self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            return obs.reshape(E * K, -1)

        def step_wait(self) -> Any:
            obs, rewards, terms, truncs, infos = batched.step(np.asarray(self._actions).reshape(E, K * sizes[0], N))
            dones = (terms | truncs).reshape(-1)
            out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            if dones.any():
                final = infos["final_obs"].reshape(E * K, -1)
                cut = (truncs & ~terms).reshape(-1)
                for j in np.flatnonzero(dones).tolist():
                    out[j] = {"terminal_observation": final[j], "TimeLimit.truncated": bool(cut[j])}
            return obs.reshape(E * K, -1), rewards.reshape(-1).astype(np.float32), dones, out

        def close(self) -> None:
            batched.close()

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._first = None if seed is None else [seed + i for i in range(E)]
            return [None if seed is None else seed + j // K for j in range(self.num_envs)]

        def sub_env(self, j: int) -> Any:
            return batched.core.games[j // K]

    return FollowersVecEnv()
