"""``Scratch``: large temporaries of a hot pass kept between passes (the batched env's follower fill, its scoring
and the leader's signal statistics).

Why: a fresh array's pages fault in on first touch, which costs more than the passes over them (the batched env
spent a third of its follower fill in the kernel); a buffer reused by name does not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class Scratch:
    """Flat buffers reused by name across passes of one shape family."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict[str, dict[str, np.ndarray]]:  # a copy or a pickle starts empty: no state kept
        return {"_buffers": {}}

    def get(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> np.ndarray:
        """An uninitialised ``shape`` array of ``dtype``, the buffer ``name`` (grown when too small)."""
        dt, n = np.dtype(dtype), int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != dt or buf.size < n:  # grown with room: a pass's size varies a little
            buf = self._buffers[name] = np.empty(n + n // 4, dt)
        return buf[:n].reshape(shape)


def buffer(scratch: Scratch | None, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> np.ndarray:
    """``scratch.get(name, shape, dtype)``, or a fresh ``np.empty`` without scratch buffers."""
    return np.empty(shape, dtype) if scratch is None else scratch.get(name, shape, dtype)
