"""The PettingZoo environment of the repeated Stackelberg aggregation game (``mass_stackelberg_v0``):
``MassStackelbergEnv`` and ``parallel_env`` (its AEC view is ``mass_env.aec``); the class docstring is
its doc page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .data.modalities import CLIP, DailyFeatures, Modality, feature_names
from .data.panel import MarketPanel
from .data.synthetic import SyntheticConfig, synthetic_market
from .episodes import episode_bounds
from .errors import ActionError, MassError
from .game import GameConfig, Payoff, StackelbergGame
from .game.investors import InvestorType, build_types
from .game.mechanism import numeric_array
from .incentives.ingame import mean_type_pay
from .memo import BoundedMemo
from .observation import FollowerObsLayout, PrincipalObsLayout, SignalBox
from .render import episode_rgb, episode_text
from .roles import PRINCIPAL, follower_agent
from .scripted import ScriptedFollower
from .step_outputs import PrincipalWindow, follower_infos, principal_info, principal_reward

FOLLOWER_OBS = ("dict", "box")
ALL_MODALITIES = Modality(sum(m.value for m in Modality))


def default_market(seed: int = 0, n_days: int = 160) -> MarketPanel:
    """The embedded default: a synthetic SSE50-sized market (50 stocks, ~6 months + warm-up)."""
    return synthetic_market(SyntheticConfig(n_days=n_days), seed=seed)[0]


class MassStackelbergEnv(ParallelEnv):
    """The repeated Stackelberg aggregation game as a PettingZoo ``ParallelEnv`` (``mass_stackelberg_v0``).

    Every trading day a leader (the principal) commits to how it will aggregate the signals of K
    investor types (the followers), and is paid the Rank IC of the aggregate once the returns realise.

    ====================  =========================================================================
    Import                ``from mass_env import parallel_env`` (``env`` / ``raw_env``: the AEC view)
    Agents                ``principal_0``, ``investor_0`` ... ``investor_{K-1}``
    Parallel API          yes (``raw_env``: the AEC wrapper; ``env``: plus order enforcing)
    Leader action         ``Box(-1, 1, (K+2,), float32)``: ``[z_1..z_K, a, i]``
    Follower action       ``SignalBox``: ``Box(-1, 1, (n_agents, N))``, NaN = did not look
    Leader observation    ``Box(-1, 1, (K+2 + W*K + 2W + 3K + 1,), float32)`` (``PrincipalObsLayout``)
    Follower observation  ``Dict(features, universe, commitment)``, or one flat ``Box`` (``follower_obs="box"``)
    State                 ``Box(-5, 5)``: leader observation, universe, every feature (``state()``)
    ====================  =========================================================================

    **Action space.** The leader's action ``[z_1..z_K, a, i]`` is decoded by the game's ``ActionCodec``
    (``mass_env.game.mechanism``): weights ``softmax(3 z)``, alpha ``(a + 1) / 2``, inertia
    ``inertia_max * max(i, 0)``. The zero action is the neutral commitment: equal weights, alpha 0.5,
    no inertia. A ``PrincipalAction`` is accepted too; ``action_encoding="simplex"`` gives the 0.1
    ``Box(0, 1)`` encoding. Follower ``investor_k`` sends one score per (agent, stock) of its type, NaN
    where an agent did not look (missing, not zero). Out-of-range values are clipped and counted in
    ``infos[agent]["clipped_values"]`` (an ``ActionError`` with ``strict_actions=True``); NaN/inf in the
    leader's action and inf in a signal are always errors.

    **Observation space.** The leader's flat vector has these pieces (``PrincipalObsLayout``, W =
    ``config.obs_window``): ``applied`` (the commitment applied today, K+2), ``type_ic`` (the last W
    *paid* per-type Rank ICs, W x K), ``agg_ic`` (the last W paid aggregate Rank ICs), ``paid_mask``
    (which of the W rows hold a payoff), ``signal_stats`` (the previous day's per-type mean,
    dispersion and coverage, K x 3) and ``progress`` (1). Never a same-day signal or an unrealised
    return. A follower sees ``features`` (``Box(-5, 5, (N, F_k))``: its modalities' point-in-time
    features, 0 where unknown), ``universe`` (``Box(0, 1, (N,))``) and ``commitment`` (the applied
    commitment, ``Box(0, 1, (K+2,))``); ``follower_obs="box"`` packs every modality's features, a mask
    of the columns the type sees, the universe, the type's view (its noise-free truthful score) and the
    commitment into one ``Box`` of the same shape for every type (``FollowerObsLayout``).

    **Timing** (``mass_env.game.stackelberg``): at the close of day t the followers emit their signals
    for t under the commitment announced at t-1, and the leader announces the commitment for t+1.

    **Rewards.** The leader: the payoff of the days that realised this step (Rank IC of the aggregate at
    the payoff horizon, minus ``turnover_penalty`` x turnover). Day s is paid at the step of day
    ``s + lag + horizon``: the first ``lag + horizon`` steps pay 0. Follower k: what the payment rule
    ``config.follower_reward`` pays its type for day s (``mass_env.incentives.ingame``): ``"skill"`` its
    Rank IC, ``"weighted_skill"`` that x K x its weight share, or any rule of the registry.

    **Termination and truncation.** Never terminated; every agent is truncated after the episode's
    last day (``end``, by default the panel's last playable day ``n_days - 2``; ``max_cycles`` caps the
    number of steps, PettingZoo's convention). Days whose returns would realise after the last day are
    never paid.

    **Infos.** Numbers and fixed-shape arrays only, the same keys at ``reset`` and every step. The
    leader's: ``day``, ``n_scored``, the applied commitment (``applied_weights``, ``alpha``,
    ``inertia``), ``zero_weight_fallbacks`` and ``clipped_values`` (this episode), and the payoff
    realised at this step (``n_paid``, ``paid_*``; ``mass_env.game.infos.payoffs_from_info`` rebuilds
    the ``Payoff`` objects). A follower's: ``day``, ``missing_features``, ``clipped_values`` and
    ``misreport`` (mean |report - view| of its agents on the last day; views: ``set_views`` before
    ``step``, else the report). All views and reports: ``env.game.report_log`` (``mass_env.game.reports``).

    **Episodes.** ``reset(seed, options)``; options (panel day indices, both ends inclusive):
    ``start`` (default ``config.warmup_days``), ``end`` (default ``n_days - 2``), ``episode_days`` (a
    window of that many days, its start drawn from ``np_random`` unless given; not with ``end``) and
    ``initial_action``. Unknown keys are ignored with a warning (PettingZoo's ``api_test`` passes one).

    Arguments:
        panel: the market (``MarketPanel``; default: ``default_market()``, a synthetic SSE50-sized one).
        types: the investor types (default: ``build_types(n_types, agents_per_type)``).
        config: the rules (``GameConfig``: horizon, lag, warm-up, obs window, turnover penalty, ...).
        n_types, agents_per_type: the default population's size (8 x 8).
        render_mode: ``"ansi"`` (a line of text), ``"rgb_array"`` (weights and paid Rank IC as a
            picture), ``"human"`` (the text, printed) or None.
        max_cycles: cap on the steps of every episode.
        episode_days: default length of an episode window (see Episodes).
        follower_obs: ``"dict"`` (default) or ``"box"``.
        action_encoding: ``"symmetric"`` (default) or ``"simplex"``.
        strict_actions: out-of-range actions raise instead of being clipped.
        record_reports: keep every agent's view and report per day in ``game.report_log`` (default True;
            False saves 4 bytes per agent, stock and day, 8 where a view differs from its report, and
            leaves the history's ``misreport`` NaN and the followers' ``misreport`` info 0).

    Version history:
        * 0.3: one word per role (``mass_env.roles.follower_agent``; the scripted followers are
          ``ScriptedFollower``); the 0.2 forwarding paths removed (``mass_env.removed`` says where
          each went). Spaces, rewards and results unchanged.
        * 0.2: the symmetric leader action whose zero is the neutral commitment (the ``Box(0, 1)``
          encoding kept as ``action_encoding="simplex"``); ``lam`` renamed ``inertia`` and
          ``lambda_max`` ``inertia_max``; modules regrouped into ``mass_env.data`` and ``mass_env.game``.
        * 0.1: initial release.
    """

    RENDER_MODES = ("ansi", "rgb_array", "human")
    metadata = {"name": "mass_stackelberg_v0", "render_modes": list(RENDER_MODES), "render_fps": 4,
                "is_parallelizable": True}

    def __init__(self, panel: MarketPanel | None = None, types: Sequence[InvestorType] | None = None,
                 config: GameConfig | None = None, *, n_types: int = 8, agents_per_type: int = 8,
                 render_mode: str | None = None, max_cycles: int | None = None, episode_days: int | None = None,
                 follower_obs: str = "dict", action_encoding: str = "symmetric", strict_actions: bool = False,
                 record_reports: bool = True) -> None:
        if render_mode is not None and render_mode not in self.RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {self.RENDER_MODES}, got {render_mode!r}")
        if follower_obs not in FOLLOWER_OBS:
            raise ValueError(f"follower_obs must be one of {FOLLOWER_OBS}, got {follower_obs!r}")
        for name, v in (("max_cycles", max_cycles), ("episode_days", episode_days)):
            if v is not None and (not isinstance(v, (int, np.integer)) or v < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {v!r}")
        self.render_mode = render_mode
        self.max_cycles = max_cycles
        self.episode_days = episode_days
        self.follower_obs = follower_obs
        if panel is not None and not isinstance(panel, MarketPanel):  # e.g. synthetic_market's (panel, truth)
            raise MassError(f"panel must be a MarketPanel, got a {type(panel).__name__}")
        self.panel = panel if panel is not None else default_market()
        self.types = tuple(types) if types is not None else build_types(n_types, agents_per_type)
        self.game = StackelbergGame(self.panel, self.types, config, action_encoding=action_encoding,
                                    strict_actions=strict_actions, record_reports=record_reports)
        self.config = self.game.config
        self.payment_rule = self.config.payment_rule()
        self._pending_views: dict[str, Any] = {}
        K, N = self.game.K, self.panel.n_symbols
        self.layout = PrincipalObsLayout(K, self.config.obs_window)
        self.possible_agents = [PRINCIPAL] + [follower_agent(k) for k in range(K)]
        self._follower_names = [follower_agent(t.type_id) for t in self.types]
        self._live: frozenset[str] = frozenset()
        self.agents: list[str] = []
        self.all_feature_names = tuple(n for m in Modality
                                       for n in feature_names(m, self.panel.macro_names, self.panel.valuation))
        self.feature_names = {
            follower_agent(t.type_id): tuple(n for m in Modality if m in t.modalities
                                             for n in feature_names(m, self.panel.macro_names,
                                                                    self.panel.valuation))
            for t in self.types
        }
        F = len(self.all_feature_names)
        self.follower_layout = FollowerObsLayout(N, F, K)
        self._columns = {a: np.flatnonzero(np.isin(self.all_feature_names, n)) for a, n in self.feature_names.items()}
        self._opinions: dict[str, ScriptedFollower] = {}  # each type's noise-free view (the box's), made on use
        commit_box = spaces.Box(0.0, 1.0, (K + 2,), np.float32)
        self._obs_spaces: dict[str, spaces.Space] = {
            PRINCIPAL: spaces.Box(-1.0, 1.0, (self.layout.size,), np.float32)}
        self._act_spaces: dict[str, spaces.Space] = {PRINCIPAL: self.game.codec.space}
        for t in self.types:
            a = follower_agent(t.type_id)
            if follower_obs == "box":
                self._obs_spaces[a] = spaces.Box(-CLIP, CLIP, (self.follower_layout.size,), np.float32)
            else:
                self._obs_spaces[a] = spaces.Dict({
                    "features": spaces.Box(-CLIP, CLIP, (N, len(self.feature_names[a])), np.float32),
                    "universe": spaces.Box(0.0, 1.0, (N,), np.float32),
                    "commitment": commit_box,
                })
            self._act_spaces[a] = SignalBox(t.n_agents, N)
        self.state_space = spaces.Box(-CLIP, CLIP, (self.layout.size + N + N * F,), np.float32)
        self._window = PrincipalWindow(self.layout, K, self.game.universe)  # the leader's observation, in place
        self._type_memo: BoundedMemo[int, list[tuple[np.ndarray, int]]] = BoundedMemo(256)
        self.last_paid: list[Payoff] = []
        self._day_memo: BoundedMemo[int, tuple[DailyFeatures, dict[Modality, tuple[np.ndarray, int]]]] = \
            BoundedMemo(256)
        self._missing: dict[str, int] = {}
        self._was_reset = False
        self.np_random, _ = gymnasium.utils.seeding.np_random(None)

    # ------------------------------------------------------------------ spaces (same object every call)
    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None):
        if seed is not None:
            self.np_random, _ = gymnasium.utils.seeding.np_random(seed)
        start, end, initial = episode_bounds(options, episode_days=self.episode_days, first=self.config.warmup_days,
                                             last=self.panel.n_days - 2, max_cycles=self.max_cycles,
                                             rng=self.np_random)
        self.game.reset(start, end, initial)
        self.agents = list(self.possible_agents)
        self._live = frozenset(self.agents)
        self._window.clear()
        self.last_paid = []
        self._was_reset = True
        return self._observations(), self._infos()

    def step(self, actions: Mapping[str, Any]):
        paid = self._play(actions)
        rewards = self._rewards(paid)
        done = self.game.done
        obs = self._observations()
        infos = self._infos()
        terms = dict.fromkeys(self.agents, False)
        truncs = dict.fromkeys(self.agents, done)
        self._end_step(done)
        return obs, rewards, terms, truncs, infos

    def principal_step(self, actions: Mapping[str, Any]) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        """``step`` for a caller that reads the leader's outputs alone: the same game step, and the leader's
        observation, reward, truncation and info (``PrincipalEnv``, its followers drawn ahead). The followers'
        observations, infos and rewards are not built; ``outputs()`` builds theirs of the current day."""
        paid = self._play(actions)
        reward = principal_reward(paid)
        done = self.game.done
        obs, info = self._principal_obs(), principal_info(self.game, self._day(), paid)
        self._end_step(done)
        return obs, reward, done, info

    def outputs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every agent's observation and info of the current day: what the last ``step`` (or ``reset``) returned,
        built again (after a ``principal_step``, the followers' were not)."""
        return self._observations(), self._infos()

    def _end_step(self, done: bool) -> None:
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()

    def _play(self, actions: Mapping[str, Any]) -> list[Payoff]:
        """Check the actions, step the game, and record what the leader's observation shows of it."""
        if not self._was_reset:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        if not self.agents:
            raise ActionError("episode is over; call reset()")
        if not isinstance(actions, Mapping):
            raise ActionError(f"actions must be a dict agent -> action, got {type(actions).__name__}")
        if actions.keys() != self._live:
            unknown = sorted(set(actions) - self._live)
            if unknown:
                raise ActionError(f"actions for unknown agents {unknown}; the live agents are {self.agents}")
            missing = [a for a in self.agents if a not in actions]
            raise ActionError(f"actions missing for agents {missing}")
        N = self.panel.n_symbols
        signals = []  # checked here only for what names the agent; the game checks the values once
        for a, t in zip(self._follower_names, self.types):
            x = actions[a]
            if type(x) is not np.ndarray or x.dtype.kind != "f" or x.shape != (t.n_agents, N):
                x = self._signal_array(x, t)
            signals.append(x)
        views = ({t.type_id: self._signal_array(self._pending_views[a], t)
                  for a, t in zip(self._follower_names, self.types) if a in self._pending_views}
                 if self._pending_views else None)
        self._pending_views = {}
        res = self.game.step(signals, actions[PRINCIPAL], views)
        self._window.record(self.game, res.paid)
        self.last_paid = res.paid
        return res.paid

    def state(self) -> np.ndarray:
        """The global state (see the module docstring); an error before the first ``reset``."""
        if not self._was_reset:
            raise MassError("state() called before reset(): the global state exists once an episode has started")
        feats = self._day_features(self._day())[0].for_modalities(ALL_MODALITIES).values
        uni = self.panel.universe[self._day()].astype(np.float32)
        parts = [self._principal_obs(), uni, np.nan_to_num(feats).reshape(-1)]
        return np.clip(np.concatenate(parts), -CLIP, CLIP).astype(np.float32)

    def render(self) -> Any:
        """``ansi``: one line of text; ``rgb_array``: the episode so far as a picture (``mass_env.render``);
        ``human``: the line printed to stdout (no window: the env is for headless machines)."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='ansi', "
                                  "'rgb_array' or 'human' to the env")
            return None
        g = self.game
        if self.render_mode == "rgb_array":
            applied = np.array([r.applied for r in g.records]).reshape(len(g.records), g.K)  # (0, K) before day 1
            ic = np.array([r.paid.rank_ic if r.paid else np.nan for r in g.records])
            return episode_rgb(applied, ic, g.n_steps)
        text = episode_text(str(g.panel.dates[self._day()].date()) if self._was_reset else "not started",
                            g.applied_weights, g.announced.alpha if self._was_reset else 0.5,
                            [(p.day, p.rank_ic) for p in self.last_paid])
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ internals
    def set_views(self, views: Mapping[str, Any]) -> None:
        """Followers' views (agent -> (n_agents, N)) for the next ``step`` to record beside their reports
        (``rollout`` passes those of followers exposing ``last_views``); unnamed ones reported their views."""
        self._pending_views = dict(views)

    def _signal_array(self, action: Any, t: InvestorType) -> np.ndarray:
        x = numeric_array(action, f"{follower_agent(t.type_id)} action")
        if x.shape != (t.n_agents, self.panel.n_symbols):
            raise ActionError(
                f"{follower_agent(t.type_id)} action must have shape ({t.n_agents}, {self.panel.n_symbols}), "
                f"got {x.shape}")
        return x

    def _principal_obs(self) -> np.ndarray:
        """The layout's pieces written into one preallocated buffer (``PrincipalObsLayout.pack`` without
        the per-step concatenation), clipped to [-1, 1] as float32."""
        return self._window.write(self.game)

    def _day(self) -> int:
        return min(self.game.t, self.panel.n_days - 1)

    def _day_features(self, day: int) -> tuple[DailyFeatures, dict[Modality, tuple[np.ndarray, int]]]:
        """The day's features, and per modality set the followers' float32 view and its count of missing
        universe values: a pure function of (panel, day), so kept across this env's episodes (replayed or
        repeated runs play the same days again; building them was most of a step). At most 256 days: random
        RL episodes over a long panel must not grow it to gigabytes."""
        return self._day_memo.get_or(day, lambda: (DailyFeatures(self.game.view(day)), {}))

    def follower_features(self, day: int, t: InvestorType) -> tuple[np.ndarray, int]:
        """Type ``t``'s float32 features of ``day`` (0 where unknown) and its count of missing universe values
        (kept with the day's features: a batched env reads them for every game at that day)."""
        feats, typed = self._day_features(day)
        seen = typed.get(t.modalities)
        if seen is None:
            vals = feats.for_modalities(t.modalities).values
            seen = typed[t.modalities] = (np.nan_to_num(vals).astype(np.float32),
                                          int((~np.isfinite(vals) & self.panel.universe[day][:, None]).sum()))
        return seen

    def _observations(self) -> dict[str, Any]:
        day = self._day()
        uni = self.game.universe[day].astype(np.float32)
        lead = self._principal_obs()
        commit = lead[: self.game.K + 2]  # the applied commitment (d, alpha, inertia/inertia_max), in [0, 1]
        obs: dict[str, Any] = {PRINCIPAL: lead}
        # each type's features of the day, in type order
        typed_day = self._type_memo.get_or(day, lambda: [self.follower_features(day, t) for t in self.types])
        for a, seen in zip(self._follower_names, typed_day):
            self._missing[a] = seen[1]
            own = {"features": seen[0].copy(), "universe": uni, "commitment": commit}  # a policy may change it
            obs[a] = self.follower_box(a, own) if self.follower_obs == "box" else own
        return obs

    def follower_box(self, agent: str, obs: Mapping[str, Any]) -> np.ndarray:
        """Follower ``agent``'s flat observation (``FollowerObsLayout.write``) from its dict observation of
        today, its view included: what ``follower_obs="box"`` hands out, for a policy in a dict-mode game."""
        if agent not in self._opinions:
            t = next(t for t in self.types if follower_agent(t.type_id) == agent)
            self._opinions[agent] = ScriptedFollower(t, self.feature_names[agent])
        return self.follower_layout.write(obs["features"], self._columns[agent], obs["universe"],
                                          self._opinions[agent].view(obs["features"]), obs["commitment"], clip=CLIP)

    def _infos(self) -> dict[str, dict[str, Any]]:
        """Numeric infos with the same keys at reset and every step (see the module docstring)."""
        day = self._day()
        return {PRINCIPAL: principal_info(self.game, day, self.last_paid),
                **follower_infos(self.game, self._follower_names, self.types, day, self._missing)}

    def _rewards(self, paid: list[Payoff]) -> dict[str, float]:
        r = dict.fromkeys(self.agents, 0.0)
        if not paid:
            return r
        r[PRINCIPAL] = principal_reward(paid)
        r.update(zip(self._follower_names, mean_type_pay(self.game, self.payment_rule, paid).tolist()))
        return r


def parallel_env(**kwargs: Any) -> MassStackelbergEnv:
    """The game as a PettingZoo ``ParallelEnv`` (keyword arguments as ``MassStackelbergEnv``)."""
    return MassStackelbergEnv(**kwargs)
