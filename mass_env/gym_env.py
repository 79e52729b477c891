"""The Gymnasium environment of the leader alone, the followers embedded (``mass_env/Principal-v0``);
the class docstring is its doc page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium

from .env import PRINCIPAL, MassStackelbergEnv
from .episodes import RESET_OPTIONS
from .errors import MassError
from .follower_chunks import SignalsAhead
from .rollout import follower_actions, follower_views, reset_followers
from .scripted import scripted_followers

SEED_BOUND = 2**31 - 1


class PrincipalEnv(gymnasium.Env):
    """The leader (principal) alone as a Gymnasium env, the followers embedded: train it with any RL library.

    ==================  ===========================================================================
    Make                ``gymnasium.make("mass_env:mass_env/Principal-v0", **kwargs)``
    Import              ``from mass_env import PrincipalEnv``
    Action space        ``Box(-1, 1, (K+2,), float32)``: ``[z_1..z_K, a, i]``
    Observation space   ``Box(-1, 1, (K+2 + W*K + 2W + 3K + 1,), float32)`` (``PrincipalObsLayout``)
    Reward              the payoff realised this step (Rank IC minus the turnover penalty)
    Termination         never; truncated after the episode's last day
    Render modes        ``"ansi"``, ``"rgb_array"``, ``"human"``
    ==================  ===========================================================================

    The id's ``mass_env:`` prefix makes Gymnasium import ``mass_env`` (which registers the id) before it
    looks the id up, so the form works in a fresh process and in every ``SubprocVecEnv`` worker, with
    no keyword arguments: ``make_vec_env("mass_env:mass_env/Principal-v0", n_envs=4,
    vec_env_cls=SubprocVecEnv)`` (stable-baselines3; ``DummyVecEnv`` too). The bare id
    ``"mass_env/Principal-v0"`` works once ``mass_env`` has been imported.

    **Action.** ``[z_1..z_K, a, i]``, decoded by the game's ``ActionCodec``: weights ``softmax(3 z)``,
    alpha ``(a + 1) / 2``, inertia ``inertia_max * max(i, 0)``. Zero is the neutral commitment (equal
    weights, alpha 0.5, no inertia), so an untrained policy starts there. A ``PrincipalAction`` is
    accepted too.

    **Observation.** The leader's flat vector (W = ``config.obs_window``): the commitment applied
    today, the last W paid per-type and aggregate Rank ICs with a mask, the previous day's per-type
    signal statistics, episode progress (``PrincipalObsLayout.describe()`` lists the pieces). Never a
    same-day signal or an unrealised return.

    **Reward, termination.** The step's reward is the payoff of the days whose return realised at this
    close: day s is paid at the step of day ``s + lag + horizon``, so the first ``lag + horizon`` steps
    of an episode pay 0, and days whose return would realise after the episode's last day are never
    paid. Episodes are never terminated; they are truncated after their last day.

    **Episodes.** ``reset(seed=s)`` is bit-reproducible (env, followers and, with ``episode_days``,
    the window). ``reset()`` without a seed starts a different episode drawn from ``np_random``: new
    follower seeds and, with ``episode_days``, a random window of that many days within the panel.
    Options (``reset(options=...)``): ``start``, ``end``, ``episode_days``, ``initial_action``, as
    ``MassStackelbergEnv``; unknown keys are an error. ``start`` and ``end`` are panel day indices and
    both are inclusive: the episode plays days ``start .. end`` (defaults ``config.warmup_days`` and
    ``n_days - 2``, the last day whose next close exists).

    **Held-out evaluation.** Train on the first part of the days, evaluate on the rest::

        split = 400                                   # the first evaluation day (a panel day index)
        train = gymnasium.make("mass_env:mass_env/Principal-v0", panel=panel.slice_days(0, split))
        test = gymnasium.make("mass_env:mass_env/Principal-v0", panel=panel)
        obs, info = test.reset(seed=0, options={"start": split})    # plays days split .. n_days - 2

    ``panel.slice_days(0, split)`` keeps days ``0 .. split - 1`` (``stop`` exclusive), so no training
    episode, observation or reward can reach an evaluation day (random ``episode_days`` windows
    included: they are drawn within the panel the env has). The evaluation episode starts at day
    ``split`` (inclusive) and reads the days before it as history: features need
    ``config.warmup_days`` days of it (``split >= warmup_days``), and its first reward arrives at the
    step of day ``split + lag + horizon`` (the payoff of day ``split``); ``end`` (inclusive) bounds it
    on the right. Don't use reset options to split a single env's days for training: SB3's vectorised
    envs reset without options when an episode ends.

    Arguments:
        game_env: a ``MassStackelbergEnv`` to wrap (default: one built from ``**env_kwargs``).
        followers: ``{agent: Follower}`` to embed (default: ``scripted_followers(env, seed=follower_seed)``).
        follower_seed: the default followers' seed (``reset(seed=...)`` reseeds them).
        follower_draws: the default followers' random numbers: ``"stream"`` (default, every stored result) or
            ``"block"`` (faster, the same distribution, other draws; ``mass_env.scripted``).
        render_mode: ``"ansi"``, ``"rgb_array"``, ``"human"`` or None.
        **env_kwargs: ``MassStackelbergEnv``'s arguments (``panel``, ``types``, ``config``, ``n_types``,
            ``agents_per_type``, ``episode_days``, ...).

    Version history:
        * v0 (package 0.3): the documented id form ``"mass_env:mass_env/Principal-v0"``; spaces,
          rewards and results unchanged.
        * v0 (package 0.2): the symmetric action whose zero is the neutral commitment (policies
          trained on the 0.1 ``Box(0, 1)`` action are recognised by ``principals.RLPrincipal``).
        * v0 (package 0.1): initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array", "human"], "render_fps": 4}

    def __init__(self, game_env: MassStackelbergEnv | None = None, followers: Mapping[str, Any] | None = None,
                 *, follower_seed: int = 0, follower_draws: str = "stream", render_mode: str | None = None,
                 **env_kwargs: Any) -> None:
        if render_mode is not None and render_mode not in MassStackelbergEnv.RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {MassStackelbergEnv.RENDER_MODES}, "
                             f"got {render_mode!r}")
        if game_env is not None and not isinstance(game_env, MassStackelbergEnv):
            raise MassError(f"game_env must be a MassStackelbergEnv, got a {type(game_env).__name__} (a market goes "
                            "in as PrincipalEnv(panel=...))")
        self.game_env = game_env if game_env is not None else MassStackelbergEnv(render_mode=render_mode, **env_kwargs)
        if game_env is not None and render_mode is not None:
            self.game_env.render_mode = render_mode
        if followers is None:
            followers = scripted_followers(self.game_env, seed=follower_seed, follower_draws=follower_draws)  # type: ignore[arg-type]
        elif follower_draws != "stream":
            raise MassError("follower_draws applies to the default scripted followers; pass them built with it instead")
        missing = set(self.game_env.possible_agents) - {PRINCIPAL} - set(followers)
        if missing:
            raise ValueError(f"no follower policy for {sorted(missing)}")
        # a mapping that answers a whole day at once (``act_many``: ScriptedFollowers) is kept as it is
        self.followers = followers if callable(getattr(followers, "act_many", None)) else dict(followers)
        self.follower_seed = follower_seed
        self.render_mode = render_mode
        self.observation_space = self.game_env.observation_space(PRINCIPAL)
        self.action_space = self.game_env.action_space(PRINCIPAL)
        self._obs: dict[str, Any] = {}
        self._infos: dict[str, Any] = {}
        self._current = False  # whether _obs and _infos hold every agent's outputs of the current day
        self._ahead = SignalsAhead(self.game_env)  # plain scripted followers: drawn a block of days at once

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
        self._ahead.clear()  # a new window, new seeds: what was drawn ahead is stale
        self._obs, self._infos = self.game_env.reset(seed=inner, options=options)
        self._current = True
        return self._obs[PRINCIPAL], dict(self._infos[PRINCIPAL])

    def step(self, action: Any):
        if not self._obs:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        actions = self._ahead.actions(self.followers)
        if actions is not None:  # followers drawn ahead read no observation: only the leader's outputs are built
            actions[PRINCIPAL] = action
            lead, reward, done, info = self.game_env.principal_step(actions)
            self._current = False
            return lead, reward, False, done, info
        if not self._current:  # the followers' outputs of today, as step would have returned them
            self._obs, self._infos = self.game_env.outputs()
        actions = follower_actions(self.followers, self._obs, self._infos, self.game_env.agents)
        views = follower_views(self.followers, actions)
        if views:
            self.game_env.set_views(views)
        actions[PRINCIPAL] = action
        obs, rewards, terms, truncs, infos = self.game_env.step(actions)
        self._obs, self._infos, self._current = obs, infos, True
        return (obs[PRINCIPAL], float(rewards[PRINCIPAL]), bool(terms[PRINCIPAL]),
                bool(truncs[PRINCIPAL]), dict(infos[PRINCIPAL]))

    def render(self) -> Any:
        return self.game_env.render()

    @property
    def game(self):
        return self.game_env.game
