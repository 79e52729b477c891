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
from .follower_chunks import FollowerChunks
from .game.batch import BatchStep, GameBatch
from .gym_env import SEED_BOUND
from .memo import BoundedMemo
from .roles import follower_agent
from .rollout import reset_followers
from .scripted import scripted_followers
from .signal_draws import FOLLOWER_DRAWS

AUTORESET_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)


class PrincipalVectorEnv(VectorEnv):
    """N independent ``PrincipalEnv`` games in one ``gymnasium.vector.VectorEnv``, stepped together in numpy
    arrays with an env axis (``mass_env.game.batch.GameBatch``): the scripted followers of every game drawn
    a block of days ahead, aggregates with each game's weights and each game's realised day ranked
    together, observations and infos written as ``(N, ...)`` arrays.

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

    **Followers drawn ahead.** A scripted follower's signals depend on the day's data and the seeds, never on
    the leader's actions, so each game's followers are drawn for the days it will play of a block of
    ``BLOCK_DAYS`` (16) days at once, every game entering a block in one pass over (games, days, agents,
    stocks) (``mass_env.follower_chunks``), and a step reads the per-type moments and signal statistics.

    **Draw modes** (``follower_draws``). ``"stream"`` (the default, every stored result): the single env's
    draws, one generator per (seed, type, day); ``"block"``: one generator per (seed, type, block of days)
    drawing the whole block in float32, a few large calls instead of one per type and day (1.7x the batched
    steps per second at N=64). Both draw candidate sets and noise from the same distribution (a test
    compares per-type means, spreads and coverage), not the same numbers, so a ``"block"`` run's results
    differ from a ``"stream"`` run's by sampling noise only. ``PrincipalEnv(follower_draws="block")`` is the
    single env in that mode, and each game is bit-identical to it.

    **Autoreset** (Gymnasium 1.x). ``NEXT_STEP``: the step after a game's episode ended resets that game
    (its action is ignored) and returns the new episode's first observation with reward 0, terminated and
    truncated False and the reset's info. ``SAME_STEP``: the step that ends an episode resets the game at
    once and returns the new first observation; the last one is in ``infos["final_obs"]`` and its info in
    ``infos["final_info"]``. Episodes that follow a seeded reset are unseeded resets, as in the single env.

    **State.** The games' state lives in the batch's arrays; ``games[i]`` (a ``MassStackelbergEnv``) plays
    only the resets, so it keeps no per-day records: for ``history()``, reports or rendering, play a
    ``PrincipalEnv`` with the same seed (it is the same trajectory).

    **Infos** are batched as Gymnasium does: every key of the single env's info as an array with a leading
    ``N`` axis, plus ``"_key"``, a boolean mask of the games that report it (all of them: every game
    writes the same numeric keys at every step).

    Arguments: ``num_envs``, ``follower_seed`` (the default followers' seed before the first seeded
    reset), ``follower_draws`` (``"stream"`` or ``"block"``), ``autoreset_mode``, and
    ``MassStackelbergEnv``'s keyword arguments (``panel``, ``types``, ``config``, ``n_types``,
    ``agents_per_type``, ``episode_days``, ...), shared by every game.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, *, follower_seed: int = 0, follower_draws: str = "stream",
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **env_kwargs: Any) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise MassError(f"num_envs must be a positive integer, got {num_envs!r}")
        if follower_draws not in FOLLOWER_DRAWS:
            raise MassError(f"follower_draws must be one of {FOLLOWER_DRAWS}, got {follower_draws!r}")
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
        self.followers = [scripted_followers(g, seed=follower_seed, follower_draws=follower_draws)  # type: ignore
                          for g in self.games]
        self.single_observation_space = first.observation_space(PRINCIPAL)
        self.single_action_space = first.action_space(PRINCIPAL)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] = [gymnasium.utils.seeding.np_random(None)[0]
                                                 for _ in range(self.num_envs)]
        self.config = first.config
        self.batch = GameBatch(first.game, self.num_envs)
        self._follower_list = [[fols[follower_agent(t.type_id)] for t in first.types] for fols in self.followers]
        self._views: BoundedMemo[tuple[int, int], np.ndarray] = BoundedMemo(4096)  # (day, type) -> its view
        self._types = {t.type_id: (t, f) for t, f in zip(first.types, self._follower_list[0])}
        self.chunks = FollowerChunks(self._follower_list, self._view, self.batch)
        self._n_days = first.panel.n_days
        self._obs = np.zeros((self.num_envs, first.layout.size), np.float32)
        self._obs_slices = first.layout.slices()
        self._window = np.zeros((self.num_envs, self.config.obs_window, first.game.K + 2))
        self._info_template = {k: np.zeros((self.num_envs,) + np.shape(v), np.asarray(v).dtype)
                               for k, v in first.reset(seed=0)[1][PRINCIPAL].items()}
        self._ended = np.zeros(self.num_envs, dtype=bool)
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
        infos = self._blank_infos()
        for i, s in enumerate(seeds):
            self._set_info(infos, i, self._reset_game(i, s, options))
        self._ended[:] = False
        self._started = True
        return self._obs.copy(), infos

    def step(self, actions: Any):
        if not self._started:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        acts = np.asarray(actions)
        if acts.shape != self.action_space.shape:
            raise MassError(f"actions must have shape {self.action_space.shape}, got {acts.shape}")
        n = self.num_envs
        same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
        live = np.arange(n) if same_step else np.flatnonzero(~self._ended)
        rewards = np.zeros(n)
        terms = np.zeros(n, dtype=bool)
        truncs = np.zeros(n, dtype=bool)
        infos = self._blank_infos()
        if live.size:
            moments, stats = self.chunks.take(live, self.batch.t[live], self.batch.end[live])
            step = self.batch.step_moments(live, moments, acts[live])
            rewards[live] = np.where(step.paid, step.payoff, 0.0)
            truncs[live] = self.batch.t[live] > self.batch.end[live]
            self._write_step(step, stats, infos)
        if not same_step:  # NEXT_STEP: a game that ended last step resets now, its action ignored
            for i in np.flatnonzero(self._ended).tolist():
                self._set_info(infos, i, self._reset_game(i, None, None))
        ended = np.flatnonzero(terms | truncs)
        if same_step and ended.size:
            final_info = {k: v.copy() for k, v in infos.items()}
            final_obs = np.full(n, None, dtype=object)  # Gymnasium's form: one entry per game
            for i in ended.tolist():
                final_obs[i] = self._obs[i].copy()
                self._set_info(infos, i, self._reset_game(i, None, None))
            mask = terms | truncs
            infos.update(final_obs=final_obs, _final_obs=mask, final_info=final_info, _final_info=mask.copy())
        self._ended = terms | truncs
        return self._obs.copy(), rewards, terms, truncs, infos

    def close_extras(self, **kwargs: Any) -> None:
        pass

    # ------------------------------------------------------------------ internals
    def _reset_game(self, i: int, seed: int | None, options: dict[str, Any] | None) -> dict[str, Any]:
        """``PrincipalEnv.reset`` for game ``i`` (the same draws from the same generators); the batch takes
        the reset game's state."""
        if seed is not None:
            self._rngs[i] = gymnasium.utils.seeding.np_random(seed)[0]
            inner = seed
            reset_followers(self.followers[i], seed)
        else:
            inner = int(self._rngs[i].integers(SEED_BOUND))
            reset_followers(self.followers[i], int(self._rngs[i].integers(SEED_BOUND)))
        obs, infos = self.games[i].reset(seed=inner, options=options)
        self.batch.load(i, self.games[i].game)
        self.chunks.clear(i)
        self._window[i] = 0.0
        self._obs[i] = obs[PRINCIPAL]
        return dict(infos[PRINCIPAL])

    def _view(self, day: int, type_id: int) -> np.ndarray:
        """A type's noise-free view of ``day`` (a function of the day alone: games at one day share it)."""
        t, f = self._types[type_id]
        return self._views.get_or((day, type_id), lambda: f.view(self.games[0].follower_features(day, t)[0]))

    def _write_step(self, step: BatchStep, stats: np.ndarray, infos: dict[str, Any]) -> None:
        """The stepped games' observation rows (``MassStackelbergEnv._principal_obs``: the paid-days window,
        the day's signal statistics) and info rows (``paid_info``), for all of them at once."""
        b, ix, K = self.batch, step.idx, self.batch.K
        paid, valid = step.paid, np.isfinite(step.rank_ic)
        if paid.any():  # the observation's window of paid days, most recent last
            p = ix[paid]
            win = self._window[p]
            win[:, :-1] = win[:, 1:]
            tic = step.type_rank_ic[paid]
            win[:, -1, :K] = np.where(np.isfinite(tic), tic, 0.0)
            win[:, -1, K] = np.where(valid[paid], step.rank_ic[paid], 0.0)
            win[:, -1, K + 1] = valid[paid]
            self._window[p] = win
        t, start, end = b.t[ix], b.start[ix], b.end[ix]
        inertia_max = self.config.inertia_max
        sl = self._obs_slices
        buf = np.empty((ix.size, self._obs.shape[1]))
        applied = buf[:, sl["applied"]]
        applied[:, :K] = b.applied[ix]
        applied[:, K] = b.alpha[ix]
        applied[:, K + 1] = 0.0 if inertia_max == 0 else b.inertia[ix] / inertia_max
        win = self._window[ix]
        buf[:, sl["type_ic"]] = win[:, :, :K].reshape(ix.size, -1)
        buf[:, sl["agg_ic"]] = win[:, :, K]
        buf[:, sl["paid_mask"]] = win[:, :, K + 1]
        buf[:, sl["signal_stats"]] = stats.reshape(ix.size, -1)
        buf[:, sl["progress"].start] = np.minimum((t - start) / np.maximum(end - start + 1, 1), 1.0)
        self._obs[ix] = np.clip(buf, -1.0, 1.0).astype(np.float32)
        tic_ok = np.isfinite(step.type_rank_ic)
        rows = {"day": np.minimum(t, self._n_days - 1), "n_scored": step.n_scored, "applied_weights": b.applied[ix],
                "alpha": b.alpha[ix], "inertia": b.inertia[ix], "zero_weight_fallbacks": b.zero_weight_fallbacks[ix],
                "clipped_values": b.clipped_values[ix], "n_paid": paid.astype(np.int64), "paid_day": step.paid_day,
                "paid_on": np.where(paid, step.day, -1), "paid_rank_ic": np.where(valid, step.rank_ic, 0.0),
                "paid_turnover": step.turnover, "paid_payoff": step.payoff, "paid_valid": valid.astype(np.int64),
                "paid_type_rank_ic": np.where(tic_ok, step.type_rank_ic, 0.0),
                "paid_type_valid": tic_ok.astype(np.int64)}
        for key, v in rows.items():
            infos[key][ix] = v

    def _blank_infos(self) -> dict[str, Any]:
        """Info arrays of this env's keys and dtypes (rows filled by the step or a reset)."""
        out: dict[str, Any] = {}
        masks = np.ones((len(self._info_template), self.num_envs), dtype=bool)  # one allocation, a row per key
        for (key, v), mask in zip(self._info_template.items(), masks):
            out[key] = np.zeros_like(v)
            out["_" + key] = mask
        return out

    @staticmethod
    def _set_info(infos: dict[str, Any], i: int, info: dict[str, Any]) -> None:
        for key, v in info.items():
            infos[key][i] = v
