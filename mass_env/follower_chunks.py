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

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from .env import MassStackelbergEnv
from .game.batch import GameBatch
from .memo import BoundedMemo
from .observation import signal_stats
from .roles import follower_agent
from .scratch import Scratch
from .scripted import (
    Request,
    ScriptedFollower,
    ScriptedFollowers,
    draw_signal_rows,
    stream_cells,
    stream_draws,
)
from .signal_draws import BLOCK_DAYS, Rows, add_per_row, block_entropy, score_cells
from .streams import State, StreamCursor, pcg64_states, pcg64_words

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def day_signals(followers: Sequence[ScriptedFollower], days: Sequence[int], view: Callable[[int, int], FloatArray],
                universe: npt.NDArray[np.bool_], cursor: StreamCursor | None = None,
                stream_states: Callable[[Sequence[tuple[int, int, int]]], list[State]] = pcg64_states
                ) -> list[Sequence[npt.NDArray[np.float32]]]:
    """The signals of ``followers`` (one per type, the same ``settings()``, their ``seed`` read now) on each of
    ``days``, ``[day][follower]`` ``(n_agents, N)``, all drawn in one pass: draw for draw what
    ``ScriptedFollowers.act_many`` draws day by day, since a day's signals depend on that day's view and
    universe and the seeds alone. ``view(day, i)``: follower ``i``'s noise-free view; ``universe``: every
    day's ``(n_days, N)``. Why: a single env whose followers are scripted draws a block of days at once."""
    cursor = cursor or StreamCursor()
    pairs = [(d, i, f) for d in days for i, f in enumerate(followers)]
    K, sizes = len(followers), np.tile([f.itype.n_agents for f in followers], len(days))  # rows of each pair
    if followers[0].follower_draws == "block":  # one generator per (seed, type, block), each block drawn once
        keys = sorted({(i, d // BLOCK_DAYS) for d, i, _ in pairs})
        states = pcg64_states(np.array([block_entropy(followers[i].seed, followers[i].itype.type_id, b)
                                        for i, b in keys], dtype=np.int64))
        drawn = {k: followers[k[0]].block_draws(cursor.at(s), universe.shape[1]) for k, s in zip(keys, states)}
        requests: list[Request] = [(f, view(d, i), universe[d], drawn[(i, d // BLOCK_DAYS)].day(d % BLOCK_DAYS))
                                   for d, i, f in pairs]
        flat = draw_signal_rows(requests, cursor)
    else:  # draw_signal_rows' draws and scoring, the days' universes a table read by row (not a copy per pair)
        per = np.repeat(np.arange(len(pairs)), sizes)
        rows = Rows(np.stack([view(d, i) for d, i, _ in pairs]), per, universe[list(days)], per // K)
        states = stream_states([(int(f.seed), f.itype.type_id, d) for d, _, f in pairs])
        at, _, vals = stream_cells(followers[0], states, sizes, rows, cursor)
        flat = np.full((int(sizes.sum()), universe.shape[1]), np.nan, np.float32)
        flat.reshape(-1)[at] = vals
    if len(set(sizes.tolist())) == 1:  # (days, followers, agents, stocks) read in place, not split and regrouped
        return list(flat.reshape(len(days), K, int(sizes[0]), -1))
    out = np.split(flat, np.cumsum(sizes)[:-1])
    return [out[i:i + K] for i in range(0, len(out), K)]


class SignalsAhead:
    """One game's followers drawn days ahead, when they are plain ``ScriptedFollower`` policies drawn
    together (a ``ScriptedFollowers`` mapping, one ``settings()``): ``actions(followers)`` gives today's
    signals per follower agent, from the next ``AHEAD_DAYS`` days (``"block"`` draws: the rest of the day's
    block of ``BLOCK_DAYS``), up to the episode's end, drawn at once by ``day_signals``; else None (other
    followers act as they are). Why: the single env's share of drawing them day by day. A day's signals
    read that day's features alone and reach the game only at its step, so nothing of a later day reaches
    the leader early. ``env``: the ``MassStackelbergEnv`` played (a subclass may hand its followers other
    observations: drawn day by day); ``clear()`` at every reset (a new window, new seeds)."""

    AHEAD_DAYS = 8  # "stream" days drawn in one pass (16 ran 30% slower a day: the pass spilled out of the caches)

    def __init__(self, env: MassStackelbergEnv) -> None:
        self.env = env
        self.names = [follower_agent(t.type_id) for t in env.types] if type(env) is MassStackelbergEnv else []
        self._fols: list[Any] = []  # the followers the memos below are of (held: their ids stay theirs)
        self._key: tuple[Any, ...] = ()
        self._ok = False
        self._days: dict[int, Sequence[npt.NDArray[np.float32]]] = {}
        self._views: BoundedMemo[tuple[int, int], FloatArray] = BoundedMemo(4096)  # (day, follower) -> its view
        self._cursor = StreamCursor()

    def clear(self) -> None:
        self._days = {}

    def actions(self, followers: Mapping[str, Any]) -> dict[str, Any] | None:
        if not self.names:  # not a MassStackelbergEnv
            return None
        fols = [followers.get(a) for a in self.names]
        if len(fols) != len(self._fols) or any(f is not g for f, g in zip(fols, self._fols)):
            self._fols, self._days, self._key = fols, {}, ()
            self._views.clear()
            self._ok = (isinstance(followers, ScriptedFollowers)
                        and type(followers).act_many is ScriptedFollowers.act_many
                        and self.env.follower_obs == "dict" and all(type(f) is ScriptedFollower for f in fols))
        if not self._ok:
            return None
        key = tuple((f.seed, f.settings()) for f in fols)  # type: ignore[union-attr]
        if key != self._key:  # new seeds or settings: drawn afresh
            self._key, self._days = key, {}
            if len({k[1] for k in key}) > 1:  # not drawn together: act_many answers one at a time
                self._ok, self._fols = False, []
                return None
        day = self.env._day()
        got = self._days.get(day)
        if got is None:
            last = (day // BLOCK_DAYS + 1) * BLOCK_DAYS - 1  # "block": its generator draws the whole block
            if fols[0].follower_draws == "stream":  # type: ignore[union-attr]
                last = min(last, day + self.AHEAD_DAYS - 1)
            last = max(min(last, self.env.game.end), day)
            days = range(day, last + 1)
            assert isinstance(followers, ScriptedFollowers)  # checked with the followers (self._ok)
            self._days = dict(zip(days, day_signals(fols, days, self._view, self.env.game.universe,  # type: ignore[arg-type]
                                                    self._cursor, followers.stream_states)))
            got = self._days[day]
        return dict(zip(self.names, got))

    def _view(self, day: int, i: int) -> FloatArray:
        """Follower ``i``'s view of ``day``: a function of the day and the follower alone, so kept while the
        followers stay (at most 4096)."""
        f, t = self._fols[i], self.env.types[i]
        return self._views.get_or((day, i), lambda: f.view(self.env.follower_features(day, t)[0]))


class FollowerChunks:
    """Per game, the moments and observed statistics of its followers' signals for the block of days it
    is in. ``followers[i]``: game ``i``'s scripted followers, one per type in type order (their ``seed``
    read at each fill); ``view(day, type_id)``: that type's noise-free view of ``day``; ``batch``: the games'
    ``GameBatch`` (its universe and per-type reduction)."""

    FILL_GAMES = 16  # games drawn in one pass at most: its buffers, kept between fills, ~40 MiB at 64 agents x 50
    # stocks ("stream"; 32 games held twice that and ran no faster, 256 ran 25% slower, spilling out of the caches)

    def __init__(self, followers: Sequence[Sequence[ScriptedFollower]], view: Callable[[int, int], FloatArray],
                 batch: GameBatch) -> None:
        self.followers = followers
        self.view = view
        self.batch = batch
        E, K, N, D = len(followers), batch.K, batch.N, BLOCK_DAYS
        self.head = followers[0][0]
        if len({f.settings() for fols in followers for f in fols}) > 1:
            raise ValueError("FollowerChunks needs followers with the same settings()")
        if self.head.follower_draws == "block" and len({f.itype.n_agents for f in followers[0]}) > 1:
            raise ValueError("follower_draws='block' in a batched env needs the same agents_per_type for every type "
                             "(use follower_draws='stream')")
        if not batch._grouped:  # the game's types are 0..K-1 in order, each with agents: never, but the sums
            raise ValueError("FollowerChunks needs agents grouped by type")  # below rely on it
        type_ids = [f.itype.type_id for f in followers[0]]
        self.type_ids = type_ids
        self.agent_pos = np.array([type_ids.index(a) for a in batch.template.agent_type.tolist()])
        self.block = np.full(E, -1, np.int64)  # the block each game holds (-1: none)
        # (game, day of its block, type, stock): a step reads one (K, N) piece per game
        self.count = np.zeros((E, D, K, N))
        self.total = np.zeros((E, D, K, N))
        self.total_sq = np.zeros((E, D, K, N))
        self.stats = np.zeros((E, D, K, 3))
        self._n_universe = np.maximum(batch.universe.sum(1), 1)
        self._day_views: BoundedMemo[int, FloatArray] = BoundedMemo(1024)  # day -> every type's view (K, N)
        self._cursor = StreamCursor()
        self._scratch = Scratch()  # a fill's large arrays, kept between fills

    def clear(self, i: int) -> None:
        """Game ``i`` starts an episode (new seeds): what it holds is stale."""
        self.block[i] = -1

    def take(self, ix: IntArray, t: IntArray, end: IntArray) -> tuple[tuple[FloatArray, FloatArray, FloatArray],
                                                                       FloatArray]:
        """Day ``t`` of games ``ix`` (episodes ending at ``end``): ``(count, total, total_sq)`` and the
        observed statistics, each ``(n, K, ...)``; games entering a block are drawn first, together."""
        b = t // BLOCK_DAYS
        miss = np.flatnonzero(self.block[ix] != b)
        for lo in range(0, miss.size, self.FILL_GAMES):  # a bounded working set, so a pass stays in cache
            part = miss[lo:lo + self.FILL_GAMES]
            self._fill(ix[part], t[part], end[part])
        j = t % BLOCK_DAYS
        return (self.count[ix, j], self.total[ix, j], self.total_sq[ix, j]), self.stats[ix, j]

    def _fill(self, games: IntArray, t: IntArray, end: IntArray) -> None:
        """Draw days ``t .. min(end, block's last day)`` of ``games`` in one pass (``"block"``: every day of the
        block, as its generator draws them all)."""
        D, K, N = BLOCK_DAYS, self.batch.K, self.batch.N
        blocks = t // D
        last = self.batch.universe.shape[0] - 1
        block = self.head.follower_draws == "block"
        if block:
            pd = np.minimum(blocks[:, None] * D + np.arange(D), last).reshape(-1)  # days past the panel: never played
        else:
            hi = np.maximum(np.minimum((blocks + 1) * D, end + 1), t + 1)  # exclusive
            span = hi - t
            pd = np.repeat(t - np.cumsum(span) + span, span) + np.arange(span.sum())
            pg = np.repeat(games, span)  # (P,) game and day of each drawn (game, day) pair
        days, day_of = np.unique(pd, return_inverse=True)
        views = np.concatenate([self._day_views.get_or(d, partial(self._stack_views, d)) for d in days.tolist()])
        uni = self.batch.universe[days]
        if block:  # cells (game, type, day of the block, stock)
            shape: tuple[int, ...] = (games.size, K, D, N)
            cell, vals = self._block_cells(games, blocks, day_of.reshape(games.size, D), views, uni)
        else:  # cells (pair, type, stock)
            shape = (pg.size, K, N)
            cell, vals = self._stream_cells(pg, pd, day_of, views, uni)
        moments = self._scratch.get("moments", (3,) + shape, np.float64)
        moments.fill(0.0)
        count, total, total_sq = moments
        np.add.at(count.reshape(-1), cell, 1.0)  # a cell's values added in order (agent order), onto 0
        v = self._scratch.get("moment", vals.shape, np.float64)
        v[...] = vals
        np.add.at(total.reshape(-1), cell, v)
        v *= v  # a float32's square is exact in float64
        np.add.at(total_sq.reshape(-1), cell, v)
        if block:
            stats = signal_stats(count, total, self._n_universe[pd].reshape(games.size, 1, D), scratch=self._scratch)
            self.count[games], self.total[games], self.total_sq[games] = moments.transpose(0, 1, 3, 2, 4)
            self.stats[games] = stats.transpose(0, 2, 1, 3)
        else:
            j = pd % D
            stats = signal_stats(count, total, self._n_universe[pd][:, None], scratch=self._scratch)
            self.count[pg, j], self.total[pg, j], self.total_sq[pg, j] = count, total, total_sq
            self.stats[pg, j] = stats
        self.block[games] = blocks

    def _stack_views(self, day: int) -> FloatArray:
        """Every type's view of ``day``, ``(K, N)`` in type order."""
        return np.stack([self.view(day, k) for k in self.type_ids])

    def _stream_cells(self, pg: IntArray, pd: IntArray, day_of: IntArray, views: FloatArray,
                      uni: npt.NDArray[np.bool_]) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """One generator per (game's seed, type, day), as ``ScriptedFollowers`` draws them; rows (pair, agent)."""
        K, N, A = self.batch.K, self.batch.N, self.agent_pos.size
        games, pair_game = np.unique(pg, return_inverse=True)  # each game's seeds read once
        seeds = np.array([[int(f.seed) for f in self.followers[g]] for g in games.tolist()], dtype=np.int64)
        keys = np.empty((pg.size, K, 3), np.int64)  # (pair, type): [seed, type_id, day]
        keys[..., 0], keys[..., 1], keys[..., 2] = seeds[pair_game], self.type_ids, pd[:, None]
        sizes = np.tile([f.itype.n_agents for f in self.followers[0]], pg.size)
        per = np.repeat((day_of[:, None] * K + np.arange(K)).reshape(-1), sizes)  # each row's (day, type) view
        rows = Rows(views, per, uni, per // K)
        entropy = keys.reshape(-1, 3)  # distinct draws take the states as words (no Python integers)
        streams = pcg64_words(entropy) if self.head.draw == "distinct" else pcg64_states(entropy)
        drawn, noise, seen = stream_draws(self.head, streams, sizes, rows, self._cursor, self._scratch)
        at, n_seen, vals = score_cells(self.head, rows, drawn, noise, seen=seen, scratch=self._scratch)
        r = np.arange(pg.size * A)  # row (pair, agent) -> moments cell (pair, type, stock)
        return add_per_row(at, (r // A * K + self.agent_pos[r % A] - r) * N, n_seen, out=at), vals

    def _block_cells(self, games: IntArray, blocks: IntArray, day_of: IntArray, views: FloatArray,
                     uni: npt.NDArray[np.bool_]) -> tuple[IntArray, npt.NDArray[np.float32]]:
        """One generator per (game's seed, type, block) drawing the whole block (``ScriptedFollower.block_draws``),
        all scored in one pass; rows (game, type, day, agent of the type)."""
        G, D, K, N, C = games.size, BLOCK_DAYS, self.batch.K, self.batch.N, self.head.n_candidates
        m = self.followers[0][0].itype.n_agents  # every type's (checked at construction)
        rows = [block_entropy(int(f.seed), f.itype.type_id, b) for g, b in zip(games.tolist(), blocks.tolist())
                for f in self.followers[g]]
        states = pcg64_words(np.array(rows, dtype=np.int64))
        replacement = self.head.draw == "replacement"
        keys = self._scratch.get("keys", (G, K, D, m, 0 if replacement else N), np.float32)
        noise = self._scratch.get("noise", (G, K, D, m, C), np.float32)
        picks = np.empty((G, K, D, m, C)) if replacement else None
        position, gen = self._cursor.at_words, self._cursor.generator  # the draws of ScriptedFollower.block_draws
        uniform, normal = gen.random, gen.standard_normal
        first = keys if picks is None else picks  # drawn first: the keys, or the picks (replacement draws)
        for state, first_rows, noise_rows in zip(states, first.reshape(G * K, -1), noise.reshape(G * K, -1)):
            position(state)  # the rows of one (game, type) in C order, as block_draws fills its arrays
            if picks is None:
                uniform(out=first_rows, dtype=np.float32)
            else:
                uniform(out=first_rows)
            normal(out=noise_rows, dtype=np.float32)
        # row (g, k, j, a) reads the view of type k on day j of game g's block
        vrow = (day_of[:, None, :] * K + np.arange(K)[None, :, None])  # (G, K, D)
        urow = np.broadcast_to(day_of[:, None, :], (G, K, D))
        row = np.repeat(vrow.reshape(-1), m)
        at, n_seen, vals = score_cells(self.head, Rows(views, row, uni, np.repeat(urow.reshape(-1), m)),  # type: ignore[arg-type]
                                       keys.reshape(row.size, -1), noise.reshape(row.size, C),
                                       picks=None if picks is None else picks.reshape(row.size, C), compact=True,
                                       scratch=self._scratch)
        r = np.arange(row.size)  # row (g, k, j, a) -> moments cell (g, k, j, stock)
        return add_per_row(at, (r // m - r) * N, n_seen, out=at), vals

