"""Many games of one market stepped together: ``StackelbergGame.step`` over an env axis (``GameBatch``).

Why: a batched RL env (``mass_env.vector``) plays N independent games of the same panel, types and rules.
Stepped one by one, each game's step is a few dozen small numpy calls, and the Python around them, not the
arithmetic, bounds the batch. Here every piece of a day runs once for all games: the leaders' actions
decoded (``ActionCodec.decode_many``), the followers' signals reduced to per-type moments, aggregated with
each game's own applied weights (one stacked matrix product), the realised days of every game ranked in
one pass over (games, aggregate and types, stocks), the mechanism's inertia applied.

Each game stays bit-identical to its own ``StackelbergGame``: every row goes through the same operations
in the same order (per-row sums and stacked products reduce each row as the single game does; a test
compares whole trajectories). Games may be at different days and in different windows: the day-indexed
inputs (universe, realised returns) are gathered per game. Resets stay per game (``load`` copies a freshly
reset ``StackelbergGame``); the batch keeps no per-day records or report log (a single game does), only
the ``delay + 1`` last days a payoff still needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import ActionError, MassError
from .aggregation import _snap
from .rank_rows import rank_ic_days
from .stackelberg import StackelbergGame

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _norm(w: FloatArray) -> FloatArray:
    """``normalise_weights`` of rows already known to be valid (the same division, no checks)."""
    return w / w.sum(-1, keepdims=True)


@dataclass
class BatchStep:
    """What one batched day produced for the games stepped (rows in the order of ``idx``).

    ``paid`` marks the games that were paid a realised day at this step; ``paid_*`` hold that payoff's
    fields where ``paid`` (zeros elsewhere; ``rank_ic`` and ``type_rank_ic`` NaN where undefined)."""

    idx: IntArray
    day: IntArray
    n_scored: IntArray
    count: FloatArray  # (n, K, N) agents that looked, per type and stock
    total: FloatArray  # (n, K, N) sum of their signals
    paid: npt.NDArray[np.bool_]
    paid_day: IntArray
    rank_ic: FloatArray
    type_rank_ic: FloatArray
    turnover: FloatArray
    payoff: FloatArray
    paid_applied: FloatArray  # (n, K) the weights applied on the paid day (what a type's pay is weighted by)
    paid_type_mean: FloatArray  # (n, K, N) the paid day's type means (NaN where no agent of the type looked)


class Commitments(NamedTuple):
    """Tomorrow's commitments of the games stepped, decoded: ``weights`` ``(n, K)`` normalised, ``alpha`` and
    ``inertia`` ``(n,)``. How embedded leaders' ``PrincipalAction`` s enter a batch (the batched followers'
    env), as the single game takes one without the Box codec."""

    weights: FloatArray
    alpha: FloatArray
    inertia: FloatArray


class GameBatch:
    """The state of ``E`` games of one ``StackelbergGame`` setup (panel, types, rules, codec) as arrays."""

    def __init__(self, template: StackelbergGame, n_games: int) -> None:
        g = template
        self.template = g
        self.E, self.K, self.N = int(n_games), g.K, g.panel.n_symbols
        self.config = g.config
        self.universe = g.panel.universe  # (T, N): the panel's property builds it on every read
        self.delay = g.config.payoff_spec.delay
        self._ring = self.delay + 1  # days a payoff may still need: s = t - delay .. t
        at = g.agent_type
        self._starts = np.flatnonzero(np.r_[True, at[1:] != at[:-1]])
        self._grouped = bool((np.diff(at) >= 0).all() and np.array_equal(np.unique(at), np.arange(self.K)))
        self._onehot = (at[None, :] == np.arange(self.K)[:, None]).astype(np.float64)
        E, K, N = self.E, self.K, self.N
        self.t = np.zeros(E, np.int64)
        self.start = np.zeros(E, np.int64)
        self.end = np.zeros(E, np.int64)
        self.alpha = np.zeros(E)  # the announced commitment that applies today
        self.inertia = np.zeros(E)
        self.applied = np.full((E, K), 1.0 / K)
        self.prev_applied = np.full((E, K), 1.0 / K)
        self.clipped_values = np.zeros(E, np.int64)
        self.zero_weight_fallbacks = np.zeros(E, np.int64)
        self.clipped_signals = np.zeros((E, K), np.int64)
        self._rows = np.zeros((E, self._ring, 1 + K, N))  # per recorded day: the aggregate, then each type's mean
        self._turnover = np.zeros((E, self._ring))
        self._applied_days = np.zeros((E, self._ring, K))  # per recorded day: the weights applied (followers' pay)

    def load(self, i: int, game: StackelbergGame) -> None:
        """Game ``i`` takes the state of ``game`` right after its ``reset`` (nothing recorded yet)."""
        if game.records:
            raise MassError("GameBatch.load takes a game just reset (no day played)")
        self.t[i], self.start[i], self.end[i] = game.t, game.start, game.end
        self.alpha[i], self.inertia[i] = game.announced.alpha, game.announced.inertia
        self.applied[i] = game.applied_weights
        self.prev_applied[i] = game._prev_applied
        self.clipped_values[i] = game.codec.clipped_values
        self.zero_weight_fallbacks[i] = game.codec.zero_weight_fallbacks
        self.clipped_signals[i] = game.clipped_signals

    def step(self, idx: npt.ArrayLike, signals: npt.ArrayLike, actions: npt.ArrayLike | Commitments) -> BatchStep:
        """Play the current day of games ``idx``: ``signals`` ``(n, A, N)`` every agent's report (NaN = did not
        look), ``actions`` ``(n, K+2)`` each leader's Box action for tomorrow (``StackelbergGame.step``), or
        their ``Commitments`` already decoded."""
        ix = np.asarray(idx, dtype=np.int64)
        if (self.t[ix] > self.end[ix]).any():
            raise MassError("episode is over; call reset()")
        return self.step_moments(ix, self.moments(self._signals(ix, signals, self.t[ix])), actions)

    def step_moments(self, ix: IntArray, moments: tuple[FloatArray, FloatArray, FloatArray],
                     actions: npt.ArrayLike) -> BatchStep:
        """``step`` from the day's per-type moments ``(count, total, total_sq)``, each ``(n, K, N)``, of reports
        already checked (in range, NaN outside the day's universe): what a batched env of scripted followers
        computes ahead for many days (``mass_env.follower_chunks``)."""
        n = ix.size
        if (self.t[ix] > self.end[ix]).any():
            raise MassError("episode is over; call reset()")
        weights, alpha, inertia, clipped, fallbacks = self._decode(actions)
        if weights.shape[0] != n:
            raise ActionError(f"need one action per game stepped ({n}), got {weights.shape[0]}")
        self.clipped_values[ix] += clipped
        self.zero_weight_fallbacks[ix] += fallbacks
        t = self.t[ix]
        count, total, total_sq = moments
        applied, prev = self.applied[ix], self.prev_applied[ix]
        signal = self._aggregate(count, total, total_sq, applied, self.alpha[ix])
        tv = 0.5 * np.abs(_norm(applied) - _norm(prev)).sum(-1)
        slot = t % self._ring
        self._rows[ix, slot, 0] = signal
        with np.errstate(invalid="ignore", divide="ignore"):
            self._rows[ix, slot, 1:] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        self._turnover[ix, slot] = tv
        self._applied_days[ix, slot] = applied
        out = self._pay(ix, t)
        out.n_scored, out.count, out.total = np.isfinite(signal).sum(-1), count, total
        # advance: tomorrow's announced commitment becomes applied through the mechanism
        self.prev_applied[ix] = applied
        self.alpha[ix], self.inertia[ix] = alpha, inertia
        inr = inertia[:, None]
        self.applied[ix] = (_norm(weights) + inr * _norm(applied)) / (1.0 + inr)
        self.t[ix] = t + 1
        return out

    # ------------------------------------------------------------------ pieces of a day
    def _decode(self, actions: npt.ArrayLike | Commitments) -> tuple[FloatArray, FloatArray, FloatArray, IntArray,
                                                                      IntArray]:
        if isinstance(actions, Commitments):  # nothing clipped, no fallback: as the game takes a PrincipalAction
            n = actions.alpha.shape[0]
            return actions.weights, actions.alpha, actions.inertia, np.zeros(n, np.int64), np.zeros(n, np.int64)
        return self.template.codec.decode_many(actions)

    def _signals(self, ix: IntArray, signals: npt.ArrayLike, t: IntArray) -> FloatArray:
        X = np.asarray(signals, dtype=np.float64)
        A = self.template.agent_type.size
        if X.shape != (ix.size, A, self.N):
            raise ActionError(f"signals must have shape ({ix.size}, {A}, {self.N}), got {X.shape}")
        if np.isinf(X).any():
            raise ActionError("signals contain inf (valid: [-1, 1], NaN = not looked at)")
        with np.errstate(invalid="ignore"):
            over = (np.abs(X) > 1.0 + 1e-6).sum(-1)  # NaN compares False: "did not look" is not out of range
        per_type = np.add.reduceat(over, self._starts, axis=1) if self._grouped else over @ self._onehot.T
        if per_type.any() and self.template.strict_actions:
            raise ActionError(f"signals must lie in [-1, 1] (NaN = not looked at); {int(per_type.sum())} value(s) "
                              f"outside (strict mode)")
        self.clipped_signals[ix] += per_type.astype(np.int64)
        X = np.clip(X, -1.0, 1.0)
        uni = self.universe[t]  # (n, N): stocks outside a game's universe today are not scored
        return np.where(uni[:, None, :], X, np.nan)

    def moments(self, X: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``aggregation.type_moments`` of float64 reports ``(..., A, N)`` with leading axes (the same per-type
        reduction)."""
        looked = np.isfinite(X)
        x0 = np.where(looked, X, 0.0)
        parts = (looked.astype(np.float64), x0, x0 * x0)
        if self._grouped:  # agents grouped by type (how the game lays them out): segment sums
            count, total, total_sq = (np.add.reduceat(p, self._starts, axis=-2) for p in parts)
        else:
            count, total, total_sq = (np.matmul(self._onehot, p) for p in parts)
        return count, total, total_sq

    def _aggregate(self, count: FloatArray, total: FloatArray, total_sq: FloatArray, applied: FloatArray,
                   alpha: FloatArray) -> FloatArray:
        """``aggregation.aggregate``'s signal, each game with its own weights and alpha (rows ``(n, N)``)."""
        rule = self.config.rule
        den: FloatArray | None
        if rule == "agent":
            first, second, den = total, total_sq, count
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                tm = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            if rule == "mass":
                ok = np.isfinite(tm)
                first = np.where(ok, tm, 0.0)
                second, den = first * first, ok.astype(np.float64)
            else:  # selection_rate: unseen counts as a rejection
                first = np.nan_to_num(tm, nan=0.0)
                second, den = first * first, None
        w = _norm(applied)[:, None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean, m2 = (w @ first)[:, 0], (w @ second)[:, 0]
            if den is not None:
                wsum = (w @ den)[:, 0]
                mean, m2 = mean / wsum, m2 / wsum
                ok = wsum > 0
            else:  # rows of w sum to one; a stock counts when some agent saw it
                ok = count.sum(-2) > 0
            mean = np.where(ok, mean, np.nan)
            std = np.where(ok, np.sqrt(np.maximum(m2 - mean * mean, 0.0)), np.nan)
        mean, std = _snap(mean), _snap(std)
        a = alpha[:, None]
        return _snap(a * mean - (1.0 - a) * std)

    def _pay(self, ix: IntArray, t: IntArray) -> BatchStep:
        """Pay every game whose day ``t - delay`` realised at this close: all of them ranked in one pass."""
        n, K = ix.size, self.K
        s = t - self.delay
        paid = s >= self.start[ix]
        out = BatchStep(ix, t, np.zeros(n, np.int64), np.zeros(0), np.zeros(0), paid, np.where(paid, s, -1),
                        np.full(n, np.nan), np.full((n, K), np.nan), np.zeros(n), np.zeros(n), np.zeros((n, K)),
                        np.full((n, K, self.N), np.nan))
        if not paid.any():
            return out
        g, day = ix[paid], s[paid]
        slot = day % self._ring
        rows = self._rows[g, slot]  # (paid, 1 + K, N) against each game's day's returns, sorted once per day
        ics = rank_ic_days(rows.reshape(-1, self.N), self.template._payoff_returns, np.repeat(day, K + 1),
                           min_stocks=self.config.min_stocks).reshape(-1, K + 1)
        ic = ics[:, 0]
        tv = self._turnover[g, slot]
        out.rank_ic[paid], out.type_rank_ic[paid], out.turnover[paid] = ic, ics[:, 1:], tv
        out.paid_applied[paid] = self._applied_days[g, slot]
        out.paid_type_mean[paid] = rows[:, 1:]
        out.payoff[paid] = np.where(np.isfinite(ic), ic, 0.0) - self.config.turnover_penalty * tv
        return out
