"""Many seeded random streams at once: the generator ``np.random.default_rng([a, b, c])`` would give, for
a whole batch of small-integer triples, without building a ``SeedSequence`` and a ``Generator`` for each.

The scripted followers draw from ``default_rng([seed, type_id, day])`` (the same seed gives the same
signals whatever the order of calls). Building one generator costs about 25 us, which was a large part
of an env step at 8 types and most of a batched step over many envs. ``pcg64_states`` reproduces
numpy's ``SeedSequence`` mixing (vectorised over the triples) and PCG64's seeding, bit for bit (a test
compares it with ``default_rng`` on random triples), and ``StreamCursor`` points one reusable
``Generator`` at any of those states.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# numpy's SeedSequence constants (numpy/random/bit_generator.pyx) and PCG64's 128-bit multiplier
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_M32 = np.uint64(0xFFFFFFFF)
_S16 = np.uint64(16)
_MULT128 = (2549297995355413924 << 64) | 4865540595714422341

State = tuple[int, int]  # PCG64's (state, inc)


U64 = npt.NDArray[np.uint64]


def _hashmix(v: U64, h: U64) -> tuple[U64, U64]:
    v = v ^ h
    h = (h * np.uint64(_MULT_A)) & _M32
    v = (v * h) & _M32
    return v ^ (v >> _S16), h


def pcg64_states(entropy: npt.ArrayLike) -> list[State]:
    """PCG64 ``(state, inc)`` of ``default_rng(list(row))`` for each row of ``(S, L)`` integers in
    ``[0, 2**32)`` with ``L <= 4`` (one 32-bit word each, as ``SeedSequence`` reads small ints)."""
    return [((b << 64) | a, (d << 64) | c) for a, b, c, d in pcg64_words(entropy).tolist()]


def pcg64_words(entropy: npt.ArrayLike) -> U64:
    """``pcg64_states`` as ``(S, 4)`` uint64 words: state low, state high, inc low, inc high (what
    ``StreamCursor.at_words`` takes, without Python integers)."""
    e = np.asarray(entropy, dtype=np.int64)
    if e.ndim != 2 or e.shape[1] > 4 or (e.size and (e.min() < 0 or e.max() >= 2**32)):
        raise ValueError(f"entropy must be (S, <=4) integers in [0, 2**32), got shape {e.shape}")
    eu = e.astype(np.uint64)
    n = eu.shape[0]
    h = np.full(n, _INIT_A, dtype=np.uint64)
    pool = []
    for i in range(4):  # SeedSequence.mix_entropy: the words, padded with zeros to the pool size
        v, h = _hashmix(eu[:, i] if i < eu.shape[1] else np.zeros(n, np.uint64), h)
        pool.append(v)
    for s in range(4):
        for d in range(4):
            if s != d:
                v, h = _hashmix(pool[s], h)
                r = ((np.uint64(_MIX_L) * pool[d]) - (np.uint64(_MIX_R) * v)) & _M32
                pool[d] = r ^ (r >> _S16)
    hb = _INIT_B
    words = []
    for i in range(8):  # generate_state(4, uint64): eight 32-bit words, little-endian pairs
        v = pool[i % 4] ^ np.uint64(hb)
        hb = (hb * _MULT_B) & 0xFFFFFFFF
        v = (v * np.uint64(hb)) & _M32
        words.append(v ^ (v >> _S16))
    s_hi, s_lo, i_hi, i_lo = (words[2 * j] | (words[2 * j + 1] << np.uint64(32)) for j in range(4))
    # pcg64_set_seed -> pcg_setseq_128_srandom_r: inc = seq << 1 | 1, state = (inc + seed) * MULT + inc,
    # 128-bit words as (high, low) uint64 pairs, vectorised (wrapping uint64 arithmetic is mod 2**64)
    inc_hi, inc_lo = (i_hi << np.uint64(1)) | (i_lo >> np.uint64(63)), (i_lo << np.uint64(1)) | np.uint64(1)
    t_hi, t_lo = _add128(inc_hi, inc_lo, s_hi, s_lo)
    m_hi, m_lo = np.uint64(_MULT128 >> 64), np.uint64(_MULT128 & 0xFFFFFFFFFFFFFFFF)
    p_hi, p_lo = _mul64(t_lo, m_lo)
    p_hi = p_hi + t_lo * m_hi + t_hi * m_lo
    st_hi, st_lo = _add128(p_hi, p_lo, inc_hi, inc_lo)
    return np.stack([st_lo, st_hi, inc_lo, inc_hi], axis=1)


def _add128(a_hi: U64, a_lo: U64, b_hi: U64, b_lo: U64) -> tuple[U64, U64]:
    lo = a_lo + b_lo
    return a_hi + b_hi + (lo < a_lo).astype(np.uint64), lo


def _mul64(a: U64, b: np.uint64) -> tuple[U64, U64]:
    """The 128-bit product of uint64 ``a`` and ``b`` as (high, low) words, from 32-bit halves."""
    a_lo, a_hi, b_lo, b_hi = a & _M32, a >> np.uint64(32), b & _M32, b >> np.uint64(32)
    p0, p1, p2 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo
    mid = (p0 >> np.uint64(32)) + (p1 & _M32) + (p2 & _M32)
    lo = (p0 & _M32) | ((mid & _M32) << np.uint64(32))
    return a_hi * b_hi + (p1 >> np.uint64(32)) + (p2 >> np.uint64(32)) + (mid >> np.uint64(32)), lo


class StreamCursor:
    """One reusable ``Generator`` that ``at(state)`` repositions to a state from ``pcg64_states`` (or
    ``at_words`` to a row of ``pcg64_words``), through numpy's public state setter."""

    def __init__(self) -> None:
        self.generator = np.random.Generator(np.random.PCG64(0))
        self._bits = self.generator.bit_generator
        self._words: dict[str, int] = {"state": 0, "inc": 0}  # one state dict, refilled (the setter copies it)
        self._state = {"bit_generator": "PCG64", "state": self._words, "has_uint32": 0, "uinteger": 0}

    def at(self, state: State) -> np.random.Generator:
        self._words["state"], self._words["inc"] = state
        self._bits.state = self._state
        return self.generator

    def at_words(self, words: U64) -> np.random.Generator:
        """``at`` the state of one row of ``pcg64_words``."""
        lo, hi, inc_lo, inc_hi = words.tolist()
        return self.at(((hi << 64) | lo, (inc_hi << 64) | inc_lo))
