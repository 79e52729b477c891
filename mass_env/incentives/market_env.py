"""The information market as a followers-only PettingZoo env paid by any payment rule
(``mass_market_followers_v0``); the class docstring is its doc page.

Why: the incentives core says what a *rational* follower reports under a rule (closed forms, best responses);
this env lets a *learning* follower find out by being paid. Each day every follower sees its private signal,
its view, the public signal and yesterday's consensus per stock, together with the rule it is paid by (the
rule is part of the commitment followers observe), reports one number per stock and is paid by the rule
against the realised target. The target enters only the pay, after the reports: no look-ahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from mass_env.errors import ActionError, MassError

from ._base import FloatArray, PayContext, PaymentRule
from .market import InformationMarket, MarketDraw
from .metrics import weighted_mean
from .payments import PAYMENT_RULES, make_rule, rule_fields
from .rules import LogScore

#: the signal columns of an observation row, per stock
SIGNALS = ("private", "public", "view", "consensus")
#: rules whose pay is a mean over stocks of a per-stock pay: each (follower, stock) report has its own reward
STOCKWISE = frozenset({"proper", "consensus", "dpm", "tournament"})
#: reports are clipped to this bound by the action space (signals are O(1); SB3 clips to the space)
REPORT_BOUND = 10.0


def rule_columns() -> tuple[str, ...]:
    """The rule's columns of an observation row: one-hot ``rule=NAME`` over the registry, then each numeric
    option ``NAME.OPTION`` (0 when the rule is another one): a fixed layout whatever rule is chosen."""
    names = tuple(f"rule={n}" for n in sorted(PAYMENT_RULES))
    opts = tuple(f"{n}.{o}" for n in sorted(PAYMENT_RULES) for o, t in PAYMENT_RULES[n][1].items() if t in (int, float))
    return names + opts


def rule_features(rule: PaymentRule) -> FloatArray:
    """The rule as numbers in ``rule_columns()`` order: the commitment a follower observes."""
    fields = rule_fields(rule)
    vals = []
    for col in rule_columns():
        if col.startswith("rule="):
            vals.append(float(col[5:] == rule.name))
        else:
            name, opt = col.split(".")
            vals.append(float(fields.get(opt, 0.0)) if name == rule.name else 0.0)  # type: ignore[arg-type]
    return np.asarray(vals, dtype=np.float64)


class MarketFollowersEnv(ParallelEnv):
    """The information market's followers as a PettingZoo ``ParallelEnv``, paid by a payment rule.

    ====================  =========================================================================
    Import                ``from mass_env.incentives.market_env import MarketFollowersEnv``
    Agents                ``investor_0`` ... ``investor_{F-1}`` (one per follower of the market)
    Action space          ``Box(-10, 10, (S,))``: the report per stock (finite; S = ``n_stocks``)
    Observation space     ``Box(-inf, inf, (S, C))``: one row per stock, columns ``env.columns``:
                          private signal x_i, public signal y, view (posterior mean), yesterday's
                          consensus (0 on the first day), then the rule (``rule_columns()``)
    Reward                the rule's pay of the follower for the day (``rule.pay``: the mean over stocks)
    Termination           never; truncated after the market's last day
    ====================  =========================================================================

    Each episode is a fresh draw of the market (``InformationMarket.draw``): ``reset(seed=s)`` draws with
    seed s; ``reset()`` without a seed draws the next seed from a generator seeded at the first reset (by
    ``market.seed`` if none was given). The target theta is read only to pay the reports of its day.
    Infos: ``rule`` (its option string), ``day``, and after a step ``stock_pay`` (S,): the pay per stock for
    rules in ``STOCKWISE`` (the day's pay on every stock otherwise: a cross-sectional rule such as ``skill``
    pays the day as a whole). ``reset_arrays`` / ``step_arrays`` are the same env on (F, S, C) / (F, S)
    arrays, for vectorised learners (``mass_env.sb3.make_market_vec_env``: every (follower, stock) pair a sample).

    Arguments:
        market: the information market (default ``InformationMarket()``; its ``n_days`` is the episode).
        rule: a payment rule or its spec (``"consensus:r=0.5"``); reports are one number per stock, so the
            log score (distribution reports) is an error.
        weights: each follower's weight in the consensus (default equal).
    """

    metadata = {"name": "mass_market_followers_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, market: InformationMarket | None = None, rule: str | PaymentRule = "proper", *,
                 weights: FloatArray | None = None) -> None:
        self.market = market or InformationMarket()
        self.rule = make_rule(rule)
        if isinstance(self.rule, LogScore):
            raise MassError("the log score pays distribution reports; this env's reports are one number per "
                            "stock: use proper (quadratic) or another rule")
        n, s = self.market.n_followers, self.market.n_stocks
        self.weights = None if weights is None else PayContext(np.zeros((1, 1)), weights).omega(n)
        self.columns = SIGNALS + rule_columns()
        self.possible_agents = [f"investor_{i}" for i in range(n)]
        self.agents: list[str] = []
        self.render_mode = None
        self._obs_space = spaces.Box(-np.inf, np.inf, (s, len(self.columns)), np.float32)
        self._act_space = spaces.Box(-REPORT_BOUND, REPORT_BOUND, (s,), np.float32)
        self._rule_row = rule_features(self.rule)
        self._rng: np.random.Generator | None = None
        self._draw: MarketDraw | None = None
        self._day = 0
        self._consensus = np.zeros(s)

    # --- PettingZoo ------------------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Box:
        return self._act_space

    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        obs = self.reset_arrays(seed)
        self.agents = list(self.possible_agents)
        return self._per_agent(obs), {a: self._info() for a in self.agents}

    def step(self, actions: Mapping[str, Any]):
        if self._draw is None:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        if not self.agents:
            raise MassError("the episode is over (truncated after the market's last day): call reset()")
        unknown = sorted(set(actions) - set(self.agents))
        missing = [a for a in self.agents if a not in actions]
        if unknown or missing:
            raise ActionError(f"actions must name every agent {self.agents[0]}..{self.agents[-1]} once; "
                              f"unknown: {unknown}, missing: {missing}")
        want = self._act_space.shape
        bad = [a for a in self.agents if np.shape(actions[a]) != want]
        if bad:
            raise ActionError(f"each action is one report per stock, shape {want}; got {np.shape(actions[bad[0]])} "
                              f"for {bad[0]}")
        reports = np.stack([np.asarray(actions[a], dtype=np.float64) for a in self.agents])
        obs, stock_pay, pay, done = self.step_arrays(reports)
        info = {a: {**self._info(), "stock_pay": stock_pay[i]} for i, a in enumerate(self.agents)}
        rewards = {a: float(pay[i]) for i, a in enumerate(self.agents)}
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        out = self._per_agent(obs)
        if done:
            self.agents = []
        return out, rewards, terms, truncs, info

    def state(self) -> np.ndarray:
        """Every follower's observation, stacked: (F, S, C)."""
        return self._observe()

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None

    # --- arrays (vectorised learners) ------------------------------------------------------------------
    @property
    def day(self) -> int:
        """Today's index in the episode (the day the next reports are for)."""
        return self._day

    @property
    def draw(self) -> MarketDraw | None:
        """The episode's market (None before the first reset); theta in it is the future: for scoring only."""
        return self._draw

    def reset_arrays(self, seed: int | None = None, *, draw: MarketDraw | None = None) -> FloatArray:
        """Draw a new market (see the class docstring for seeding), or play ``draw`` (a given market: the
        same one other responders are measured on); today's observations (F, S, C)."""
        if draw is not None:
            want = (self.market.n_followers, self.market.n_days, self.market.n_stocks)
            if draw.views.shape != want:
                raise MassError(f"the draw's views have shape {draw.views.shape}; this env's market needs {want}")
        elif seed is not None or self._rng is None:
            self._rng = np.random.default_rng(self.market.seed if seed is None else seed)
        if draw is None:
            assert self._rng is not None
            draw = self.market.draw(seed=int(self._rng.integers(2**62)))
        self._draw = draw
        self._day = 0
        self._consensus = np.zeros(self.market.n_stocks)
        return self._observe()

    def step_arrays(self, reports: Any) -> tuple[FloatArray, FloatArray, FloatArray, bool]:
        """Pay today's reports (F, S); returns tomorrow's observations (zeros but the consensus and the rule
        after the last day), the pay per stock (F, S), the pay per follower (F,) and whether the episode ended."""
        if self._draw is None:
            raise MassError("step_arrays() called before reset_arrays()")
        if self._day >= self.market.n_days:
            raise MassError("the episode is over (truncated after the market's last day): call reset")
        rep = np.asarray(reports, dtype=np.float64)
        f, s = self.market.n_followers, self.market.n_stocks
        if rep.shape != (f, s):
            raise ActionError(f"reports must have shape (followers, stocks) = ({f}, {s}): one number per stock "
                              f"for each follower; got {rep.shape}")
        if not np.all(np.isfinite(rep)):
            raise ActionError("reports must be finite numbers (NaN or inf found)")
        rep = np.clip(rep, -REPORT_BOUND, REPORT_BOUND)
        t = self._day
        theta = self._draw.theta[t]  # read only now, after the reports: the pay of day t
        pay = self.rule.pay(rep[:, None, :], PayContext(theta[None, :], self.weights))[:, 0]
        if self.rule.name in STOCKWISE:  # stocks as days: the per-stock pay whose mean is ``pay``
            stock_pay = self.rule.pay(rep[:, :, None], PayContext(theta[:, None], self.weights))
        else:
            stock_pay = np.repeat(pay[:, None], s, axis=1)
        self._consensus = weighted_mean(rep[:, None, :], self.weights)[0]
        self._day += 1
        return self._observe(), stock_pay, pay, self._day >= self.market.n_days

    def _observe(self) -> FloatArray:
        if self._draw is None:
            raise MassError("observe before reset(): call env.reset(seed=...) first")
        f, s, t = self.market.n_followers, self.market.n_stocks, self._day
        out = np.zeros((f, s, len(self.columns)))
        if t < self.market.n_days:
            out[..., 0] = self._draw.private[:, t]
            out[..., 1] = self._draw.public[t]
            out[..., 2] = self._draw.views[:, t]
        out[..., 3] = self._consensus
        out[..., len(SIGNALS):] = self._rule_row
        return out

    def _per_agent(self, obs: FloatArray) -> dict[str, np.ndarray]:
        return {a: obs[i].astype(np.float32) for i, a in enumerate(self.possible_agents) if a in self.agents}

    def _info(self) -> dict[str, Any]:
        return {"rule": self.rule.option_string(), "day": self._day}


def market_followers_env(market: InformationMarket | None = None, rule: str | PaymentRule = "proper",
                         **kwargs: Any) -> MarketFollowersEnv:
    """The information market's followers-only ParallelEnv (see ``MarketFollowersEnv``)."""
    return MarketFollowersEnv(market, rule, **kwargs)
