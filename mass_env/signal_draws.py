"""How scripted followers' random numbers become signals: the ``"block"`` draws and the scoring pass.

``"stream"`` draws (the default): one generator per (seed, type, day), ``default_rng([seed, type_id, day])``,
its candidate keys and per-stock noise in float64 (``mass_env.scripted.draw_signal_cells``). ``"block"``
draws: one generator per (seed, type, block of ``BLOCK_DAYS`` days), seeded with ``block_entropy``, draws
the whole block at once in float32 (``BlockDraws``): candidate keys per stock (or uniforms picking stocks
with replacement), then the noise of the ``n_candidates`` stocks an agent sees. Both feed ``score_cells``,
which scores every agent of many (type, day) rows in one pass, row by row identically whatever the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from .scratch import Scratch, buffer

FloatArray = npt.NDArray[np.float64]
FollowerDraws = Literal["stream", "block"]
#: the random-number modes (``ScriptedFollower.follower_draws``)
FOLLOWER_DRAWS: tuple[str, ...] = ("stream", "block")
#: days one ``"block"`` generator draws (part of that mode's definition: changing it changes its signals)
BLOCK_DAYS = 16


class DrawSettings(Protocol):
    """What the scoring reads of a scripted follower (``ScriptedFollower``'s fields)."""

    @property
    def noise(self) -> float: ...
    @property
    def n_candidates(self) -> int: ...
    @property
    def output(self) -> str: ...
    @property
    def n_select(self) -> int: ...
    @property
    def draw(self) -> str: ...


@dataclass(frozen=True)
class BlockDraws:
    """A ``"block"``'s random numbers, ``(days, agents, ...)`` (``ScriptedFollower.block_draws``); ``day(j)``
    the rows of its ``j``-th day, the form ``draw_signals`` takes as a request's source."""

    keys: npt.NDArray[np.float32]  # (D, m, N) candidate keys (distinct draws; (D, m, 0) otherwise)
    noise: npt.NDArray[np.float32]  # (D, m, n_candidates) the seen stocks' noise, in stock order
    picks: npt.NDArray[np.float64] | None  # (D, m, n_candidates) uniforms choosing stocks (replacement draws)

    def day(self, j: int) -> BlockDraws:
        return BlockDraws(self.keys[j], self.noise[j], None if self.picks is None else self.picks[j])


def block_entropy(seed: int, type_id: int, block: int) -> tuple[int, int, int, int]:
    """The words that seed a ``"block"`` generator: four, the last a tag, so that no ``"stream"`` generator
    (three words, ``[seed, type_id, day]``) shares its state."""
    return (int(seed), int(type_id), int(block), _BLOCK_TAG)


_BLOCK_TAG = 0x626C6F63  # "bloc"


@dataclass(frozen=True)
class Rows:
    """The rows (agents) of a scoring pass, their views and universes as tables and row indices into them (so
    that agents sharing a (type, day) share one copy): row ``r`` has view ``views[view_row[r]]`` and universe
    ``universes[universe_row[r]]``."""

    views: FloatArray  # (V, N) float64
    view_row: npt.NDArray[np.int64]  # (R,)
    universes: npt.NDArray[np.bool_]  # (U, N)
    universe_row: npt.NDArray[np.int64]  # (R,)

    @property
    def universe(self) -> npt.NDArray[np.bool_]:
        return self.universes[self.universe_row]


def score_cells(head: DrawSettings, rows: Rows, keys: np.ndarray, noise: np.ndarray, *,
                seen: npt.NDArray[np.bool_] | None = None, picks: FloatArray | None = None,
                compact: bool = False, scratch: Scratch | None = None
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every agent's signals from its row's draws, all rows ``(R, N)`` in one pass (row-wise: a row's signals
    depend on that row alone), as the seen cells (flat indices, in order), the count of them per row and their
    signals. ``keys``: candidate keys, uniforms in [0, 1) (the ``k`` smallest inside the universe are seen,
    ``k = min(n_candidates, universe)``) unless ``seen`` is given (drawn with replacement) or ``picks``
    (uniforms choosing ``n_candidates`` universe stocks with replacement); ``keys`` is overwritten.
    ``noise``: ``(R, N)`` per stock, or with ``compact`` ``(R, n_candidates)``, the seen stocks' noise in
    stock order (``"block"``). ``scratch``: buffers for the large temporaries (the signals returned may be one
    of them, valid until its next pass)."""
    whole = bool(rows.universes.all())  # every stock in every row's universe: no mask to apply
    size = rows.universes.sum(1)[rows.universe_row]
    k_row = np.minimum(head.n_candidates, size)
    n_seen: npt.NDArray[np.int64] | None = None
    if picks is not None:  # the j-th pick: universe stock floor(u * size), duplicates seen once
        universes = rows.universe
        order = np.argsort(~universes, axis=1, kind="stable")  # universe stocks first, in stock order
        pick = np.minimum((picks * size[:, None]).astype(np.int64), np.maximum(size - 1, 0)[:, None])
        seen = np.zeros(universes.shape, dtype=bool)
        np.put_along_axis(seen, np.take_along_axis(order, pick, axis=1), True, axis=1)
        seen &= (k_row > 0)[:, None]
    if seen is None:
        seen, n_seen = _smallest(keys, k_row, scratch, None if whole else _floors(rows, keys.dtype))
    at = np.flatnonzero(seen)  # the seen (row, stock) cells, row by row, in stock order
    n = seen.shape[1]
    if n_seen is None:
        n_seen = seen.sum(1)
    noise_at: np.ndarray
    if compact:  # the seen stocks' noise, in stock order
        C = noise.shape[1]
        noise_at = noise.reshape(-1) if (n_seen == C).all() else \
            noise[:, :n_seen[0]].reshape(-1) if (n_seen == n_seen[0]).all() else \
            noise.reshape(-1)[np.flatnonzero(np.arange(C) < n_seen[:, None])]
    else:
        noise_at = noise.reshape(-1).take(at, out=buffer(scratch, "x", at.shape, noise.dtype), mode="clip")
    if head.output == "score":  # scores only where an agent looked
        # a cell's view: its row's view row, same stock (row offsets added per seen cell, no division)
        view_at = add_per_row(at, (rows.view_row - np.arange(rows.view_row.size)) * n, n_seen,
                              out=buffer(scratch, "index", at.shape, np.int64))
        if compact:  # drawn in float32 ("block"), scored in float32: view + noise * draw, halved, tanh
            x = np.multiply(noise_at, np.float32(head.noise), out=buffer(scratch, "x", at.shape, np.float32))
            x += rows.views.astype(np.float32).reshape(-1).take(view_at, mode="clip",  # valid: clip skips a copy
                                                                 out=buffer(scratch, "view", at.shape, np.float32))
            x *= np.float32(0.5)
            return at, n_seen, np.tanh(x, out=x)
        x = noise_at  # a gathered copy
        x *= head.noise
        x += rows.views.reshape(-1).take(view_at, out=buffer(scratch, "view", at.shape, np.float64), mode="clip")
        x /= 2.0
        out = buffer(scratch, "signal", at.shape, np.float32)
        out[...] = np.tanh(x, out=x)
        return at, n_seen, out
    if compact:
        full = np.zeros(seen.shape)
        full.reshape(-1)[at] = noise_at
        noise = full
    # MASS style: 1 for the agent's top picks among its candidates, 0 for the rest
    raw = rows.views[rows.view_row] + head.noise * noise
    ranked = np.where(seen, raw, -np.inf)
    sig = np.zeros_like(raw)
    n_sel = np.minimum(head.n_select, k_row)
    for m in np.unique(n_sel[n_sel > 0]):
        sel = np.flatnonzero(n_sel == m)
        top = np.argpartition(-ranked[sel], m - 1, axis=1)[:, :m]
        ones = np.zeros((sel.size, raw.shape[1]))
        np.put_along_axis(ones, top, 1.0, axis=1)
        sig[sel] = ones
    return at, n_seen, sig.reshape(-1)[at].astype(np.float32)


def _floors(rows: Rows, dtype: npt.DTypeLike) -> np.ndarray:
    """Per run of rows sharing a universe the least key each stock can have, ``(runs, 1, N)``: 0 in the
    universe, ``inf`` outside, so that ``max(key, floor)`` masks the keys by broadcasting over a run's rows
    (the agents of a type, or of a day) instead of a mask per row. A run is the largest row count dividing
    every stretch of equal ``universe_row``."""
    u = rows.universe_row
    edges = np.flatnonzero(np.diff(u)) + 1
    run = int(np.gcd.reduce(np.diff(edges, prepend=0, append=u.size))) if u.size else 1
    floor = np.where(rows.universes, np.zeros((), dtype), np.full((), np.inf, dtype))
    return floor[u[::max(run, 1)]][:, None, :]


def _smallest(keys: np.ndarray, k_row: npt.NDArray[np.int64], scratch: Scratch | None = None,
              floor: np.ndarray | None = None) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Per row of ``keys`` (non-negative floats; ``floor`` from ``_floors``: ``inf`` outside the universe) its
    ``k_row`` smallest keys: the mask and its count per row. The ``k``-th smallest is read off a sort of the
    masked keys rounded to float32 (an order-keeping rounding) as bit patterns (non-negative floats order as
    their bits; a sort of short rows is cheaper than a partition); a row where the rounded ``k``-th key ties
    with the next (a few in a million) is done exactly, as drawing one follower alone does: partition, and
    argpartition on a tie of the keys."""
    if not k_row.size:
        return np.zeros(keys.shape, dtype=bool), np.zeros(0, np.int64)
    n = keys.shape[1]
    run = keys.shape[0] // floor.shape[0] if floor is not None else 1

    def masked(sub: np.ndarray, idx: npt.NDArray[np.int64], out: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of the keys (``sub``), masked into ``out``."""
        if floor is None:
            out[...] = sub
            return out
        return np.maximum(sub, floor[idx // run, 0], out=out)

    first = int(k_row[0])
    same = bool((k_row == first).all())  # one k for all rows: no np.unique
    seen = np.zeros(keys.shape, dtype=bool) if not same or first == 0 else None
    for k in ([first] if same else np.unique(k_row).tolist()):
        if k == 0:
            continue
        if same:  # every row: masked by broadcasting over the runs, into float32 (in place if the keys are)
            sel, sub = None, keys
            ranked = keys if keys.dtype == np.float32 else buffer(scratch, "ranked", keys.shape, np.float32)
            if floor is not None:
                np.maximum(keys.reshape(floor.shape[0], run, n), floor, out=ranked.reshape(floor.shape[0], run, n))
            elif ranked is not keys:
                ranked[...] = keys
        else:
            sel = np.flatnonzero(k_row == k)
            sub = masked(keys[sel], sel, keys[sel])
            ranked = sub.astype(np.float32, copy=False)
        work = scratch if sel is None else None
        ordered = buffer(work, "sorted", sub.shape, np.uint32)
        np.copyto(ordered, ranked.view(np.uint32))
        ordered.sort(axis=1)
        part = np.less_equal(ranked, ordered[:, k - 1:k].view(np.float32),
                             out=buffer(work, "seen", sub.shape, np.bool_))
        tied = np.flatnonzero(ordered[:, k] == ordered[:, k - 1]) if k < n else np.zeros(0, np.int64)
        if tied.size:
            exact = sub[tied] if sub is not keys or floor is None or keys.dtype == np.float32 else \
                masked(sub[tied], tied, sub[tied])
            fix = exact <= np.partition(exact, k - 1, axis=1)[:, k - 1:k]
            again = np.flatnonzero(fix.sum(1) != k)  # a tie of the keys themselves
            if again.size:
                pick = np.zeros((again.size, n), dtype=bool)
                np.put_along_axis(pick, np.argpartition(exact[again], k - 1, axis=1)[:, :k], True, axis=1)
                fix[again] = pick
            part[tied] = fix
        if seen is None:
            seen = part
        else:
            seen[sel] = part
    assert seen is not None
    return seen, k_row  # k_row seen per row: a tie is resolved to k


def add_per_row(at: npt.NDArray[np.int64], per_row: npt.NDArray[np.int64], n_seen: npt.NDArray[np.int64],
                out: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]:
    """``at`` (seen cells, row by row, ``n_seen`` per row) plus each cell's row's ``per_row`` (into ``out``, which
    may be ``at``): broadcast where every row has the same count (no repeat of the offsets)."""
    out = np.empty_like(at) if out is None else out
    if n_seen.size and at.size == n_seen.size * int(n_seen[0]) and bool((n_seen == n_seen[0]).all()):
        np.add(at.reshape(n_seen.size, -1), per_row[:, None], out=out.reshape(n_seen.size, -1))
    else:
        np.add(at, np.repeat(per_row, n_seen), out=out)
    return out
