"""PettingZoo ParallelEnv of the repeated Stackelberg aggregation game (``mass_stackelberg_v0``).

Agents: ``principal_0`` (the leader) and ``investor_k`` for every investor type k (a follower that
controls the ``n_agents`` agents of its type). See ``mass_env.game`` for the timing. Spaces:

* ``principal_0`` action: ``Box(0, 1, (K+2,))`` = ``[d_1..d_K, alpha, inertia/inertia_max]`` (a
  ``PrincipalAction`` is accepted too). An all-zero ``d`` means uniform weights.
* ``investor_k`` action: ``Box(-1, 1, (n_agents, N))``: each agent's score per stock. NaN means
  "this agent did not look at this stock" (a documented exception to the Box: missing, not zero).
* ``principal_0`` observation: a flat ``Box(-1, 1)``, layout in ``PrincipalObsLayout``: the
  commitment applied today, the last W *paid* per-type and aggregate Rank ICs (with a mask), the
  previous day's per-type signal statistics, and episode progress. Never a same-day signal or an
  unrealised return.
* ``investor_k`` observation: ``Dict(features=Box(-5, 5, (N, F_k)), universe=Box(0, 1, (N,)),
  commitment=Box(0, 1, (K+2,)))``: its modalities' point-in-time features (0 where unknown),
  today's universe, and the commitment that will be applied to the signals it is about to emit.

Infos: the leader's info holds the day, the applied commitment, ``paid`` (each realised payoff as a
dict) and ``payoffs`` (the same as ``Payoff`` objects: what ``mass_env.rollout`` hands to
``Principal.observe``).

Rewards: the leader gets the payoff of the days that realised this step (Rank IC at the payoff
horizon minus the turnover penalty when the stability constraint is on); follower k gets its own
type's realised Rank IC ("skill"), or that times K x its weight share ("weighted_skill").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec_wrapper
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from .data.modalities import CLIP, DailyFeatures, Modality, feature_names
from .data.panel import MarketPanel
from .data.synthetic import SyntheticConfig, synthetic_market
from .errors import ActionError
from .game import GameConfig, Payoff, StackelbergGame
from .game.investors import InvestorType, build_types
from .observation import PrincipalObsLayout
from .roles import PRINCIPAL, investor_agent


def default_market(seed: int = 0, n_days: int = 160) -> MarketPanel:
    """The embedded default: a synthetic SSE50-sized market (50 stocks, ~6 months + warm-up)."""
    return synthetic_market(SyntheticConfig(n_days=n_days), seed=seed)[0]


class MassStackelbergEnv(ParallelEnv):
    metadata = {"name": "mass_stackelberg_v0", "render_modes": ["ansi"], "render_fps": 1, "is_parallelizable": True}

    def __init__(self, panel: MarketPanel | None = None, types: Sequence[InvestorType] | None = None,
                 config: GameConfig | None = None, *, n_types: int = 8, agents_per_type: int = 8,
                 render_mode: str | None = None) -> None:
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.panel = panel if panel is not None else default_market()
        self.types = tuple(types) if types is not None else build_types(n_types, agents_per_type)
        self.game = StackelbergGame(self.panel, self.types, config)
        self.config = self.game.config
        K, N = self.game.K, self.panel.n_symbols
        self.layout = PrincipalObsLayout(K, self.config.obs_window)
        self.possible_agents = [PRINCIPAL] + [investor_agent(k) for k in range(K)]
        self.agents: list[str] = []
        self.feature_names = {
            investor_agent(t.type_id): tuple(n for m in Modality if m in t.modalities
                                             for n in feature_names(m, self.panel.macro_names,
                                                                    self.panel.valuation))
            for t in self.types
        }
        commit_box = spaces.Box(0.0, 1.0, (K + 2,), np.float32)
        self._obs_spaces: dict[str, spaces.Space] = {
            PRINCIPAL: spaces.Box(-1.0, 1.0, (self.layout.size,), np.float32)}
        self._act_spaces: dict[str, spaces.Space] = {PRINCIPAL: self.game.codec.space}
        for t in self.types:
            a = investor_agent(t.type_id)
            self._obs_spaces[a] = spaces.Dict({
                "features": spaces.Box(-CLIP, CLIP, (N, len(self.feature_names[a])), np.float32),
                "universe": spaces.Box(0.0, 1.0, (N,), np.float32),
                "commitment": commit_box,
            })
            self._act_spaces[a] = spaces.Box(-1.0, 1.0, (t.n_agents, N), np.float32)
        self.state_space = self._obs_spaces[PRINCIPAL]
        self._hist: deque[Payoff] = deque(maxlen=self.config.obs_window)
        self._last_stats = np.zeros((K, 3))
        self.last_paid: list[Payoff] = []
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
        opts = options if isinstance(options, Mapping) else {}
        self.game.reset(opts.get("start"), opts.get("end"), opts.get("initial_action"))
        self.agents = list(self.possible_agents)
        self._hist.clear()
        self._last_stats = np.zeros((self.game.K, 3))
        self.last_paid = []
        return self._observations(), self._infos(reset=True)

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            raise ActionError("episode is over; call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ActionError(f"actions missing for agents {missing}")
        signals = {t.type_id: self._signal_array(actions[investor_agent(t.type_id)], t)
                   for t in self.types}
        res = self.game.step(signals, actions[PRINCIPAL])
        self._hist.extend(res.paid)
        self.last_paid = res.paid
        self._last_stats = self._signal_stats(self.game.records[-1].moments)
        rewards = self._rewards(res.paid)
        done = self.game.done
        obs = self._observations()
        infos = self._infos()
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def state(self) -> np.ndarray:
        return self._principal_obs()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        g = self.game
        w = " ".join(f"{x:.2f}" for x in g.applied_weights)
        paid = ", ".join(f"day {p.day}: RankIC {p.rank_ic:+.3f}" for p in self.last_paid) or "nothing paid"
        return (f"[{g.panel.dates[min(g.t, g.panel.n_days - 1)].date()}] applied d=[{w}] "
                f"alpha={g.announced.alpha:.2f}; {paid}")

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ internals
    def _signal_array(self, action: Any, t: InvestorType) -> np.ndarray:
        x = np.asarray(action, dtype=np.float64)
        if x.shape != (t.n_agents, self.panel.n_symbols):
            raise ActionError(
                f"{investor_agent(t.type_id)} action must have shape ({t.n_agents}, {self.panel.n_symbols}), "
                f"got {x.shape}")
        return x

    def _signal_stats(self, moments: np.ndarray) -> np.ndarray:
        count, total = moments[0], moments[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            tm = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        n_ok = np.isfinite(tm).sum(1)
        mean = np.where(n_ok > 0, np.nansum(tm, 1) / np.maximum(n_ok, 1), 0.0)
        disp = np.sqrt(np.where(n_ok > 0, np.nansum((tm - mean[:, None]) ** 2, 1) / np.maximum(n_ok, 1), 0.0))
        uni = max(int(self.panel.universe[self.game.records[-1].day].sum()), 1)
        return np.column_stack([mean, np.minimum(disp, 1.0), np.minimum(n_ok / uni, 1.0)])

    def _principal_obs(self) -> np.ndarray:
        K, W = self.game.K, self.config.obs_window
        g = self.game
        applied = np.concatenate([g.applied_weights, [g.announced.alpha,
                                  0.0 if g.config.inertia_max == 0 else g.announced.inertia / g.config.inertia_max]])
        type_ic = np.zeros((W, K))
        agg_ic = np.zeros(W)
        mask = np.zeros(W)
        for i, p in enumerate(reversed(self._hist)):  # most recent last
            row = W - 1 - i
            type_ic[row] = np.nan_to_num(p.type_rank_ic)
            agg_ic[row] = p.rank_ic if p.valid else 0.0
            mask[row] = 1.0 if p.valid else 0.0
        progress = min((g.t - g.start) / max(g.n_steps, 1), 1.0)
        return self.layout.pack({"applied": applied, "type_ic": type_ic, "agg_ic": agg_ic, "paid_mask": mask,
                                 "signal_stats": self._last_stats, "progress": [progress]})

    def _day(self) -> int:
        return min(self.game.t, self.panel.n_days - 1)

    def _observations(self) -> dict[str, Any]:
        day = self._day()
        feats = DailyFeatures(self.game.view(day))
        uni = self.panel.universe[day].astype(np.float32)
        lead = self._principal_obs()
        commit = lead[: self.game.K + 2]  # the applied commitment, in the leader's own encoding
        obs: dict[str, Any] = {PRINCIPAL: lead}
        self._missing: dict[str, int] = {}
        for t in self.types:
            a = investor_agent(t.type_id)
            vals = feats.for_modalities(t.modalities).values
            self._missing[a] = int((~np.isfinite(vals) & (uni[:, None] > 0)).sum())
            obs[a] = {"features": np.nan_to_num(vals).astype(np.float32), "universe": uni, "commitment": commit}
        return obs

    def _infos(self, reset: bool = False) -> dict[str, dict[str, Any]]:
        day = self._day()
        date = str(self.panel.dates[day].date())
        p = {"day": day, "date": date, "paid": [x.as_dict() for x in self.last_paid],
             "payoffs": tuple(self.last_paid),
             "applied": self.game.announced.as_dict(),
             "zero_weight_fallbacks": self.game.codec.zero_weight_fallbacks}
        if not reset and self.game.records:
            p["n_scored"] = self.game.records[-1].n_scored
        out = {PRINCIPAL: p}
        for t in self.types:
            a = investor_agent(t.type_id)
            out[a] = {"day": day, "date": date, "missing_features": self._missing.get(a, 0)}
        return out

    def _rewards(self, paid: list[Payoff]) -> dict[str, float]:
        K = self.game.K
        r = {a: 0.0 for a in self.agents}
        if not paid:
            return r
        r[PRINCIPAL] = float(np.mean([p.payoff for p in paid]))
        for k in range(K):
            vals = []
            for p in paid:
                skill = float(np.nan_to_num(p.type_rank_ic[k]))
                if self.config.follower_reward == "weighted_skill":
                    skill *= K * self.game.records[p.day - self.game.start].applied[k]
                vals.append(skill)
            r[investor_agent(k)] = float(np.mean(vals))
        return r


def parallel_env(**kwargs: Any) -> MassStackelbergEnv:
    """The game as a PettingZoo ``ParallelEnv`` (keyword arguments as ``MassStackelbergEnv``)."""
    return MassStackelbergEnv(**kwargs)


def raw_env(**kwargs: Any) -> Any:
    """The game as an unwrapped PettingZoo AEC env (``parallel_to_aec_wrapper`` of ``parallel_env``),
    as PettingZoo's own environments define ``raw_env``."""
    return parallel_to_aec_wrapper(parallel_env(**kwargs))


def env(**kwargs: Any) -> Any:
    """The game as a PettingZoo AEC env: ``raw_env`` with PettingZoo's order-enforcing wrapper."""
    return OrderEnforcingWrapper(raw_env(**kwargs))
