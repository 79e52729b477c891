"""Investor types: the followers' identities in the game.

A type is an explicit ``(type_id, modalities, style, n_agents)``. Two types with the same modalities
and style are still two types (distinct ids, distinct agents, distinct random streams): unlike the
MASS code, nothing is keyed by the modality mask, so nothing ever merges silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from ..data.modalities import Modality, modality_combinations
from ..errors import MassError

#: Investment styles. "balanced" weighs every visible modality equally (the 8-type setting);
#: the four named styles give the 32-type setting (8 information sets x 4 styles).
STYLES = ("momentum", "reversal", "value", "macro_timing")
DEFAULT_STYLE = "balanced"
ALL_STYLES = (DEFAULT_STYLE,) + STYLES


@dataclass(frozen=True)
class InvestorType:
    type_id: int
    modalities: Modality
    style: str = DEFAULT_STYLE
    n_agents: int = 8

    def __post_init__(self) -> None:
        if Modality.OHLCV not in self.modalities:
            raise MassError("every investor type sees OHLCV data (the base modality)")
        if self.style not in ALL_STYLES:
            raise MassError(f"unknown style {self.style!r}; choose from {ALL_STYLES}")
        if self.n_agents < 1:
            raise MassError(f"a type needs at least one agent, got {self.n_agents}")

    @property
    def name(self) -> str:
        return f"t{self.type_id:02d}:{self.modalities.label}/{self.style}"


def build_types(n_types: int = 8, agents_per_type: int = 8) -> tuple[InvestorType, ...]:
    """The paper's populations: 8 types = the 8 modality combinations (balanced style);
    32 types = 8 combinations x 4 styles; other counts cycle through those 32 (ids stay distinct).
    64 agents is ``build_types(8, 8)``, 512 is ``build_types(32, 16)``.
    """
    if n_types < 1:
        raise MassError(f"n_types must be >= 1, got {n_types}")
    combos = modality_combinations()
    if n_types <= len(combos):
        pairs = [(c, DEFAULT_STYLE) for c in combos]
    else:
        pairs = [(c, s) for s, c in product(STYLES, combos)]
    return tuple(
        InvestorType(k, pairs[k % len(pairs)][0], pairs[k % len(pairs)][1], agents_per_type)
        for k in range(n_types)
    )
