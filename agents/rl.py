"""PPO followers in the game (``--followers rl``): one policy shared by every type and stock, trained on the
days before the episode, then played.

Why: the Hedge followers choose among a fixed library; PPO followers learn a report from what they see, their
view included (``FollowerObsLayout``: every modality's features, the mask of the columns the type sees, the
universe, the view and the commitment), paid by the game's rule. One per-stock row -> one report, shared by
every type and stock (parameter sharing; the mask says which type plays). Every agent of a type reports the
type's number on every stock of the universe.

No look-ahead: for the episode's first ``warmup`` days (the sweep's warm-up before its evaluation days, 21)
every type reports its view; on the first evaluation day ``e`` the policy trains on the game's followers env
(``FollowersEnv``, equal weights embedded) over ``panel.slice_days(0, e)``, so no price of day ``e`` or later
exists during training, from the end of the panel's warm-up (or the last ``train_days``) to the last day
whose forward return has realised. Each training day's reports are paid at once by the game's rule against
that day's realised forward return (``incentives.ingame.type_pay``): a contextual bandit, ``gamma = 0``. Then
the policy plays the evaluation days, deterministically. ``rl:path=FILE`` plays a saved policy from the first
day instead (``save=FILE`` writes one). Deterministic given the seed (PPO's seed, one torch thread).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mass_env.errors import MassError
from mass_env.followers_env import FollowersEnv
from mass_env.incentives.ingame import type_pay
from mass_env.roles import follower_agent
from mass_env.scripted import FixedCommitment

from .ppo import PPOSettings, make_ppo, require_sb3

FloatArray = npt.NDArray[np.float64]
#: the fewest training days (decision days of the training slice) worth a policy
MIN_TRAIN_DAYS = 5


@dataclass(frozen=True)
class RLOptions:
    """The options of ``--followers rl:key=value,...``: ``steps`` the training budget in (type, stock)
    reports; ``warmup`` the episode's days played by the view before training (the sweep's evaluation starts
    21 days in); ``train_days`` the last N days before that to train on (0: all after the panel's warm-up);
    ``rollout`` days per PPO rollout; ``lr`` PPO's initial learning rate; ``path`` a saved policy to play
    (no training); ``save`` where to save the trained policy; ``verbose`` 0 = no progress lines."""

    steps: int = 20_000
    warmup: int = 21
    train_days: int = 0
    rollout: int = 4
    lr: float = 3e-3
    path: str = ""
    save: str = ""
    verbose: int = 1

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> RLOptions:
        """From plain or string values; an unknown key or a bad value is an error naming the valid ones."""
        kinds = {f.name: f.type for f in fields(cls)}
        bad = sorted(set(options) - set(kinds))
        if bad:
            raise ValueError(f"unknown rl follower option(s) {', '.join(bad)}; valid: {', '.join(kinds)}")
        out: dict[str, Any] = {}
        for key, value in options.items():
            kind = {"int": int, "float": float, "str": str}[str(kinds[key])]
            try:
                out[key] = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"rl follower option {key}: {kinds[key]}, got {value!r}") from None
        for key in ("steps", "rollout", "lr"):
            if key in out and not out[key] > 0:
                raise ValueError(f"rl follower option {key}: must be positive, got {options[key]!r}")
        if min(out.get("warmup", 0), out.get("train_days", 0), out.get("verbose", 0)) < 0:
            raise ValueError("rl follower options warmup, train_days and verbose: must be >= 0")
        return cls(**out)

    def settings(self) -> PPOSettings:
        return PPOSettings(n_steps=self.rollout, learning_rate=self.lr)


def rows_of(env: Any, obs: Mapping[str, Any], names: Sequence[str]) -> npt.NDArray[np.float32]:
    """Per-stock rows (types, N, C) of ``names``'s observations: flat boxes as they are, dict observations
    through the env's one writer (``MassStackelbergEnv.follower_box``)."""
    flat = [obs[a] if not isinstance(obs[a], Mapping) else env.follower_box(a, obs[a]) for a in names]
    return env.follower_layout.rows(np.stack(flat))


def _reports(rows: npt.NDArray[np.float32], universe: npt.NDArray[np.bool_], n_agents: Sequence[int]
             ) -> list[npt.NDArray[np.float32]]:
    """Each type's action (n_agents, N) from its reports (types, N): the type's number on every stock of the
    universe, NaN elsewhere."""
    out = np.where(universe, np.clip(rows, -1.0, 1.0), np.nan).astype(np.float32)
    return [np.repeat(out[k][None, :], m, axis=0) for k, m in enumerate(n_agents)]


def make_training_env(followers: FollowersEnv, seed: int, days: tuple[int, int] | None = None) -> Any:
    """An SB3 ``VecEnv`` over the game's followers env (episodes over ``days``, first and last; default the
    env's): each (type, stock) one sample, paid the type's pay of the day at once (see the module docstring)."""
    require_sb3()
    from gymnasium import spaces
    from stable_baselines3.common.vec_env import VecEnv

    game_env = followers.game_env
    lay, k, n = game_env.follower_layout, game_env.game.K, game_env.panel.n_symbols
    names = list(followers.possible_agents)
    width = lay.rows(np.zeros((1, lay.size))).shape[-1]
    uni_col = 2 * lay.n_features
    sizes = [t.n_agents for t in game_env.types]

    class GameFollowersVecEnv(VecEnv):  # type: ignore[misc]
        """The game's followers as (type, stock) samples of one shared policy."""

        def __init__(self) -> None:
            super().__init__(k * n, spaces.Box(-5.0, 5.0, (width,), np.float32),
                             spaces.Box(-1.0, 1.0, (1,), np.float32))
            self._rows = np.zeros((k, n, width), np.float32)
            self._actions = np.zeros((k, n))
            self._seed = seed

        def reset(self) -> np.ndarray:
            window = None if days is None else {"start": days[0], "end": days[1]}
            obs, _ = followers.reset(seed=self._seed, options=window)
            self._seed += 1
            self._rows = rows_of(game_env, obs, names)
            return self._rows.reshape(k * n, width)

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = np.asarray(actions, np.float64).reshape(k, n)

        def step_wait(self) -> Any:
            acts = _reports(self._actions.astype(np.float32), self._rows[..., uni_col] > 0.5, sizes)
            obs, _, _, truncs, _ = followers.step(dict(zip(names, acts)))
            day = followers.game.records[-1].day  # today's reports, paid now (0 where not realised)
            pay = type_pay(followers.game, game_env.payment_rule, day)
            rewards = np.repeat(pay.astype(np.float32), n)
            done = bool(truncs[names[0]])
            rows = rows_of(game_env, obs, names).reshape(k * n, width)
            infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
            if done:
                infos = [{"terminal_observation": r, "TimeLimit.truncated": True} for r in rows]
                rows = self.reset()
            else:
                self._rows = rows.reshape(k, n, width)
            return rows, rewards, np.full(self.num_envs, done), infos

        def close(self) -> None:
            followers.close()

        def seed(self, seed: int | None = None) -> list[int | None]:
            self._seed = int(seed or 0)
            return [seed] * self.num_envs

        def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
            return [getattr(followers, attr_name) for _ in self._get_indices(indices)]

        def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
            setattr(followers, attr_name, value)

        def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
            return [getattr(followers, method_name)(*args, **kwargs) for _ in self._get_indices(indices)]

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            return [False for _ in self._get_indices(indices)]

    return GameFollowersVecEnv()


class RLLearner:
    """The shared policy of every type: trained at the first ``act`` of an episode (or loaded), then played."""

    def __init__(self, env: Any, options: RLOptions, seed: int) -> None:
        self.env = getattr(env, "unwrapped", env)
        self.options, self.seed = options, int(seed)
        self.model: Any = None
        self.first: int | None = None
        self.trained_at: int | None = None
        self.meta: dict[str, Any] = {}
        self.n_agents = {follower_agent(t.type_id): t.n_agents for t in self.env.types}

    def say(self, msg: str) -> None:
        if self.options.verbose:
            print(f"rl followers: {msg}", file=sys.stderr, flush=True)

    def prepare(self, day: int) -> None:
        """At the first act of an episode remember its first day; play a saved policy from then, or train on
        the days before the first evaluation day (``warmup`` days in)."""
        if self.first is None:
            self.first = day
        if self.options.path:
            if self.model is None:
                require_sb3()
                self.load(self.options.path)
            return
        if self.trained_at not in (None, self.first + self.options.warmup):
            self.model = self.trained_at = None  # trained for another episode's evaluation days: look-ahead here
        if self.model is None and day >= self.first + self.options.warmup:
            require_sb3()
            self.train(day)
            self.trained_at = day

    def playing(self, day: int) -> bool:
        """Whether the policy answers on ``day`` (else the view): from the first evaluation day, or always
        for a loaded policy."""
        return self.model is not None and (bool(self.options.path) or day >= (self.first or 0) + self.options.warmup)

    def reset(self, seed: int | None) -> None:
        """A new episode; a new seed trains a new policy (PPO's seed)."""
        self.first = None
        if seed is not None and int(seed) != self.seed:
            self.seed = int(seed)
            if not self.options.path:
                self.model = self.trained_at = None

    def train(self, day: int) -> None:
        """Train on ``panel.slice_days(0, day)``: nothing of ``day`` or later exists (see the module doc)."""
        env = self.env
        warm = env.config.warmup_days
        start = warm if not self.options.train_days else max(warm, day - self.options.train_days)
        last = min(day - 2, day - 1 - env.config.payoff_spec.delay)  # its forward return realised by day - 1
        if last - start + 1 < MIN_TRAIN_DAYS:
            raise MassError(
                f"rl followers train on the days before the evaluation, which starts on day {day} of "
                f"{env.panel.name!r}: after the panel's {warm}-day warm-up that leaves {max(last - start + 1, 0)} "
                f"paid days, fewer than {MIN_TRAIN_DAYS}; use a longer panel or a later --eval-start, or play a "
                "saved policy (rl:path=FILE)")
        panel = env.panel.slice_days(0, day)
        followers = FollowersEnv(FixedCommitment(name="equal"), panel=panel, types=env.types, config=env.config,
                                 follower_obs="box")
        venv = make_training_env(followers, self.seed, (start, last))
        self.say(f"training PPO for {self.options.steps:,} (type, stock) reports on days {start}..{last} "
                 f"({panel.dates[start].date()}..{panel.dates[last].date()}), seed {self.seed}")
        from stable_baselines3.common.callbacks import BaseCallback

        t0, every, learner = time.perf_counter(), max(self.options.steps // 5, 1), self

        class Progress(BaseCallback):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.next = every

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next:
                    self.next += every
                    learner.say(f"{self.num_timesteps:,}/{learner.options.steps:,} reports "
                                f"({time.perf_counter() - t0:.0f}s)")
                return True

        self.model = make_ppo(venv, self.options.settings(), seed=self.seed)
        self.model.learn(total_timesteps=self.options.steps, callback=Progress())
        self.meta = {"train_days": [start, last], "train_dates": [str(panel.dates[d].date()) for d in (start, last)],
                     "first_played_day": day, "steps": int(self.model.num_timesteps),
                     "train_s": time.perf_counter() - t0, "row_width": int(venv.observation_space.shape[0]),
                     "options": asdict(self.options)}
        if self.options.save:
            self.save(self.options.save)

    def save(self, path: str) -> Path:
        zpath = Path(path).with_suffix(".zip")
        zpath.parent.mkdir(parents=True, exist_ok=True)
        self.model.save(str(zpath))
        zpath.with_suffix(".json").write_text(json.dumps(self.meta, indent=1))
        self.say(f"saved the policy to {zpath}")
        return zpath

    def load(self, path: str) -> None:
        from stable_baselines3 import PPO

        zpath = Path(path).with_suffix(".zip")
        if not zpath.exists():
            raise MassError(f"rl follower option path: no saved policy at {zpath}")
        self.model = PPO.load(str(zpath), device="cpu")
        lay = self.env.follower_layout
        width = lay.rows(np.zeros((1, lay.size))).shape[-1]
        if self.model.observation_space.shape != (width,):
            raise MassError(f"the policy at {zpath} reads rows of {self.model.observation_space.shape[0]} values; "
                            f"this game's rows have {width} (other features or number of types)")
        meta = zpath.with_suffix(".json")
        self.meta = {"loaded": str(zpath), **(json.loads(meta.read_text()) if meta.exists() else {})}

    def reports(self, obs: Mapping[str, Any], names: Sequence[str], day: int) -> tuple[list[Any], list[Any]]:
        """Each named type's action and view (n_agents, N) on ``day``: the view itself before the policy plays."""
        self.prepare(day)
        rows = rows_of(self.env, obs, names)
        k, n, width = rows.shape
        lay = self.env.follower_layout
        out = rows[..., 2 * lay.n_features + 1] if not self.playing(day) else \
            self.model.predict(rows.reshape(k * n, width), deterministic=True)[0].reshape(k, n)
        uni = rows[..., 2 * lay.n_features] > 0.5
        sizes = [self.n_agents[a] for a in names]
        return _reports(out, uni, sizes), _reports(rows[..., 2 * lay.n_features + 1], uni, sizes)


class RLFollowers(dict):  # type: ignore[type-arg]
    """``{agent: RLFollower}`` answering a whole day in one call (one policy pass for every type)."""

    def __init__(self, learner: RLLearner, names: Sequence[str]) -> None:
        super().__init__({a: RLFollower(learner, a) for a in names})
        self.learner = learner

    def act_many(self, obs: Mapping[str, Any], infos: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
        acts, views = self.learner.reports(obs, names, min(int(infos[a]["day"]) for a in names))
        for a, v in zip(names, views):
            self[a].last_views = v
        return dict(zip(names, acts))

    def report(self) -> dict[str, Any]:
        return {"population": "rl", **self.learner.meta}


class RLFollower:
    """One type's follower: the shared policy's reports; ``last_views`` (its view) for the game's record."""

    def __init__(self, learner: RLLearner, agent: str) -> None:
        self.learner, self.agent = learner, agent
        self.last_views: Any = None

    def reset(self, seed: int | None = None) -> None:
        self.last_views = None
        self.learner.reset(seed)

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        acts, views = self.learner.reports({self.agent: obs}, [self.agent], int(info["day"]))
        self.last_views = views[0]
        return acts[0]


def rl_population(env: Any, seed: int, **options: Any) -> RLFollowers:
    """PPO followers for a ``MassStackelbergEnv``; options as ``RLOptions.parse``."""
    opts = RLOptions.parse(options)
    require_sb3()  # before the episode, not at its first evaluation day
    base = getattr(env, "unwrapped", env)
    return RLFollowers(RLLearner(base, opts, seed), [follower_agent(t.type_id) for t in base.types])


def rl_identity(options: Mapping[str, Any]) -> dict[str, Any]:
    """What determines the answers: the parsed options (defaults spelled out; ``verbose`` and ``save`` do not
    count) and a saved policy's bytes (a new policy at the same path is another population)."""
    opts = asdict(RLOptions.parse(options))
    opts.pop("verbose")
    opts.pop("save")
    zpath = Path(opts["path"]).with_suffix(".zip") if opts["path"] else None
    if zpath is not None and zpath.exists():
        opts["policy_sha256"] = hashlib.sha256(zpath.read_bytes()).hexdigest()[:16]
    return opts
