"""The followers' view of N independent games stepped together (``FollowersVectorEnv``): ``FollowersEnv``
batched for parameter sharing; the class docstring is its doc page."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium.vector import AutoresetMode

from .data.modalities import CLIP
from .env import PRINCIPAL
from .errors import ActionError, MassError
from .game.batch import BatchStep, Commitments
from .game.mechanism import PrincipalAction
from .game.stackelberg import Payoff
from .incentives.ingame import batch_type_pay
from .memo import BoundedMemo
from .observation import signal_stats
from .roles import DecisionContext, Principal, follower_agent
from .scripted import FixedCommitment
from .vector import PrincipalVectorEnv

FOLLOWER_INFO_KEYS = ("day", "missing_features", "clipped_values", "misreport")


class _Games(PrincipalVectorEnv):
    """The batched games with their leaders embedded. ``PrincipalVectorEnv`` gives the arrays, the leaders'
    observations and infos (what each embedded leader decides on) and their writer; ``day`` plays one day
    with the followers' signals and the leaders' decoded commitments, and resets are ``FollowersEnv``'s (the
    game's own ``np_random``, the leader reset with the same seed)."""

    def __init__(self, num_envs: int, principals: Sequence[Principal], **env_kwargs: Any) -> None:
        super().__init__(num_envs, autoreset_mode=AutoresetMode.SAME_STEP, follower_obs="box", **env_kwargs)
        self.principals = list(principals)
        self.announced: list[PrincipalAction] = [PrincipalAction.uniform(self.batch.K)] * num_envs  # set at reset
        self.fresh: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}  # game -> a reset's (obs, infos)
        # FixedCommitment ignores its context and what it observes: its commitment is decoded once
        self.fixed = all(type(p) is FixedCommitment for p in self.principals)

    def day(self, signals: np.ndarray, commitments: Commitments) -> tuple[BatchStep, np.ndarray, dict[str, Any],
                                                                          dict[str, Any] | None]:
        """Every game's day: ``(the batch step, the games whose episode ended, the leaders' infos, the ended
        games' last leader observations and infos or None)``; ended games are reset (``fresh``)."""
        live = np.arange(self.num_envs)
        self.fresh = {}
        step = self.batch.step(live, signals, commitments)
        for i in [] if self.fixed else live.tolist():  # observe before an autoreset resets the leader
            self.principals[i].observe(_payoffs(step, i))
        ended = self.batch.t > self.batch.end
        infos = self._blank_infos()
        n_universe = np.maximum(self.batch.universe[step.day].sum(-1), 1)[:, None]
        self._write_step(step, signal_stats(step.count, step.total, n_universe), infos)
        final = None
        if ended.any():
            final = {"obs": self._obs.copy(), "info": {k: v.copy() for k, v in infos.items()},
                     "clipped_signals": self.batch.clipped_signals.copy()}
            for i in np.flatnonzero(ended).tolist():
                self._set_info(infos, i, self._reset_game(i, None, None))
        return step, ended, infos, final

    def _reset_game(self, i: int, seed: int | None, options: dict[str, Any] | None) -> dict[str, Any]:
        obs, infos = self.games[i].reset(seed=seed, options=options)
        self.principals[i].reset(self.batch.K, seed=seed)
        self.batch.load(i, self.games[i].game)
        self._window[i] = 0.0
        self._obs[i] = obs[PRINCIPAL]
        self.announced[i] = self.games[i].game.announced
        self.fresh[i] = (obs, infos)
        return dict(infos[PRINCIPAL])


def _payoffs(step: BatchStep, j: int) -> tuple[Payoff, ...]:
    """Row ``j``'s payoff as ``Principal.observe`` takes it (what ``payoffs_from_info`` rebuilds in the single
    env: NaN Rank ICs where undefined, ``valid`` where the aggregate's is defined)."""
    if not step.paid[j]:
        return ()
    ic = float(step.rank_ic[j])
    return (Payoff(int(step.paid_day[j]), int(step.day[j]), ic, float(step.turnover[j]), float(step.payoff[j]),
                   step.type_rank_ic[j].copy(), bool(np.isfinite(ic))),)


class _Row(Mapping[str, Any]):
    """One game's row of batched infos, read lazily (most leaders never look at their info)."""

    def __init__(self, infos: Mapping[str, Any], i: int) -> None:
        self._infos, self._i = infos, i

    def __getitem__(self, key: str) -> Any:
        return self._infos[key][self._i]

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._infos if not k.startswith("_") and not k.startswith("final"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _no_window(lookback: int, *, horizon: int | None = None) -> Any:
    raise MassError("the batched followers' env keeps no per-day records, so ctx.window is not available to its "
                    "embedded leader; use mass_env.followers_env (one game) for a leader that fits on past days")


class FollowersVectorEnv:
    """N independent ``FollowersEnv`` games stepped together in numpy arrays, a leader embedded in each.

    ==================  ===========================================================================
    Import              ``from mass_env import FollowersVectorEnv``
    Observations        ``(N, K, size)``: every type's ``FollowerObsLayout`` box in every game
    Actions             ``(N, K, n_agents, N_stocks)`` (types of equal size) or ``(N, A, N_stocks)``: every
                        agent's signals, agents grouped by type; NaN = did not look
    Rewards             ``(N, K)``: the payment rule's pay of each type (``config.follower_reward``)
    Autoreset           ``SAME_STEP``: an ended game is reset within the step; its last observation is
                        ``infos["final_obs"]`` ``(N, K, size)`` (rows of games that did not end: 0),
                        its infos ``infos["final_info"]``, the games that ended ``infos["_final_obs"]``
    SB3                 ``mass_env.sb3.make_followers_vec_env(N)``: N x K sub-envs, one per (game, type),
                        so one ``PPO("MlpPolicy", venv)`` is shared by all followers of all games
    ==================  ===========================================================================

    **Each game is ``FollowersEnv``.** Game ``i`` is bit-identical to a ``FollowersEnv`` built with the same
    arguments, reset with the same seed (``reset(seed=s)``: game ``i`` gets ``s + i``, or a list of seeds)
    and reset without one after each episode (observations, rewards, flags, infos; a test compares whole
    trajectories). Its leader is a copy of ``principal`` (equal weights by default), reset with the game's
    seed, acting every day on the leader's observation and info, observing the payoffs that realised. The
    leader's ``ctx.window`` (past records) is not kept here: a leader that fits on past days needs the
    single env. The games' state lives in ``GameBatch`` arrays (``mass_env.game.batch``); observations
    are the single env's (``MassStackelbergEnv.follower_box``, per day and type), with each game's commitment.

    Infos: each follower key of the single env (``day``, ``missing_features``, ``clipped_values``,
    ``misreport``) as an ``(N, K)`` array; ``misreport`` is 0 (the followers' views are not recorded).

    Arguments: ``num_games``, ``principal`` (any ``Principal``; default ``FixedCommitment(name="equal")``) and
    ``MassStackelbergEnv``'s keyword arguments (``panel``, ``types``, ``config``, ``n_types``,
    ``agents_per_type``, ``episode_days``, ...), shared by every game.
    """

    render_mode = None  # the games render one at a time: play a FollowersEnv with the same seed

    def __init__(self, num_games: int = 1, principal: Principal | None = None, **env_kwargs: Any) -> None:
        if not isinstance(num_games, (int, np.integer)) or num_games < 1:
            raise MassError(f"num_games must be a positive integer, got {num_games!r}")
        if env_kwargs.get("follower_obs", "box") != "box":
            raise MassError("the batched followers' env writes box observations (follower_obs='box')")
        env_kwargs.pop("follower_obs", None)
        base = principal if principal is not None else FixedCommitment(name="equal")
        self.num_games = int(num_games)
        self.core = _Games(self.num_games, [copy.deepcopy(base) for _ in range(self.num_games)], **env_kwargs)
        first = self.core.games[0]
        self.types, self.layout, self.config = first.types, first.follower_layout, first.config
        self.n_types = len(self.types)
        self.possible_agents = [follower_agent(t.type_id) for t in self.types]
        self.single_observation_space = first.observation_space(self.possible_agents[0])
        self.action_spaces = {a: first.action_space(a) for a in self.possible_agents}
        self.n_agents = int(sum(t.n_agents for t in self.types))
        self.payment_rule = first.payment_rule
        self._commit_columns = self.layout.slices()["commitment"]
        self._boxes: BoundedMemo[int, np.ndarray] = BoundedMemo(512)  # day -> (K, size) boxes, zero commitment
        self._missing: BoundedMemo[int, np.ndarray] = BoundedMemo(4096)  # day -> (K,) missing universe values
        self._lead_infos: dict[str, Any] = {}
        self._fixed: Commitments | None = None
        self._started = False

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | Sequence[int | None] | None = None, options: Mapping[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reset every game (``seed``: game ``i`` gets ``seed + i``, or one seed per game)."""
        self.core.fresh = {}
        _, self._lead_infos = self.core.reset(seed=seed, options=None if options is None else dict(options))
        obs = np.empty((self.num_games, self.n_types, self.layout.size), np.float32)
        infos = {k: np.zeros((self.num_games, self.n_types), np.float64 if k == "misreport" else np.int64)
                 for k in FOLLOWER_INFO_KEYS}
        self._take_resets(obs, infos)
        self._started = True
        return obs, infos

    def step(self, actions: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Every follower of every game acts; returns observations ``(N, K, size)``, rewards, terminations and
        truncations ``(N, K)`` and infos (see the class docstring: ``SAME_STEP`` autoreset)."""
        if not self._started:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        E, K = self.num_games, self.n_types
        X = np.asarray(actions, dtype=np.float64)
        if X.ndim == 4 and X.shape[:2] == (E, K):
            X = X.reshape(E, -1, X.shape[-1])
        if X.shape != (E, self.n_agents, self.core.batch.N):
            raise ActionError(f"actions must have shape ({E}, {self.n_agents}, {self.core.batch.N}) (every agent, "
                              f"grouped by type) or ({E}, {K}, n_agents, {self.core.batch.N}), got {X.shape}")
        step, ended, lead_infos, final = self.core.day(X, self._commit())
        rewards = np.zeros((E, K))
        paid = step.paid
        if paid.any():
            returns = self.core.batch.template._payoff_returns[step.paid_day[paid]]
            rewards[step.idx[paid]] = batch_type_pay(self.payment_rule, step.type_rank_ic[paid],
                                                     step.paid_applied[paid], step.paid_type_mean[paid], returns,
                                                     self.config.min_stocks)
        lead, days, clipped = self.core._obs, lead_infos["day"], self.core.batch.clipped_signals
        if final is not None:  # the ended games' last day, before their reset
            lead, days, clipped = final["obs"], final["info"]["day"], final["clipped_signals"]
        obs = self._write(lead, days)
        infos: dict[str, Any] = {"day": np.repeat(days[:, None], K, axis=1), "clipped_values": clipped.copy(),
                                 "missing_features": np.stack([self._missing_of(d) for d in days.tolist()]),
                                 "misreport": np.zeros((E, K))}
        if final is not None:
            infos["final_obs"] = np.where(ended[:, None, None], obs, 0.0).astype(np.float32)
            infos["final_info"] = {k: v.copy() for k, v in infos.items() if k != "final_obs"}
            infos["_final_obs"] = ended
            self._take_resets(obs, infos)
        self._lead_infos = lead_infos
        flags = np.repeat(ended[:, None], K, axis=1)
        return obs, rewards, np.zeros_like(flags), flags, infos

    def close(self) -> None:
        self.core.close()

    # ------------------------------------------------------------------ internals
    def _commit(self) -> Commitments:
        """Each embedded leader's commitment for tomorrow, decoded as the single game does (a
        ``PrincipalAction`` taken as it is, a Box point through the codec, its clipped values counted)."""
        if self._fixed is not None:
            return self._fixed
        b, codec = self.core.batch, self.core.batch.template.codec
        w, alpha, inertia = np.zeros((self.num_games, b.K)), np.zeros(self.num_games), np.zeros(self.num_games)
        for i, leader in enumerate(self.core.principals):
            ctx = DecisionContext(day=int(b.t[i]), n_types=b.K, obs=self.core._obs[i].copy(),
                                  current=self.core.announced[i], applied_weights=b.applied[i].copy(),
                                  window=_no_window, rules=self.config, info=_Row(self._lead_infos, i))
            act = leader.act(ctx)
            if isinstance(act, PrincipalAction):
                act = codec.coerce(act)
                w[i], alpha[i], inertia[i] = act.normalised, act.alpha, act.inertia
            else:
                wi, ai, ii, clipped, fallbacks = codec.decode_many(np.asarray(act)[None])
                b.clipped_values[i] += clipped[0]
                b.zero_weight_fallbacks[i] += fallbacks[0]
                w[i], alpha[i], inertia[i] = wi[0], ai[0], ii[0]
                act = PrincipalAction(wi[0], float(ai[0]), float(ii[0]))
            self.core.announced[i] = act
        out = Commitments(w, alpha, inertia)
        if self.core.fixed:
            self._fixed = out
        return out

    def _write(self, lead: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Every game's follower observations ``(N, K, size)``: each type's box of the game's day as the single
        env writes it (``MassStackelbergEnv.follower_box``, kept per day: all but the commitment is a function
        of the day and the type), its ``commitment`` columns the applied commitment the game's leader
        observation shows (as ``pack`` writes them: clipped, float32)."""
        obs = np.stack([self._boxes_of(d) for d in days.tolist()])
        commit = np.asarray(lead[:, : self.n_types + 2], dtype=np.float64)
        obs[:, :, self._commit_columns] = np.clip(commit, -CLIP, CLIP).astype(np.float32)[:, None, :]
        return obs

    def _boxes_of(self, day: int) -> np.ndarray:
        def build() -> np.ndarray:
            g = self.core.games[0]
            uni, zero = g.panel.universe[day].astype(np.float32), np.zeros(self.n_types + 2, np.float32)
            return np.stack([
                g.follower_box(a, {"features": g.follower_features(day, t)[0], "universe": uni, "commitment": zero})
                for a, t in zip(self.possible_agents, self.types)])
        return self._boxes.get_or(day, build)

    def _missing_of(self, day: int) -> np.ndarray:
        g = self.core.games[0]
        return self._missing.get_or(day, lambda: np.array([g.follower_features(day, t)[1] for t in self.types],
                                                          np.int64))

    def _take_resets(self, obs: np.ndarray, infos: dict[str, Any]) -> None:
        """The rows of games reset in this call: the single env's own reset observations and infos."""
        for i, (o, inf) in self.core.fresh.items():
            for k, a in enumerate(self.possible_agents):
                obs[i, k] = o[a]
                for key in FOLLOWER_INFO_KEYS:
                    infos[key][i, k] = inf[a][key]
