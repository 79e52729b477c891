"""Declarative observation layouts: one object owns the named pieces of a flat observation.

RL libraries want one flat ``Box``; people and leaders want named pieces. An ``ObservationLayout``
is an ordered list of pieces, each with a shape and a flag saying whether its first axis is the
observation window (the last ``W`` paid days, oldest first). From that one declaration it packs
named arrays into the flat vector, unpacks a vector into named arrays, infers the window of a
vector of a given size, and re-windows a vector to a shorter window. Nothing else in the project
does offset arithmetic on an observation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from .errors import MassError
from .scratch import Scratch, buffer


@dataclass(frozen=True)
class Piece:
    """One named block: ``shape`` without the window axis; ``windowed`` adds a leading ``W`` axis."""

    name: str
    shape: tuple[int, ...]
    windowed: bool = False
    doc: str = ""

    def full_shape(self, window: int) -> tuple[int, ...]:
        return ((window,) if self.windowed else ()) + self.shape

    def size(self, window: int) -> int:
        return int(math.prod(self.full_shape(window)))


class ObservationLayout:
    """An ordered set of ``Piece`` s with a window ``W`` (see the module docstring)."""

    def __init__(self, pieces: Sequence[Piece], window: int) -> None:
        names = [p.name for p in pieces]
        if len(set(names)) != len(names):
            raise MassError(f"observation pieces must have distinct names, got {names}")
        if window < 1:
            raise MassError(f"the observation window must be >= 1, got {window}")
        self.pieces = tuple(pieces)
        self.window = int(window)

    @property
    def sizes(self) -> dict[str, int]:
        return {p.name: p.size(self.window) for p in self.pieces}

    @property
    def size(self) -> int:
        return sum(self.sizes.values())

    def slices(self) -> dict[str, slice]:
        out, pos = {}, 0
        for name, n in self.sizes.items():
            out[name] = slice(pos, pos + n)
            pos += n
        return out

    def pack(self, parts: Mapping[str, npt.ArrayLike], *, low: float = -1.0, high: float = 1.0
             ) -> npt.NDArray[np.float32]:
        """Concatenate the named parts in layout order, clipped to ``[low, high]``, as float32."""
        missing = [p.name for p in self.pieces if p.name not in parts]
        extra = sorted(set(parts) - {p.name for p in self.pieces})
        if missing or extra:
            raise MassError(f"observation parts: missing {missing}, unknown {extra}")
        flat = []
        for p in self.pieces:
            x = np.asarray(parts[p.name], dtype=np.float64)
            if x.size != p.size(self.window):
                raise MassError(f"observation piece {p.name!r} needs shape {p.full_shape(self.window)}, "
                                f"got {x.shape}")
            flat.append(x.reshape(-1))
        return np.clip(np.concatenate(flat), low, high).astype(np.float32)

    def unpack(self, obs: npt.ArrayLike) -> dict[str, np.ndarray]:
        """Named views of a flat observation, each in its piece's shape."""
        o = np.asarray(obs)
        if o.shape[-1] != self.size:
            raise MassError(f"an observation of this layout has {self.size} values, got {o.shape[-1]}")
        sl = self.slices()
        return {p.name: o[..., sl[p.name]].reshape(o.shape[:-1] + p.full_shape(self.window)) for p in self.pieces}

    def with_window(self, window: int) -> ObservationLayout:
        return type(self)(self.pieces, window)

    def rewindow(self, obs: npt.ArrayLike, window: int) -> npt.NDArray[np.float32]:
        """The same observation with only the most recent ``window`` rows of each windowed piece."""
        if window == self.window:
            return np.asarray(obs, dtype=np.float32)
        if window > self.window:
            raise MassError(f"cannot widen an observation window from {self.window} to {window} days")
        parts = self.unpack(obs)
        keep = slice(self.window - window, self.window)  # rows are oldest first, most recent last
        out = [parts[p.name][(Ellipsis, keep) + (slice(None),) * len(p.shape)] if p.windowed else parts[p.name]
               for p in self.pieces]
        lead = np.asarray(obs).shape[:-1]
        return np.concatenate([x.reshape(lead + (-1,)) for x in out], axis=-1).astype(np.float32)

    def infer_window(self, size: int) -> int:
        """The window ``W`` at which this layout has ``size`` values (an error if none fits)."""
        fixed = sum(p.size(1) for p in self.pieces if not p.windowed)
        per_row = sum(p.size(1) for p in self.pieces if p.windowed)
        rest = int(size) - fixed
        if per_row == 0 or rest <= 0 or rest % per_row:
            raise MassError(f"an observation of {size} values does not fit this layout "
                            f"({fixed} fixed values + W x {per_row})")
        return rest // per_row

    def describe(self) -> str:
        """A table of the pieces (for docs and ``repr``)."""
        rows = [f"{p.name:<14} {'x'.join(map(str, p.full_shape(self.window))):>8}  {p.doc}" for p in self.pieces]
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(window={self.window}, size={self.size})"


class PrincipalObsLayout(ObservationLayout):
    """The leader's flat, point-in-time observation (every value already realised, in [-1, 1])."""

    def __init__(self, n_types: int, window: int) -> None:
        K = int(n_types)
        if K < 1:
            raise MassError(f"n_types must be >= 1, got {n_types}")
        self.n_types = K
        super().__init__((
            Piece("applied", (K + 2,), doc="commitment in force today: applied d, alpha, inertia/inertia_max"),
            Piece("type_ic", (K,), True, doc="the last W paid per-type Rank ICs (each type's mean signal)"),
            Piece("agg_ic", (), True, doc="the last W paid Rank ICs of the aggregate signal"),
            Piece("paid_mask", (), True, doc="1 where a paid day fills the row (0 during the first h+1 days)"),
            Piece("signal_stats", (K, 3), doc="previous day's per-type signal mean, dispersion, coverage"),
            Piece("progress", (1,), doc="fraction of the episode played"),
        ), window)

    def with_window(self, window: int) -> PrincipalObsLayout:
        return PrincipalObsLayout(self.n_types, window)

    @classmethod
    def infer(cls, obs_size: int, n_types: int) -> PrincipalObsLayout:
        """The layout of a leader observation of ``obs_size`` values for ``n_types`` types."""
        return cls(n_types, cls(n_types, 1).infer_window(obs_size))


def signal_stats(count: npt.NDArray[np.float64], total: npt.NDArray[np.float64], n_universe: npt.ArrayLike, *,
                 out: npt.NDArray[np.float64] | None = None, scratch: Scratch | None = None) -> npt.NDArray[np.float64]:
    """The leader's ``signal_stats`` piece, ``(..., K, 3)``, from each type's per-stock count of agents that
    looked and sum of their signals, ``(..., K, N)`` with any leading axes (a batch's games and days): per
    type the mean over stocks of its mean signal, their dispersion (capped at 1) and the share of the day's
    ``n_universe`` stocks it covered (at least 1, broadcast against ``count``'s leading axes). A stock no
    agent of a type saw has count and total 0, so its mean ``total / max(count, 1)`` is the 0 the sums must
    skip and only the squared deviations need the mask: no NaN-aware sums. Written into ``out`` if given, the
    large temporaries in ``scratch``'s buffers."""
    q = np.maximum(count, 1, out=buffer(scratch, "mean", count.shape, np.float64))
    np.divide(total, q, out=q)
    ok = np.greater(count, 0, out=buffer(scratch, "ok", count.shape, np.bool_))
    n_ok = ok.sum(-1)
    per = np.maximum(n_ok, 1)
    if out is None:
        out = np.empty(count.shape[:-1] + (3,))
    mean = out[..., 0]
    np.divide(q.sum(-1), per, out=mean)
    q -= mean[..., None]
    q *= q
    q *= ok
    np.minimum(np.sqrt(q.sum(-1) / per), 1.0, out=out[..., 1])
    np.minimum(n_ok / n_universe, 1.0, out=out[..., 2])
    return out


class FollowerObsLayout(ObservationLayout):
    """A follower's observation as one fixed-width ``Box`` (the env's ``follower_obs="box"``).

    Every type gets the same shape, whatever it sees: the features of *all* modalities (columns of
    modalities the type does not see are 0) plus a 0/1 mask of the columns it sees, so one policy
    can be shared by all types (SuperSuit's parameter sharing) and still knows which type it plays.
    ``view`` is the type's own opinion per stock: the score a truthful scripted agent of the type reports
    without noise, ``tanh(v / 2)`` of ``ScriptedFollower.view`` (0 outside the universe), so a follower that
    chooses what to report sees what it believes. ``write`` is the one writer of these observations (the
    envs call it); ``rows`` cuts observations into per-stock rows (``ROW_COLUMNS``) for a policy shared by
    every type and stock.
    """

    #: a per-stock row of ``rows``: the stock's features (F), the feature mask (F), then these, then the
    #: commitment (K + 2)
    ROW_COLUMNS = ("universe", "view")

    def __init__(self, n_symbols: int, n_features: int, n_types: int) -> None:
        N, F, K = int(n_symbols), int(n_features), int(n_types)
        self.n_symbols, self.n_features, self.n_types = N, F, K
        super().__init__((
            Piece("features", (N, F), doc="point-in-time features of every modality, 0 where unseen or unknown"),
            Piece("feature_mask", (F,), doc="1 for the feature columns this type's modalities see"),
            Piece("universe", (N,), doc="1 for stocks in today's universe"),
            Piece("view", (N,), doc="the type's noise-free truthful score tanh(v/2) per stock, 0 outside the universe"),
            Piece("commitment", (K + 2,), doc="applied commitment: d, alpha, inertia/inertia_max"),
        ), 1)

    def write(self, features: npt.ArrayLike, columns: npt.ArrayLike, universe: npt.ArrayLike, view: npt.ArrayLike,
              commitment: npt.ArrayLike, *, clip: float) -> npt.NDArray[np.float32]:
        """A type's flat observation from what it sees: its own features (N, F_k) in the all-modality columns
        ``columns`` (F_k indices), the universe (N,), its view (N,, the scripted opinion; written as
        ``tanh(v / 2)`` inside the universe) and the commitment; clipped to ``[-clip, clip]``."""
        cols = np.asarray(columns, dtype=np.int64)
        uni = np.asarray(universe, dtype=np.float64)
        every = np.zeros((self.n_symbols, self.n_features))
        every[:, cols] = np.nan_to_num(np.asarray(features, dtype=np.float64))
        mask = np.zeros(self.n_features)
        mask[cols] = 1.0
        score = np.where(uni > 0.5, np.tanh(np.nan_to_num(np.asarray(view, dtype=np.float64)) / 2.0), 0.0)
        return self.pack({"features": every, "feature_mask": mask, "universe": uni, "view": score,
                          "commitment": commitment}, low=-clip, high=clip)

    def rows(self, obs: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Observations (..., size) as per-stock rows (..., N, 2F + 2 + K + 2): features, mask, universe,
        view, commitment (the last three pieces repeated on every stock)."""
        parts = self.unpack(obs)
        lead = np.asarray(obs).shape[:-1] + (self.n_symbols,)
        per_stock = [parts["features"], parts["universe"][..., None], parts["view"][..., None]]
        shared = [np.broadcast_to(parts[k][..., None, :], lead + parts[k].shape[-1:]) for k in ("feature_mask",
                                                                                                 "commitment")]
        return np.concatenate([per_stock[0], shared[0], *per_stock[1:], shared[1]], axis=-1).astype(np.float32)


class SignalBox(spaces.Box):
    """A follower's action space: ``Box(-1, 1, (n_agents, N))`` of scores, where **NaN means "this
    agent did not look at this stock"** (missing, not zero: the game leaves it out of the type's
    moments). ``contains`` accepts NaN entries for that reason; ``sample`` looks at every stock.
    Values outside [-1, 1] are clipped and counted (or an error with ``strict_actions``), as for the
    leader's action; inf is an error.
    """

    def __init__(self, n_agents: int, n_symbols: int) -> None:
        super().__init__(-1.0, 1.0, (int(n_agents), int(n_symbols)), np.float32)

    def contains(self, x: object) -> bool:
        a = np.asarray(x)
        if a.shape != self.shape or not np.issubdtype(a.dtype, np.floating):
            return False
        seen = ~np.isnan(a)
        return bool(np.all((a[seen] >= -1.0) & (a[seen] <= 1.0)))

    def __repr__(self) -> str:
        return f"SignalBox(-1.0, 1.0, {self.shape}, float32; NaN = did not look)"
