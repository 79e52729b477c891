"""Reference roles that ship with the game: scripted investors and a fixed-commitment leader.

Scripted investors are deterministic, vectorised stand-ins for LLM followers; they live here (not
in ``agents``) because the Gymnasium leader env embeds them and the conformance harnesses play
against them, and ``mass_env`` imports nothing above itself (``agents`` re-exports them).

A scripted investor of a type reads its observation (the point-in-time features of its modalities),
forms its style's view as a weighted sum of "channels", and hands each of its ``n_agents`` agents a
noisy copy restricted to that agent's own random subset of the universe (``n_candidates`` stocks,
drawn afresh each day, like MASS's candidate pools). Stocks an agent did not see are NaN.

``output`` says what an agent hands in: ``"score"`` a continuous score in [-1, 1] per candidate, or
``"select"`` MASS's answer, 1 for its ``n_select`` best candidates and 0 for the others. ``draw``
says how candidates are drawn: ``"distinct"`` (``n_candidates`` different stocks) or
``"replacement"`` (MASS's selectors: ``random.choices``, ``n_candidates`` draws with replacement,
so ~16.6 distinct stocks of 50 are seen). ``output="select", draw="replacement"`` is the paper's
``signals="mass_picks"`` (``experiments.paper.fidelity``).

``follower_draws`` says which random numbers are drawn. ``"stream"`` (the default, every stored result):
one generator per (seed, type, day), ``numpy.random.default_rng([seed, type_id, day])``. ``"block"``: one
generator per (seed, type, block of ``BLOCK_DAYS`` days) that draws the whole block at once in float32, the
normal noise only for the candidates an agent saw: a few large calls instead of one per type and day. The
two modes draw other numbers from the same distribution (candidate sets uniform without or with replacement,
standard normal noise), so they agree in law, not draw for draw. Either way the same seed gives the same
signals whatever the order of calls, and no global RNG is touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .data.modalities import Modality
from .game.investors import InvestorType
from .game.mechanism import PrincipalAction
from .game.stackelberg import Payoff
from .roles import DecisionContext
from .scratch import Scratch
from .signal_draws import (
    BLOCK_DAYS,
    FOLLOWER_DRAWS,
    BlockDraws,
    FollowerDraws,
    Rows,
    block_entropy,
    score_cells,
)
from .streams import State, StreamCursor, pcg64_states

FloatArray = npt.NDArray[np.float64]
Output = Literal["score", "select"]
Draw = Literal["distinct", "replacement"]

#: channel -> (modality that must be visible, feature combination)
CHANNELS: dict[str, tuple[Modality, dict[str, float]]] = {
    "reversal": (Modality.OHLCV, {"ret_5d": -1.0}),
    "trend": (Modality.OHLCV, {"ret_20d": 1.0}),
    "industry": (Modality.INDUSTRY, {"ind_ret_20d": 1.0}),
    "value": (Modality.VALUE, {"bp": 0.5, "ep": 0.5}),
    "macro": (Modality.MACRO, {}),  # macro level x beta, computed specially
}

#: The value channel on MASS's anonymised price-value features (``mass_env.data.modalities.MASS_PV_FEATURES``):
#: the sign the MASS prompt states for each ("negatively correlated with future returns" for 0, 1, 2 and 4,
#: "positively" for 3 and 5), equal weights summing to 1 in absolute value like ``bp``/``ep``.
VALUE_ANONYMISED: dict[str, float] = {f"pv_{i}": s / 6.0 for i, s in enumerate((-1, -1, -1, 1, -1, 1))}

#: style -> channel weights
STYLE_CHANNELS: dict[str, dict[str, float]] = {
    "balanced": {"reversal": 1.0, "industry": 1.0, "value": 1.0, "macro": 1.0},
    "momentum": {"trend": 1.0, "industry": 1.0, "value": 0.5, "macro": 0.5},
    "reversal": {"reversal": 1.5, "industry": 0.5, "value": 0.5, "macro": 0.5},
    "value": {"reversal": 0.5, "industry": 0.5, "value": 2.0, "macro": 0.5},
    "macro_timing": {"reversal": 0.5, "industry": 0.5, "value": 0.5, "macro": 2.0},
}


@dataclass
class ScriptedFollower:
    """Policy of one follower (one investor type): ``act(obs, info) -> (n_agents, N)`` signals."""

    itype: InvestorType
    feature_names: tuple[str, ...]
    seed: int = 0
    noise: float = 1.0
    n_candidates: int = 20
    output: Output = "score"
    n_select: int = 5
    draw: Draw = "distinct"
    follower_draws: FollowerDraws = "stream"

    def __post_init__(self) -> None:
        if self.output not in ("score", "select"):
            raise ValueError(f"output must be 'score' or 'select', got {self.output!r}")
        if self.draw not in ("distinct", "replacement"):
            raise ValueError(f"draw must be 'distinct' or 'replacement', got {self.draw!r}")
        if self.follower_draws not in FOLLOWER_DRAWS:
            raise ValueError(f"follower_draws must be one of {FOLLOWER_DRAWS}, got {self.follower_draws!r}")
        if self.noise < 0 or self.n_candidates < 1 or self.n_select < 1:
            raise ValueError("noise >= 0, n_candidates >= 1 and n_select >= 1 are required")
        idx = {n: i for i, n in enumerate(self.feature_names)}
        w = np.zeros(len(self.feature_names))
        self._macro_cols = np.array([i for n, i in idx.items() if n.startswith("macro_")], dtype=int)
        self._beta_col = idx.get("beta_60d")
        self._macro_weight = 0.0
        for channel, cw in STYLE_CHANNELS[self.itype.style].items():
            modality, combo = CHANNELS[channel]
            if modality not in self.itype.modalities:
                continue
            if channel == "macro":
                self._macro_weight = cw
                continue
            if channel == "value" and "bp" not in idx and "pv_0" in idx:
                combo = VALUE_ANONYMISED
            for fname, fw in combo.items():
                if fname not in idx:
                    raise ValueError(f"feature {fname!r} missing from observation of {self.itype.name}")
                w[idx[fname]] += cw * fw
        self._weights = w
        self._block: tuple[tuple[int, int], BlockDraws] | None = None  # the last block drawn by ``act``

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = int(seed)

    def view(self, features: npt.ArrayLike) -> FloatArray:
        """The type's (noise-free) opinion per stock, from its ``(N, F)`` features."""
        f = np.asarray(features, dtype=np.float64)
        v = f @ self._weights
        if self._macro_weight and self._beta_col is not None and self._macro_cols.size:
            v = v + self._macro_weight * f[:, self._beta_col] * f[:, self._macro_cols].mean(1)
        return v

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> npt.NDArray[np.float32]:
        day = int(info["day"])
        universe = np.asarray(obs["universe"]) > 0.5
        source: np.random.Generator | BlockDraws
        if self.follower_draws == "block":
            key = (int(self.seed), day // BLOCK_DAYS)
            if self._block is None or self._block[0] != key:
                rng = np.random.default_rng([*block_entropy(self.seed, self.itype.type_id, key[1])])
                self._block = (key, self.block_draws(rng, universe.size))
            source = self._block[1].day(day % BLOCK_DAYS)
        else:
            source = np.random.default_rng([self.seed, self.itype.type_id, day])
        return draw_signals([(self, self.view(obs["features"]), universe, source)])[0]

    def settings(self) -> tuple[float, int, str, int, str, str]:
        """What must match for followers to be drawn together (``draw_signals``)."""
        return (self.noise, self.n_candidates, self.output, self.n_select, self.draw, self.follower_draws)

    def block_draws(self, rng: np.random.Generator, n_stocks: int) -> BlockDraws:
        """The random numbers of one ``"block"`` (``BLOCK_DAYS`` days of this type's agents) from ``rng``:
        candidate keys per stock (or, drawing with replacement, a uniform per pick), then the noise of the
        at most ``n_candidates`` stocks each agent sees, in the order it sees them."""
        shape = (BLOCK_DAYS, self.itype.n_agents)
        if self.draw == "replacement":
            keys = np.zeros(shape + (0,), np.float32)
            picks: npt.NDArray[np.float64] | None = rng.random(shape + (self.n_candidates,))
        else:
            keys, picks = rng.random(shape + (n_stocks,), dtype=np.float32), None
        return BlockDraws(keys, rng.standard_normal(shape + (self.n_candidates,), dtype=np.float32), picks)


#: one follower's draw: (policy, its noise-free view (N,), today's universe (N,) bool, its day's generator,
#: that generator's stream state from ``mass_env.streams.pcg64_states``, or (``"block"``) its day's ``BlockDraws``)
Request = tuple[ScriptedFollower, npt.NDArray[np.float64], npt.NDArray[np.bool_],
                "np.random.Generator | State | BlockDraws"]


def draw_signals(requests: Sequence[Request], cursor: StreamCursor | None = None) -> list[npt.NDArray[np.float32]]:
    """The signals of many (follower, day) requests at once, each ``(n_agents, N)`` float32, NaN where an
    agent did not look: per request only the random draws (from its own generator, in the order one
    follower alone draws them); candidate picks, noise and scores for every agent of every request in
    one pass. Row-wise identical to drawing one follower at a time. The followers must share
    ``settings()``; requests given as stream states are drawn from ``cursor``."""
    if not requests:
        return []
    return np.split(draw_signal_rows(requests, cursor), np.cumsum([r[0].itype.n_agents for r in requests])[:-1])


def draw_signal_rows(requests: Sequence[Request], cursor: StreamCursor | None = None) -> npt.NDArray[np.float32]:
    """``draw_signals`` as one ``(sum of n_agents, N)`` array, the requests' rows in order (a batched env
    reads it as (games, agents, stocks) without splitting and stacking it again)."""
    if not requests:
        return np.zeros((0, 0), np.float32)
    sizes = np.array([r[0].itype.n_agents for r in requests])
    at, _, vals = draw_signal_cells(requests, cursor)
    out = np.full((int(sizes.sum()), requests[0][2].size), np.nan, np.float32)
    out.reshape(-1)[at] = vals
    return out


def draw_signal_cells(requests: Sequence[Request], cursor: StreamCursor | None = None
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """``draw_signal_rows`` as its seen cells: their flat indices into the ``(rows, N)`` array, in order, their
    rows and their signals (what a batched env reduces to moments without the NaN cells)."""
    head = requests[0][0]
    if len({r[0].settings() for r in requests}) > 1:
        raise ValueError("draw_signals needs followers with the same noise, candidates, output and draw")
    sizes = np.array([r[0].itype.n_agents for r in requests])
    per = np.repeat(np.arange(len(requests)), sizes)
    rows = Rows(np.stack([r[1] for r in requests]), per, np.stack([r[2] for r in requests]), per)
    if head.follower_draws == "block":
        drawn = [r[3] for r in requests]
        if not all(isinstance(d, BlockDraws) for d in drawn):
            raise ValueError("followers drawing in blocks take each request's BlockDraws")
        picks = None if head.draw == "distinct" else np.concatenate([d.picks for d in drawn])  # type: ignore
        return score_cells(head, rows, np.concatenate([d.keys for d in drawn]),  # type: ignore
                           np.concatenate([d.noise for d in drawn]), picks=picks, compact=True)  # type: ignore
    streams = [r[3] for r in requests]
    if any(isinstance(d, BlockDraws) for d in streams):
        raise ValueError("a BlockDraws source needs followers with follower_draws='block'")
    return stream_cells(head, streams, sizes, rows, cursor)  # type: ignore[arg-type]


def stream_cells(head: ScriptedFollower, streams: Sequence[np.random.Generator | State], sizes: npt.NDArray[np.int64],
                 rows: Rows, cursor: StreamCursor | None = None
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """``score_cells`` of ``"stream"`` draws (``stream_draws``), the scoring in one pass."""
    keys, noise, seen = stream_draws(head, streams, sizes, rows, cursor)
    return score_cells(head, rows, keys, noise, seen=seen)


def stream_draws(head: ScriptedFollower, streams: Sequence[np.random.Generator | State] | npt.NDArray[np.uint64],
                 sizes: npt.NDArray[np.int64], rows: Rows, cursor: StreamCursor | None = None,
                 scratch: Scratch | None = None) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_] | None]:
    """The ``"stream"`` draws of many (follower, day) generators: per generator only its draws (``sizes`` rows
    each, in the order one follower alone draws them, written in place): candidate keys, noise and (drawing
    with replacement) the stocks seen, each ``(rows, N)`` (keys and noise in ``scratch``'s buffers if given).
    ``streams``: generators, stream states, or (distinct draws) ``pcg64_words`` rows."""
    n_rows, n = rows.view_row.size, rows.universes.shape[1]
    if scratch is None:
        keys_all, noise = np.empty((n_rows, n)), np.empty((n_rows, n))
    else:
        keys_all, noise = scratch.get("keys", (n_rows, n), np.float64), scratch.get("noise", (n_rows, n), np.float64)
    seen = np.zeros((n_rows, n), dtype=bool) if head.draw == "replacement" else None
    words = isinstance(streams, np.ndarray)
    if words and seen is not None:
        raise ValueError("stream_draws takes pcg64_words rows for distinct draws only (else stream states)")
    if seen is None and (words or set(map(type, streams)) <= {tuple}):  # stream states only (the batched envs):
        cursor = cursor or StreamCursor()  # one generator repositioned, two draws each, no per-row bookkeeping
        at, gen = (cursor.at_words if words else cursor.at), cursor.generator
        uniform, normal = gen.random, gen.standard_normal
        parts: Iterable[tuple[FloatArray, FloatArray]]
        if sizes.size and (sizes == sizes[0]).all():  # one generator's rows: a view each, cheaply iterated
            parts = zip(keys_all.reshape(sizes.size, -1, n), noise.reshape(sizes.size, -1, n))
        else:
            ends = np.cumsum(sizes).tolist()
            parts = ((keys_all[b - m:b], noise[b - m:b]) for b, m in zip(ends, sizes.tolist()))
        for stream, (k_rows, n_rows_) in zip(streams, parts):
            at(stream)  # type: ignore[arg-type]
            uniform(out=k_rows)
            normal(out=n_rows_)
        return keys_all, noise, seen
    pos = 0
    for stream, m in zip(streams, sizes.tolist()):
        if isinstance(stream, np.random.Generator):
            rng = stream
        else:
            cursor = cursor or StreamCursor()
            rng = cursor.at(stream)
        rng.random(out=keys_all[pos:pos + m])
        rng.standard_normal(out=noise[pos:pos + m])
        if seen is not None:  # MASS: n_candidates draws with replacement; duplicates seen once
            uni_idx = np.flatnonzero(rows.universes[rows.universe_row[pos]])
            if min(head.n_candidates, uni_idx.size) > 0:
                picked = uni_idx[rng.integers(0, uni_idx.size, size=(m, head.n_candidates))]
                np.put_along_axis(seen[pos:pos + m], picked, True, axis=1)
        pos += m
    return keys_all, noise, seen


class ScriptedFollowers(dict):  # type: ignore[type-arg]
    """``{agent: ScriptedFollower}`` that answers a whole day in one call (``act_many``, which
    ``rollout.follower_actions`` uses): the generators come from one table of stream states computed
    for many days at once (``mass_env.streams``), and the draws go through ``draw_signals``; drawing in
    blocks, every type's block is drawn at its first day and kept. Any other policy put into the mapping
    makes it answer one follower at a time, as a plain dict."""

    CHUNK = 64  # days of stream states computed per miss

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._states: dict[tuple[int, int, int], State] = {}
        self._blocks: dict[tuple[int, int, int], BlockDraws] = {}
        self._cursor = StreamCursor()

    def act_many(self, obs: Mapping[str, Any], infos: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
        fols = [self[a] for a in names]
        if not fols or not all(type(f) is ScriptedFollower for f in fols) or \
                len({f.settings() for f in fols}) > 1:
            return {a: self[a].act(obs[a], infos[a]) for a in names}
        days = [int(infos[a]["day"]) for a in names]
        states = None if fols[0].follower_draws == "block" else \
            self.stream_states([(int(f.seed), f.itype.type_id, d) for f, d in zip(fols, days)])
        requests: list[Request] = []
        for i, (a, f, day) in enumerate(zip(names, fols, days)):
            universe = np.asarray(obs[a]["universe"]) > 0.5
            source = self._block(fols, f, day, universe.size) if states is None else states[i]
            requests.append((f, f.view(obs[a]["features"]), universe, source))
        return dict(zip(names, draw_signals(requests, self._cursor)))

    def stream_states(self, keys: Sequence[tuple[int, int, int]]) -> list[State]:
        """The ``"stream"`` generator states of ``(seed, type_id, day)`` keys, from this mapping's table; on a miss
        those of every key's next ``CHUNK`` days are computed at once (``pcg64_states``' cost is mostly per call).
        Also what ``follower_chunks.SignalsAhead`` draws these followers ahead with."""
        got = self._states
        try:
            return [got[k] for k in keys]
        except KeyError:
            if len(got) > 50_000:
                got.clear()
            more = sorted({(s, t, d + j) for s, t, d in keys for j in range(self.CHUNK)} - got.keys())
            got.update(zip(more, pcg64_states(np.array(more, dtype=np.int64))))
            return [got[k] for k in keys]

    def _block(self, fols: Sequence[ScriptedFollower], f: ScriptedFollower, day: int, n_stocks: int) -> BlockDraws:
        """``f``'s draws of ``day`` (``"block"``): on a miss every follower's block of that day is drawn."""
        key = (int(f.seed), f.itype.type_id, day // BLOCK_DAYS)
        if key not in self._blocks:
            if len(self._blocks) > 4096:
                self._blocks.clear()
            keys = [(int(g.seed), g.itype.type_id, key[2]) for g in fols]
            states = pcg64_states(np.array([block_entropy(*k) for k in keys], dtype=np.int64))
            for k, g, state in zip(keys, fols, states):
                self._blocks[k] = g.block_draws(self._cursor.at(state), n_stocks)
        return self._blocks[key].day(day % BLOCK_DAYS)


def scripted_followers(env: Any, *, seed: int = 0, noise: float = 1.0, n_candidates: int = 20,
                       output: Output = "score", draw: Draw = "distinct",
                       follower_draws: FollowerDraws = "stream") -> ScriptedFollowers:
    """One scripted policy per follower agent of a ``MassStackelbergEnv`` (keyed by agent name), in a
    ``ScriptedFollowers`` mapping that answers all of them in one call (``follower_draws``: see the module)."""
    base = getattr(env, "unwrapped", env)
    return ScriptedFollowers({
        f"investor_{t.type_id}": ScriptedFollower(
            t, base.feature_names[f"investor_{t.type_id}"], seed=seed, noise=noise,
            n_candidates=n_candidates, output=output, draw=draw, follower_draws=follower_draws)
        for t in base.types
    })


class FixedCommitment:
    """A leader that commits to the same ``(d, alpha, inertia)`` every day (uniform weights by default).

    The reference leader of harnesses, benchmarks and follower checks; ``principals.EqualWeights``
    is this leader under the name ``equal``.
    """

    def __init__(self, weights: npt.ArrayLike | None = None, alpha: float = 0.5, inertia: float = 0.0,
                 *, name: str = "fixed") -> None:
        self.name = name
        self.alpha = float(alpha)
        self.inertia = float(inertia)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if self.weights is not None:
            PrincipalAction(self.weights, self.alpha, self.inertia)  # validate now, not mid-episode
        self._n = 0

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        if self.weights is not None and self.weights.size != n_types:
            raise ValueError(f"{self.name}: {self.weights.size} weights for a game of {n_types} types")
        self._n = n_types

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        w = np.ones(ctx.n_types) if self.weights is None else self.weights
        return PrincipalAction(w, self.alpha, self.inertia)

    def observe(self, paid: Sequence[Payoff]) -> None:
        pass

