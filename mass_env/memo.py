"""``BoundedMemo``: the envs' per-day caches (features, views, observation boxes) in one shape.

Why: what these caches hold is a pure function of (panel, day[, type]), so replayed and repeated episodes
reuse it, but random RL episodes over a long panel must not grow it without bound; forgetting everything
once full is enough (days are visited in runs) and costs nothing on a hit.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(dict[K, V], Generic[K, V]):
    """A dict of at most ``limit`` entries: ``get_or(key, build)`` returns the kept value or builds it,
    clearing the whole memo first when it is full."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit

    def get_or(self, key: K, build: Callable[[], V]) -> V:
        hit = self.get(key)
        if hit is None:
            if len(self) >= self.limit:
                self.clear()
            hit = self[key] = build()
        return hit
