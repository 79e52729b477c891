"""The scripted followers of many games, drawn for a block of days ahead (``FollowerChunks``).

Why: a scripted follower's signals depend on the day's data and the seeds only, never on the leader's
actions, so a batched env need not draw them step by step. For every game that enters a new block of
``BLOCK_DAYS`` days (or starts an episode), its followers' signals for the days of that block it will play
are drawn in one pass over (games, days, agents, stocks), and only what a step reads is kept: per type and
stock the count, sum and sum of squares of the signals (``GameBatch.step_moments``) and the signal
statistics the leader's observation shows. The signals are those of ``ScriptedFollowers`` for the same seeds,
draw for draw (``"stream"``: one generator per (seed, type, day); ``"block"``: one per (seed, type, block)),
so each game stays bit-identical to the single env.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from .game.batch import GameBatch
from .scripted import BLOCK_DAYS, Request, ScriptedFollower, block_entropy, draw_signal_rows, score_rows
from .streams import StreamCursor, pcg64_states

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def signal_stats(count: FloatArray, total: FloatArray, universe: npt.NDArray[np.bool_]) -> FloatArray:
    """``MassStackelbergEnv._signal_stats`` with leading axes: per type the mean of the per-stock mean
    signals, their dispersion and the share of the day's universe seen, ``(..., K, 3)``; ``universe``
    ``(..., N)`` the day's."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    ok = count > 0
    n_ok = ok.sum(-1)
    mean = np.where(n_ok > 0, np.where(ok, tm, 0.0).sum(-1) / np.maximum(n_ok, 1), 0.0)
    disp = np.sqrt(np.where(n_ok > 0, np.where(ok, (tm - mean[..., None]) ** 2, 0.0).sum(-1) / np.maximum(n_ok, 1),
                            0.0))
    uni = np.maximum(universe.sum(-1), 1)[..., None]
    return np.stack([mean, np.minimum(disp, 1.0), np.minimum(n_ok / uni, 1.0)], axis=-1)


class FollowerChunks:
    """Per game, the moments and observed statistics of its followers' signals for the block of days it
    is in. ``followers[i]``: game ``i``'s scripted followers, one per type in type order (their ``seed``
    read at each fill); ``view(day, type_id)``: that type's noise-free view of ``day``; ``batch``: the games'
    ``GameBatch`` (its universe and per-type reduction)."""

    def __init__(self, followers: Sequence[Sequence[ScriptedFollower]], view: Callable[[int, int], FloatArray],
                 batch: GameBatch) -> None:
        self.followers = followers
        self.view = view
        self.batch = batch
        E, K, N, D = len(followers), batch.K, batch.N, BLOCK_DAYS
        self.head = followers[0][0]
        if len({f.settings() for fols in followers for f in fols}) > 1:
            raise ValueError("FollowerChunks needs followers with the same settings()")
        type_ids = [f.itype.type_id for f in followers[0]]
        self.type_ids = type_ids
        self.agent_pos = np.array([type_ids.index(a) for a in batch.template.agent_type.tolist()])
        self.block = np.full(E, -1, np.int64)  # the block each game holds (-1: none)
        self.count = np.zeros((E, D, K, N))
        self.total = np.zeros((E, D, K, N))
        self.total_sq = np.zeros((E, D, K, N))
        self.stats = np.zeros((E, D, K, 3))
        self._cursor = StreamCursor()

    def clear(self, i: int) -> None:
        """Game ``i`` starts an episode (new seeds): what it holds is stale."""
        self.block[i] = -1

    def take(self, ix: IntArray, t: IntArray, end: IntArray) -> tuple[tuple[FloatArray, FloatArray, FloatArray],
                                                                       FloatArray]:
        """Day ``t`` of games ``ix`` (episodes ending at ``end``): ``(count, total, total_sq)`` and the
        observed statistics, each ``(n, K, ...)``; games entering a block are drawn first, together."""
        b = t // BLOCK_DAYS
        miss = self.block[ix] != b
        if miss.any():
            self._fill(ix[miss], t[miss], end[miss])
        j = t % BLOCK_DAYS
        return (self.count[ix, j], self.total[ix, j], self.total_sq[ix, j]), self.stats[ix, j]

    def _fill(self, games: IntArray, t: IntArray, end: IntArray) -> None:
        """Draw days ``t .. min(end, block's last day)`` of ``games`` in one pass."""
        hi = np.maximum(np.minimum((t // BLOCK_DAYS + 1) * BLOCK_DAYS, end + 1), t + 1)  # exclusive
        span = hi - t
        pg = np.repeat(games, span)  # (P,) game and day of each drawn (game, day) pair
        pd = np.repeat(t - np.cumsum(span) + span, span) + np.arange(span.sum())
        views = np.stack([np.stack([self.view(d, k) for k in self.type_ids]) for d in pd.tolist()])  # (P, K, N)
        uni = self.batch.universe[pd]  # (P, N)
        if self.head.follower_draws == "block":
            signals = self._block_signals(games, t // BLOCK_DAYS, span, pd, views[:, self.agent_pos], uni)
        else:
            signals = self._stream_signals(pg, pd, views, uni)
        count, total, total_sq = self._moments(signals)
        j = pd % BLOCK_DAYS
        self.count[pg, j], self.total[pg, j], self.total_sq[pg, j] = count, total, total_sq
        self.stats[pg, j] = signal_stats(count, total, uni)
        self.block[games] = t // BLOCK_DAYS

    def _moments(self, signals: npt.NDArray[np.float32]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``GameBatch.moments`` of ``(P, A, N)`` signals: with agents grouped by type, summed over the seen
        cells only (``bincount`` adds a cell's values in agent order, as the segment sums do, without the
        zeros of the unseen cells, which leave a sum unchanged)."""
        if not self.batch._grouped:
            return self.batch.moments(signals.astype(np.float64))
        P, A, N = signals.shape
        K = self.batch.K
        at = np.flatnonzero(np.isfinite(signals))
        v = signals.reshape(-1)[at].astype(np.float64)
        row, stock = np.divmod(at, N)
        cell = (row // A * K + self.agent_pos[row % A]) * N + stock
        size = P * K * N
        count = np.bincount(cell, minlength=size).astype(np.float64).reshape(P, K, N)
        total = np.bincount(cell, v, minlength=size).astype(np.float64, copy=False).reshape(P, K, N)
        total_sq = np.bincount(cell, v * v, minlength=size).astype(np.float64, copy=False).reshape(P, K, N)
        return count, total, total_sq

    def _stream_signals(self, pg: IntArray, pd: IntArray, views: FloatArray,
                        uni: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        """One generator per (game's seed, type, day), as ``ScriptedFollowers`` draws them."""
        fols = [self.followers[g] for g in pg.tolist()]
        keys = np.array([(int(f.seed), f.itype.type_id, d) for fs, d in zip(fols, pd.tolist()) for f in fs],
                        dtype=np.int64)
        states = iter(pcg64_states(keys))
        requests: list[Request] = [(f, views[p, k], uni[p], next(states))
                                   for p, fs in enumerate(fols) for k, f in enumerate(fs)]
        return draw_signal_rows(requests, self._cursor).reshape(pg.size, -1, self.batch.N)

    def _block_signals(self, games: IntArray, blocks: IntArray, span: IntArray, pd: IntArray, views: FloatArray,
                       uni: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        """One generator per (game's seed, type, block) drawing the whole block (``ScriptedFollower.block_draws``);
        the days played scored in one pass."""
        rows = [(int(f.seed), f.itype.type_id, int(b)) for g, b in zip(games.tolist(), blocks.tolist())
                for f in self.followers[g]]
        states = iter(pcg64_states(np.array([block_entropy(*r) for r in rows], dtype=np.int64)))
        keys, noise, picks = [], [], []
        for g, d0, n in zip(games.tolist(), pd[np.cumsum(span) - span].tolist(), span.tolist()):
            drawn = [f.block_draws(self._cursor.at(next(states)), self.batch.N) for f in self.followers[g]]
            days = slice(d0 % BLOCK_DAYS, d0 % BLOCK_DAYS + n)
            keys.append(np.concatenate([x.keys[days] for x in drawn], axis=1))  # (n, A, N)
            noise.append(np.concatenate([x.noise[days] for x in drawn], axis=1))
            if self.head.draw == "replacement":
                picks.append(np.concatenate([x.picks[days] for x in drawn], axis=1))  # type: ignore[index]
        A, N = views.shape[1], self.batch.N
        out = score_rows(self.head, views.reshape(-1, N), np.repeat(uni, A, axis=0),
                         np.concatenate(keys).reshape(views.shape[0] * A, keys[0].shape[-1]),
                         np.concatenate(noise).reshape(-1, self.head.n_candidates),
                         picks=np.concatenate(picks).reshape(-1, self.head.n_candidates) if picks else None,
                         compact=True)
        return out.reshape(-1, A, N)
