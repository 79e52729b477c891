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
                compact: bool = False
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every agent's signals from its row's draws, all rows ``(R, N)`` in one pass (row-wise: a row's signals
    depend on that row alone), as the seen cells (flat indices, in order), the count of them per row and their
    signals. ``keys``: candidate keys (the ``k`` smallest inside the universe are seen,
    ``k = min(n_candidates, universe)``) unless ``seen`` is given (drawn with replacement) or ``picks``
    (uniforms choosing ``n_candidates`` universe stocks with replacement); ``keys`` is overwritten.
    ``noise``: ``(R, N)`` per stock, or with ``compact`` ``(R, n_candidates)``, the seen stocks' noise in
    stock order (``"block"``)."""
    whole = bool(rows.universes.all())  # every stock in every row's universe: no mask to apply
    universes = None if whole and picks is None else rows.universe
    size = rows.universes.sum(1)[rows.universe_row]
    k_row = np.minimum(head.n_candidates, size)
    n_seen: npt.NDArray[np.int64] | None = None
    if picks is not None:  # the j-th pick: universe stock floor(u * size), duplicates seen once
        assert universes is not None
        order = np.argsort(~universes, axis=1, kind="stable")  # universe stocks first, in stock order
        pick = np.minimum((picks * size[:, None]).astype(np.int64), np.maximum(size - 1, 0)[:, None])
        seen = np.zeros(universes.shape, dtype=bool)
        np.put_along_axis(seen, np.take_along_axis(order, pick, axis=1), True, axis=1)
        seen &= (k_row > 0)[:, None]
    if seen is None:
        if universes is not None:
            np.putmask(keys, ~universes, np.inf)
        seen = np.zeros(keys.shape, dtype=bool)
        same = k_row.size > 0 and k_row.min() == k_row.max()  # one k for all rows: no sort for np.unique
        for k in ([int(k_row[0])] if same else np.unique(k_row).tolist()):
            if k == 0:
                continue
            sel = np.flatnonzero(k_row == k)
            sub = keys if sel.size == k_row.size else keys[sel]
            # the k smallest keys: those up to the k-th; a row where that is not k keys (a tie at the k-th
            # key, practically never) takes them from argpartition, as drawing one follower alone does
            part = sub <= np.partition(sub, k - 1, axis=1)[:, k - 1:k]
            n_part = part.sum(1)
            tied = np.flatnonzero(n_part != k)
            if tied.size:
                fix = np.zeros((tied.size, sub.shape[1]), dtype=bool)
                np.put_along_axis(fix, np.argpartition(sub[tied], k - 1, axis=1)[:, :k], True, axis=1)
                part[tied] = fix
            if sel.size == k_row.size:
                seen = part
                n_seen = n_part if not tied.size else None
            else:
                seen[sel] = part
    at = np.flatnonzero(seen)  # the seen (row, stock) cells, row by row, in stock order
    n = seen.shape[1]
    if n_seen is None:
        n_seen = seen.sum(1)
    noise_at: np.ndarray
    if compact:  # the seen stocks' noise, in stock order
        noise_at = noise.reshape(-1) if (n_seen == noise.shape[1]).all() else \
            noise.reshape(-1)[np.flatnonzero(np.arange(noise.shape[1]) < n_seen[:, None])]
    else:
        noise_at = noise.reshape(-1)[at]
    if head.output == "score":  # scores only where an agent looked
        # a cell's view: its row's view row, same stock (row offsets repeated per seen cell, no division)
        view_at = rows.views.reshape(-1)[at + np.repeat((rows.view_row - np.arange(rows.view_row.size)) * n, n_seen)]
        if compact:  # drawn in float32 ("block"), scored in float32
            x = view_at.astype(np.float32) + np.float32(head.noise) * noise_at
            return at, n_seen, np.tanh(x * np.float32(0.5))
        return at, n_seen, np.tanh((view_at + head.noise * noise_at) / 2.0).astype(np.float32)
    if compact:
        full = np.zeros(seen.shape)
        full.reshape(-1)[at] = noise_at
        noise = full
    # MASS style: 1 for the agent's top picks among its candidates, 0 for the rest
    raw = rows.views[rows.view_row] + head.noise * noise
    masked = np.where(seen, raw, -np.inf)
    sig = np.zeros_like(raw)
    n_sel = np.minimum(head.n_select, k_row)
    for m in np.unique(n_sel[n_sel > 0]):
        sel = np.flatnonzero(n_sel == m)
        top = np.argpartition(-masked[sel], m - 1, axis=1)[:, :m]
        ones = np.zeros((sel.size, raw.shape[1]))
        np.put_along_axis(ones, top, 1.0, axis=1)
        sig[sel] = ones
    return at, n_seen, sig.reshape(-1)[at].astype(np.float32)
