"""The repeated Stackelberg aggregation game, free of any RL API (the envs are thin shells on it).

Timing, one step per trading day t (information is "as of the close of t"):

1. The commitment for day t was announced by the leader at step t-1 (at reset: the initial one).
   The mechanism turns it into the *applied* weights of day t (the action's ``inertia``, see
   ``mechanism``); followers observe the applied commitment before they act.
2. Followers emit their agents' signals for day t (NaN = the agent did not look at that stock).
3. The leader, simultaneously, announces the commitment for day t+1.
4. The game aggregates day t's signals with day t's applied commitment into ``S_t``.
5. Payoffs are paid only when realised: day s's Rank IC at the payoff horizon is known at the close
   of ``s + lag + h`` and is paid in that step's reward. Days whose returns would realise after the
   episode's last day are never paid (reported as unpaid), so no reward uses an unknown return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..data.panel import MarketPanel
from ..data.returns import REPORT_HORIZONS, ReturnSpec
from ..data.view import ForwardReturnCache, PointInTimeView
from ..errors import ActionError, MassError
from .aggregation import RULES, Rule, TypeMoments, WeighingBasis, combine, type_moments, type_starts, weigh
from .history import episode_history
from .investors import InvestorType
from .mechanism import ActionCodec, PrincipalAction, apply_inertia
from .rank_rows import rank_ic_rows
from .reports import ReportLog
from .scoring import ScoringWindow, ViewWindow

FloatArray = npt.NDArray[np.float64]
#: A payment rule by name with options (``mass_env.incentives.payments``), e.g. ``"skill"``,
#: ``"weighted_skill"``, ``"proper"``, ``"consensus:r=0.6"``.
FollowerReward = str


@dataclass(frozen=True)
class GameConfig:
    """Rules of the game. ``turnover_penalty`` (mu) > 0 switches the stability constraint on;
    ``inertia_max`` bounds the inertia a leader may commit to (the Box action's last coordinate
    ``i`` decodes to ``inertia_max * max(i, 0)``, see ``ActionCodec``). Leaders read these rules
    from their ``DecisionContext``. ``follower_reward`` is the payment rule, part of the commitment the
    followers observe: a name of the payment-rule registry with options (``"consensus:r=0.6"``); an
    unknown rule or option is an error that lists the valid ones."""

    horizon: int = 10
    lag: int = 1
    turnover_penalty: float = 0.0
    inertia_max: float = 1.0
    rule: Rule = "agent"
    min_stocks: int = 5
    obs_window: int = 20
    warmup_days: int = 20
    initial_alpha: float = 0.5
    follower_reward: FollowerReward = "skill"
    report_horizons: tuple[int, ...] = REPORT_HORIZONS

    def __post_init__(self) -> None:
        if self.turnover_penalty < 0 or not np.isfinite(self.turnover_penalty):
            raise MassError(f"turnover_penalty must be >= 0, got {self.turnover_penalty}")
        if self.rule not in RULES:
            raise MassError(f"rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        self.payment_rule()  # an unknown rule or option: an error that lists the valid ones
        if self.obs_window < 1 or self.warmup_days < 0 or self.min_stocks < 2:
            raise MassError("obs_window >= 1, warmup_days >= 0 and min_stocks >= 2 are required")
        ReturnSpec(self.horizon, self.lag)

    def payment_rule(self) -> Any:
        """The ``PaymentRule`` that ``follower_reward`` names (``mass_env.incentives.payments.make_rule``)."""
        from ..incentives.payments import UnknownRuleError, make_rule

        try:
            return make_rule(self.follower_reward)
        except UnknownRuleError as exc:
            raise MassError(f"follower_reward: {exc}") from None

    @property
    def payoff_spec(self) -> ReturnSpec:
        return ReturnSpec(self.horizon, self.lag)

    if not TYPE_CHECKING:  # (hidden from type checkers, which would then accept any attribute)
        def __getattr__(self, name: str):  # only for names not found: says where a removed one went
            from ..removed import removed_attribute

            raise removed_attribute(type(self), name)


@dataclass(frozen=True)
class Payoff:
    """The realised payoff of trading day ``day``, paid at the close of ``paid_on``.

    * ``day``: the day whose commitment *applied*: its signals were aggregated under it. That
      commitment was decided one day earlier, at the close of ``day - 1`` (the ``DecisionContext``
      of day ``day - 1``), so ``day`` is not the decision day.
    * ``paid_on``: ``day + lag + horizon``, the close at which ``day``'s payoff-horizon return (buy
      at the close of ``day + lag``, sell ``horizon`` days later) is known.
    * ``rank_ic``: Rank IC of ``day``'s aggregate signal ``S`` against that return (NaN when fewer
      than ``min_stocks`` stocks could be scored).
    * ``turnover``: ``||d_day - d_{day-1}||_1 / 2`` of the applied, normalised weights (after inertia).
    * ``payoff``: what the leader is paid (the env's reward): ``rank_ic`` (0 when not ``valid``)
      minus ``turnover_penalty * turnover``.
    * ``type_rank_ic``: ``(K,)`` Rank IC of each type's mean signal (over its agents that looked)
      against the same return, NaN where too few stocks: the per-type skill a leader can learn from.
    * ``valid``: ``rank_ic`` is finite.
    """

    day: int
    paid_on: int
    rank_ic: float
    turnover: float
    payoff: float
    type_rank_ic: FloatArray
    valid: bool

    def as_dict(self) -> dict[str, object]:
        return {"day": self.day, "paid_on": self.paid_on, "rank_ic": self.rank_ic,
                "turnover": self.turnover, "payoff": self.payoff, "valid": self.valid}


@dataclass
class _DayRecord:
    day: int
    action: PrincipalAction
    applied: FloatArray
    moments: FloatArray  # (3, K, N)
    consensus: FloatArray
    disagreement: FloatArray
    signal: FloatArray
    turnover: float
    n_scored: int
    rows: FloatArray  # (1 + K, N): the signal, then each type's mean (NaN where none looked): what is paid
    paid: Payoff | None = None


@dataclass
class StepResult:
    day: int
    paid: list[Payoff] = field(default_factory=list)
    n_scored: int = 0


class StackelbergGame:
    """Day clock, mechanism and payoff ledger over a ``MarketPanel`` and a tuple of investor types.

    Out-of-range actions, one policy for the leader's Box action and the followers' signals: values
    outside their box are clipped and counted per episode (``codec.clipped_values``,
    ``clipped_signals[k]``; the envs report both in ``infos``), or rejected with an ``ActionError``
    when ``strict_actions``. NaN/inf in the leader's action and inf in a signal are always errors
    (NaN in a signal means "did not look"). A ``PrincipalAction`` is validated, never clipped.
    ``action_encoding``: see ``ActionCodec``.
    """

    def __init__(self, panel: MarketPanel, types: Sequence[InvestorType], config: GameConfig | None = None, *,
                 action_encoding: str = "symmetric", strict_actions: bool = False,
                 record_reports: bool = True) -> None:
        if not types:
            raise MassError("the game needs at least one investor type")
        ids = [t.type_id for t in types]
        if ids != list(range(len(types))):
            raise MassError(f"type ids must be 0..K-1 in order, got {ids}")
        self.panel = panel
        self.types = tuple(types)
        self.config = config or GameConfig()
        self.K = len(self.types)
        self.codec = ActionCodec(self.K, self.config.inertia_max, encoding=action_encoding, strict=strict_actions)
        self.strict_actions = bool(strict_actions)
        self.clipped_signals = np.zeros(self.K, dtype=np.int64)  # per type, this episode
        self.returns = ForwardReturnCache(panel)
        self.agent_type = np.concatenate([np.full(t.n_agents, t.type_id) for t in self.types])
        self._starts = type_starts(self.agent_type, self.K)
        self._moment_buffer = np.zeros((3, self.agent_type.size, panel.n_symbols))
        self._row_type = np.asarray(self.agent_type, dtype=np.int64)
        #: ``(T, N)`` stocks scored each day (the panel's ``universe``, built once: the property builds it per read)
        self.universe = panel.universe
        self._outside = ~self.universe
        self._payoff_returns = self.returns.get(self.config.payoff_spec)
        self._delay = self.config.payoff_spec.delay
        if panel.n_days < self.config.warmup_days + 2:
            raise MassError(
                f"panel has {panel.n_days} days; need more than warmup_days={self.config.warmup_days} + 1"
            )
        self.start = self.end = self.t = 0
        self.records: list[_DayRecord] = []
        #: every agent's view and report per day (``reports.ReportLog``); ``record_reports=False``: not kept
        self.record_reports = bool(record_reports)
        self.report_log = ReportLog(len(self.agent_type), panel.n_symbols)

    # ------------------------------------------------------------------ episode
    def reset(self, start: int | None = None, end: int | None = None,
              initial: PrincipalAction | None = None) -> None:
        n = self.panel.n_days
        self.start = self.config.warmup_days if start is None else int(start)
        self.end = n - 2 if end is None else int(end)
        if not 0 <= self.start <= self.end <= n - 2:
            raise MassError(f"episode days must satisfy 0 <= start <= end <= {n - 2}, got {self.start}..{self.end}")
        self.t = self.start
        self.records = []
        self.report_log = ReportLog(len(self.agent_type), self.panel.n_symbols)
        self.codec.reset_counts()
        self.clipped_signals = np.zeros(self.K, dtype=np.int64)
        init = PrincipalAction.uniform(self.K, self.config.initial_alpha) if initial is None else initial
        self._announced = self.codec.coerce(init)
        self._prev_applied = PrincipalAction.uniform(self.K).normalised
        self._applied = apply_inertia(self._announced.normalised, self._prev_applied, self._announced.inertia)
        self._prev_norm = self._prev_applied / self._prev_applied.sum(-1, keepdims=True)

    @property
    def done(self) -> bool:
        return self.t > self.end

    @property
    def n_steps(self) -> int:
        return self.end - self.start + 1

    def view(self, day: int | None = None) -> PointInTimeView:
        """Point-in-time view as of ``day`` (default: the current day)."""
        return PointInTimeView(self.panel, self.t if day is None else day, self.returns)

    @property
    def announced(self) -> PrincipalAction:
        """The commitment that applies to the current day."""
        return self._announced

    @property
    def applied_weights(self) -> FloatArray:
        """Normalised weights the mechanism applies today (after inertia)."""
        return self._applied

    # ------------------------------------------------------------------ one day
    def step(self, signals: Mapping[int, npt.ArrayLike] | Sequence[npt.ArrayLike],
             next_action: PrincipalAction | npt.ArrayLike,
             views: Mapping[int, npt.ArrayLike] | None = None) -> StepResult:
        """Play the current day: aggregate followers' signals, record, pay what realised, advance.

        ``signals`` are the reports; ``views`` (type id -> (n_agents, N), any subset of the types) what the
        agents believed, where a follower reports something else (absent: the report is the view).
        """
        if self.done:
            raise MassError("episode is over; call reset()")
        t = self.t
        nxt = self.codec.coerce(next_action)
        X = self._stack_signals(signals, t)
        if self.record_reports:
            self.report_log.append(t, X, self._stack_views(views, X, t) if views else None)
        # the day's arithmetic on checked inputs, operation for operation what type_moments, aggregate,
        # turnover and apply_inertia compute (the batched game mirrors it)
        mom = self._moments(X)
        act = self._announced
        applied = self._applied
        w = applied / np.add.reduce(applied, -1, keepdims=True)  # normalise_weights
        alpha = np.asarray(act.alpha)
        if self.config.rule == "agent":  # count, sum and sum of squares weighed in one product
            with np.errstate(invalid="ignore", divide="ignore"):
                wsum, total, total_sq = w[None] @ mom
                mean, std, sig = combine(total / wsum, total_sq / wsum, wsum > 0, alpha)
        else:
            mean, std, sig = weigh(WeighingBasis.of(TypeMoments.from_stacked(mom), self.config.rule), w[None], alpha)
        consensus, disagreement, signal = mean[0], std[0], sig[0]
        tv = float(0.5 * np.add.reduce(np.abs(w - self._prev_norm), -1))
        rows = np.empty((self.K + 1, signal.shape[0]))
        rows[0] = signal
        count = mom[0]
        np.divide(mom[1], np.maximum(count, 1), out=rows[1:])
        np.copyto(rows[1:], np.nan, where=count <= 0)  # TypeMoments.type_mean
        rec = _DayRecord(t, act, applied.copy(), mom, consensus, disagreement, signal, tv,
                         int(np.count_nonzero(np.isfinite(signal))), rows)
        self.records.append(rec)
        paid = self._pay(t)
        # advance: tomorrow's announced commitment becomes applied through the mechanism
        self._prev_applied = applied
        self._prev_norm = w
        self._announced = nxt
        p = nxt.normalised / np.add.reduce(nxt.normalised, -1, keepdims=True)
        self._applied = (p + nxt.inertia * w) / (1.0 + nxt.inertia)  # apply_inertia
        self.t = t + 1
        return StepResult(t, paid, rec.n_scored)

    def _moments(self, X: FloatArray) -> FloatArray:
        """``(3, K, N)`` count, sum and sum of squares per type (``type_moments``, stacked), through one
        preallocated buffer."""
        if self._starts is None:
            return type_moments(X, self.agent_type, self.K).stack()
        buf = self._moment_buffer
        looked = np.isfinite(X)
        buf[0] = looked
        buf[1] = np.where(looked, X, 0.0)
        np.multiply(buf[1], buf[1], out=buf[2])
        return np.add.reduceat(buf, self._starts, axis=-2)

    def _stack_signals(self, signals: Mapping[int, npt.ArrayLike] | Sequence[npt.ArrayLike], t: int) -> FloatArray:
        """Every type's signals as one ``(A, N)`` array, checked once: shapes, no inf, values outside
        [-1, 1] clipped and counted per type (an error when strict), stocks outside today's universe NaN."""
        N = self.panel.n_symbols
        if isinstance(signals, Mapping):
            if len(signals) != self.K or any(k not in signals for k in range(self.K)):
                raise ActionError(f"need signals for types 0..{self.K - 1}, got {sorted(signals)}")
            blocks = [signals[k] for k in range(self.K)]
        else:
            blocks = list(signals)
            if len(blocks) != self.K:
                raise ActionError(f"need signals for types 0..{self.K - 1}, got {list(range(len(blocks)))}")
        for k, typ in enumerate(self.types):
            x = blocks[k]
            if type(x) is not np.ndarray or x.dtype.kind != "f":
                x = blocks[k] = np.asarray(x, dtype=np.float64)
            if x.shape != (typ.n_agents, N):
                raise ActionError(f"type {k} signals must have shape ({typ.n_agents}, {N}), got {x.shape}")
        X = np.concatenate(blocks, axis=0, dtype=np.float64)
        top = np.fmax.reduce(np.abs(X), axis=None, initial=0.0)  # NaN ("did not look") is skipped
        if top > 1.0:
            if top == np.inf:
                k = int(self._row_type[np.isinf(X).any(1)][0])
                raise ActionError(f"type {k} signals contain inf (valid: [-1, 1], NaN = not looked at)")
            with np.errstate(invalid="ignore"):
                over = np.bincount(self._row_type, (np.abs(X) > 1.0 + 1e-6).sum(1), minlength=self.K)
            over = over.astype(np.int64)
            if over.any() and self.strict_actions:
                k = int(np.flatnonzero(over)[0])
                raise ActionError(f"type {k} signals must lie in [-1, 1] (NaN = not looked at); {over[k]} value(s) "
                                  f"outside (strict mode)")
            self.clipped_signals += over
            np.clip(X, -1.0, 1.0, out=X)
        X[:, self._outside[t]] = np.nan  # stocks outside today's universe are not scored
        return X

    def _stack_views(self, views: Mapping[int, npt.ArrayLike] | None, reports: FloatArray, t: int) -> FloatArray | None:
        if not views:
            return None
        out = reports.copy()
        lo = np.concatenate([[0], np.cumsum([typ.n_agents for typ in self.types])])
        for k, v in views.items():
            if not 0 <= int(k) < self.K:
                raise ActionError(f"views for unknown type {k}; types are 0..{self.K - 1}")
            x = np.asarray(v, dtype=np.float64)
            if x.shape != (self.types[k].n_agents, self.panel.n_symbols):
                raise ActionError(f"type {k} views must have the signals' shape, got {x.shape}")
            out[lo[k]:lo[k + 1]] = x
        out[:, ~self.panel.universe[t]] = np.nan
        return out

    def _pay(self, t: int) -> list[Payoff]:
        """Pay every recorded day whose payoff-horizon return realised at the close of ``t``."""
        s = t - self._delay
        if s < self.start:
            return []
        rec = self.records[s - self.start]
        r = self._payoff_returns[s]
        # the aggregate and every type's mean signal in one ranked pass (Rank IC is row-wise)
        ics = rank_ic_rows(rec.rows, r, min_stocks=self.config.min_stocks)
        ic, type_ic = float(ics[0]), ics[1:]
        valid = bool(np.isfinite(ic))
        value = (ic if valid else 0.0) - self.config.turnover_penalty * rec.turnover
        rec.paid = Payoff(s, t, ic, rec.turnover, value, type_ic, valid)
        return [rec.paid]

    # ------------------------------------------------------------------ windows for principals
    def scoring_window(self, lookback: int, *, horizon: int | None = None, asof: int | None = None) -> ScoringWindow:
        """Recorded days whose ``horizon`` return is realised as of ``asof`` (default: current day).

        The as-of default is the current day ``t`` (the close at which the next commitment is made);
        the window holds the last ``lookback`` such days.
        """
        spec = ReturnSpec(horizon or self.config.horizon, self.config.lag)
        asof = self.t if asof is None else asof
        last = min(asof - spec.delay, self.start + len(self.records) - 1)
        first = max(self.start, last - lookback + 1)
        if last < first:
            K, N = self.K, self.panel.n_symbols
            return ScoringWindow(np.zeros(0, np.int64), np.zeros((0, 3, K, N)), np.zeros((0, N)),
                                 self.config.rule, self.config.min_stocks)
        days = np.arange(first, last + 1)
        mom = np.stack([self.records[d - self.start].moments for d in days])
        rets = self.returns.get(spec)[days]
        return ScoringWindow(days, mom, rets, self.config.rule, self.config.min_stocks)

    def view_window(self, lookback: int, *, horizon: int | None = None, asof: int | None = None) -> ViewWindow:
        """The days of ``scoring_window`` with the agents' views and the consensus each day's followers saw
        (``ViewWindow``); needs the views recorded (``record_reports=True``, the default)."""
        win = self.scoring_window(lookback, horizon=horizon, asof=asof)
        if not self.record_reports or len(self.report_log) != len(self.records):
            raise MassError("a view window needs the agents' views: build the game with record_reports=True")
        pos = win.days - self.start
        views, same = self.report_log.views_at(pos)
        moments = win.moments.copy()
        if not same.all():
            moments[~same] = type_moments(views[~same], self.agent_type, self.K).stack()
        nan = np.full(self.panel.n_symbols, np.nan)
        anchors = np.array([self.records[p - 1].consensus if p > 0 else nan for p in pos] or np.zeros((0, nan.size)))
        return ViewWindow(win, views, self.agent_type.astype(np.int64), anchors, moments)

    # ------------------------------------------------------------------ reporting
    def history(self, horizons: Sequence[int] | None = None) -> pd.DataFrame:
        """Tidy per-day record of the episode, with evaluation ICs at each report horizon
        (``mass_env.game.history.episode_history``: reporting after the episode, never fed back)."""
        return episode_history(self, horizons)
