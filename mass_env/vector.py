"""The leader's view of N independent games stepped together (``mass_env/Principal-v0``'s vector entry
point); the class docstring is its doc page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .env import PRINCIPAL, MassStackelbergEnv
from .episodes import RESET_OPTIONS
from .errors import MassError
from .gym_env import SEED_BOUND
from .rollout import reset_followers
from .scripted import ScriptedFollowers, draw_signals, scripted_followers
from .streams import State, StreamCursor, pcg64_states

AUTORESET_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)


class PrincipalVectorEnv(VectorEnv):
    """N independent ``PrincipalEnv`` games in one ``gymnasium.vector.VectorEnv``, the scripted followers
    of every type of every game drawn in one pass.

    ==================  ===========================================================================
    Make                ``gymnasium.make_vec("mass_env/Principal-v0", num_envs=N,
                        vectorization_mode="vector_entry_point", **kwargs)``
    Import              ``from mass_env import PrincipalVectorEnv``
    Spaces              ``PrincipalEnv``'s, batched: actions ``(N, K+2)``, observations ``(N, obs)``
    Autoreset           ``NEXT_STEP`` (Gymnasium's default) or ``SAME_STEP`` (``autoreset_mode=``)
    SB3                 ``mass_env.sb3.make_vec_env(N)``: a ``VecEnv`` over it for ``PPO("MlpPolicy", venv)``
    ==================  ===========================================================================

    **Each game is the single env.** Game ``i`` is bit-identical to a ``PrincipalEnv`` built with the same
    arguments and reset with the same seed (observations, rewards, terminations, truncations, infos,
    clip counters; a test compares whole trajectories): its own seed, episode windows and follower draws,
    its own ``np_random`` for the episodes that follow. ``reset(seed=s)`` seeds game ``i`` with ``s + i``
    (a list gives one seed per game), Gymnasium's convention.

    **Autoreset** (Gymnasium 1.x). ``NEXT_STEP``: the step after a game's episode ended resets that game
    (its action is ignored) and returns the new episode's first observation with reward 0, terminated and
    truncated False and the reset's info. ``SAME_STEP``: the step that ends an episode resets the game at
    once and returns the new first observation; the last one is in ``infos["final_obs"]`` and its info in
    ``infos["final_info"]``. Episodes that follow a seeded reset are unseeded resets, as in the single env.

    **Infos** are batched as Gymnasium does: every key of the single env's info as an array with a leading
    ``N`` axis, plus ``"_key"``, a boolean mask of the games that report it (all of them: every game
    writes the same numeric keys at every step).

    Arguments: ``num_envs``, ``follower_seed`` (the default followers' seed before the first seeded
    reset), ``autoreset_mode``, and ``MassStackelbergEnv``'s keyword arguments (``panel``, ``types``,
    ``config``, ``n_types``, ``agents_per_type``, ``episode_days``, ...), shared by every game.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, *, follower_seed: int = 0,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **env_kwargs: Any) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise MassError(f"num_envs must be a positive integer, got {num_envs!r}")
        mode = AutoresetMode(autoreset_mode)
        if mode not in AUTORESET_MODES:
            raise MassError(f"autoreset_mode must be one of {[m.value for m in AUTORESET_MODES]}, got {mode}")
        if env_kwargs.get("render_mode") is not None:
            raise MassError("the batched env does not render; render one PrincipalEnv instead")
        self.num_envs = int(num_envs)
        self.autoreset_mode = mode
        self.metadata = {"autoreset_mode": mode}
        first = MassStackelbergEnv(**env_kwargs)
        env_kwargs = {**env_kwargs, "panel": first.panel, "types": first.types, "config": first.config}
        self.games = [first] + [MassStackelbergEnv(**env_kwargs) for _ in range(self.num_envs - 1)]
        for g in self.games[1:]:  # one copy of what is a pure function of (panel, day)
            g._day_memo = first._day_memo
            g.game.returns = first.game.returns
            g.game._payoff_returns = first.game._payoff_returns
        self.followers = [scripted_followers(g, seed=follower_seed) for g in self.games]
        self.single_observation_space = first.observation_space(PRINCIPAL)
        self.single_action_space = first.action_space(PRINCIPAL)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] = [gymnasium.utils.seeding.np_random(None)[0]
                                                 for _ in range(self.num_envs)]
        self._obs = np.zeros((self.num_envs, first.layout.size), np.float32)
        self._game_obs: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self._game_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self._ended = np.zeros(self.num_envs, dtype=bool)
        self._states: dict[tuple[int, int, int], State] = {}
        self._cursor = StreamCursor()
        self._started = False

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds: Sequence[int | None]
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise MassError(f"reset(seed=...) needs {self.num_envs} seeds, got {len(seeds)}")
        if options is not None:
            unknown = sorted(set(options) - set(RESET_OPTIONS))
            if unknown:
                raise MassError(f"unknown reset options {unknown}; valid: {', '.join(RESET_OPTIONS)}")
        infos = []
        for i, s in enumerate(seeds):
            infos.append(self._reset_game(i, s, options))
        self._ended[:] = False
        self._started = True
        return self._obs.copy(), self._batch_infos(infos)

    def step(self, actions: Any):
        if not self._started:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        acts = np.asarray(actions)
        if acts.shape != self.action_space.shape:
            raise MassError(f"actions must have shape {self.action_space.shape}, got {acts.shape}")
        n = self.num_envs
        rewards = np.zeros(n)
        terms = np.zeros(n, dtype=bool)
        truncs = np.zeros(n, dtype=bool)
        live = [i for i in range(n) if not (self.autoreset_mode == AutoresetMode.NEXT_STEP and self._ended[i])]
        infos: list[dict[str, Any]] = [{} for _ in range(n)]
        signals = self._follower_signals(live)
        final_obs: dict[int, np.ndarray] = {}
        final_info: dict[int, dict[str, Any]] = {}
        for i in range(n):
            if i not in signals:  # NEXT_STEP: this game ended last step; reset it, ignore its action
                infos[i] = self._reset_game(i, None, None)
                continue
            game = self.games[i]
            step_actions: dict[str, Any] = dict(signals[i])
            step_actions[PRINCIPAL] = acts[i]
            obs, rew, term, trunc, info = game.step(step_actions)
            self._game_obs[i], self._game_infos[i] = obs, info
            self._obs[i] = obs[PRINCIPAL]
            rewards[i] = float(rew[PRINCIPAL])
            terms[i], truncs[i] = bool(term[PRINCIPAL]), bool(trunc[PRINCIPAL])
            infos[i] = dict(info[PRINCIPAL])
            if terms[i] or truncs[i]:
                if self.autoreset_mode == AutoresetMode.SAME_STEP:
                    final_obs[i], final_info[i] = self._obs[i].copy(), infos[i]
                    infos[i] = self._reset_game(i, None, None)
        self._ended = terms | truncs
        out = self._batch_infos(infos)
        if final_obs:
            out["final_obs"] = np.full(n, None, dtype=object)  # Gymnasium's form: one entry per game
            for i, o in final_obs.items():
                out["final_obs"][i] = o
            out["_final_obs"] = np.array([i in final_obs for i in range(n)])
            out["final_info"] = self._batch_infos([final_info.get(i, infos[i]) for i in range(n)])
            out["_final_info"] = out["_final_obs"].copy()
        return self._obs.copy(), rewards, terms, truncs, out

    def close_extras(self, **kwargs: Any) -> None:
        pass

    # ------------------------------------------------------------------ internals
    def _reset_game(self, i: int, seed: int | None, options: dict[str, Any] | None) -> dict[str, Any]:
        """``PrincipalEnv.reset`` for game ``i`` (the same draws from the same generators)."""
        if seed is not None:
            self._rngs[i] = gymnasium.utils.seeding.np_random(seed)[0]
            inner = seed
            reset_followers(self.followers[i], seed)
        else:
            inner = int(self._rngs[i].integers(SEED_BOUND))
            reset_followers(self.followers[i], int(self._rngs[i].integers(SEED_BOUND)))
        obs, infos = self.games[i].reset(seed=inner, options=options)
        self._game_obs[i], self._game_infos[i] = obs, infos
        self._obs[i] = obs[PRINCIPAL]
        return dict(infos[PRINCIPAL])

    def _follower_signals(self, live: Sequence[int]) -> dict[int, dict[str, np.ndarray]]:
        """Every follower's signals of every live game, drawn together (``draw_signals``)."""
        requests, where = [], []
        for i in live:
            fols: ScriptedFollowers = self.followers[i]
            obs, infos = self._game_obs[i], self._game_infos[i]
            for a in self.games[i].agents:
                if a == PRINCIPAL:
                    continue
                f = fols[a]
                key = (int(f.seed), f.itype.type_id, int(infos[a]["day"]))
                if key not in self._states:
                    self._fill_states(live)
                requests.append((f, f.view(obs[a]["features"]), np.asarray(obs[a]["universe"]) > 0.5,
                                 self._states[key]))
                where.append((i, a))
        out: dict[int, dict[str, np.ndarray]] = {i: {} for i in live}
        for (i, a), sig in zip(where, draw_signals(requests, self._cursor)):
            out[i][a] = sig
        return out

    def _fill_states(self, live: Sequence[int]) -> None:
        """Stream states of every live game's followers for its next ``ScriptedFollowers.CHUNK`` days."""
        if len(self._states) > 200_000:
            self._states.clear()
        keys: list[tuple[int, int, int]] = []
        for i in live:
            day = int(self._game_infos[i][PRINCIPAL]["day"])
            for f in self.followers[i].values():
                keys.extend((int(f.seed), f.itype.type_id, d) for d in range(day, day + ScriptedFollowers.CHUNK))
        self._states.update(zip(keys, pcg64_states(np.array(keys, dtype=np.int64))))

    def _batch_infos(self, infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in infos[0]:
            out[key] = np.stack([np.asarray(info[key]) for info in infos])
            out["_" + key] = np.ones(self.num_envs, dtype=bool)
        return out
