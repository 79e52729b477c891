"""Investor types: the followers' identities in the game.

A type is an explicit ``(type_id, modalities, style, n_agents)``. Two types with the same modalities
and style are still two types (distinct ids, distinct agents, distinct random streams): unlike the
MASS code, nothing is keyed by the modality mask, so nothing ever merges silently (``build_types``).

``mass_types`` rebuilds what the paper's engine did instead, as a named alternative: each type draws
1-3 of the engine's three modalities (``random.Random(seed)``: ``randint(1, 3)`` then ``sample``, the
trainer's calls), and types that drew the same mask become one type holding all their agents (the
engine keyed weights by the mask). ``with_macro`` shows macro to every type (MASS's strategy prompt).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from itertools import product

from ..data.modalities import Modality, modality_combinations
from ..errors import MassError

#: Investment styles. "balanced" weighs every visible modality equally (the 8-type setting);
#: the four named styles give the 32-type setting (8 information sets x 4 styles).
STYLES = ("momentum", "reversal", "value", "macro_timing")
DEFAULT_STYLE = "balanced"
ALL_STYLES = (DEFAULT_STYLE,) + STYLES
ALL_MODALITIES = Modality.OHLCV | Modality.INDUSTRY | Modality.VALUE | Modality.MACRO
#: The engine's drawable modalities, in its order: BASE_DATA (OHLCV), CROSS_INDUSTRY_LABEL (industry),
#: PRICE_FEATURE (the anonymised price-value features, shown here as VALUE).
ENGINE_MODALITIES = (Modality.OHLCV, Modality.INDUSTRY, Modality.VALUE)


@dataclass(frozen=True)
class InvestorType:
    type_id: int
    modalities: Modality
    style: str = DEFAULT_STYLE
    n_agents: int = 8

    def __post_init__(self) -> None:
        if not Modality(self.modalities) or self.modalities & ~ALL_MODALITIES:
            raise MassError(f"a type sees a nonempty set of {', '.join(m.name or '' for m in Modality)}, "
                            f"got {self.modalities!r}")
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


def mass_masks(n_types: int, seed: int, modalities: tuple[Modality, ...] = ENGINE_MODALITIES) -> list[Modality]:
    """The modality mask each of ``n_types`` types draws in the engine under ``seed``: ``randint(1, 3)``
    modalities ``sample``d from ``modalities`` with ``random.Random(seed)`` (the trainer's calls after
    ``random.seed(seed)``; seed 0 at 8 types gives 5 distinct masks, at 32 types 7)."""
    if n_types < 1:
        raise MassError(f"n_types must be >= 1, got {n_types}")
    rng = random.Random(seed)
    masks = []
    for _ in range(n_types):
        k = rng.randint(1, min(3, len(modalities)))
        m = Modality(0)
        for flag in rng.sample(list(modalities), k):
            m |= flag
        masks.append(m)
    return masks


def mass_types(n_types: int, agents_per_type: int, seed: int,
               modalities: tuple[Modality, ...] = ENGINE_MODALITIES, *, merge: bool = True
               ) -> tuple[InvestorType, ...]:
    """The engine's population: ``n_types`` drawn masks (``mass_masks``) merged by mask, one type per
    distinct mask in order of first draw, holding ``agents_per_type`` agents per type that drew it
    (8 x 8 under seed 0: 5 types of 24, 16, 8, 8 and 8 agents). Style "balanced" (the engine's LLM
    wrote its own strategy every day; there are no fixed styles). ``merge=False``: the population as
    the paper describes it, ``n_types`` types of ``agents_per_type`` with drawn masks, never merged."""
    if not merge:
        return tuple(InvestorType(k, m, DEFAULT_STYLE, agents_per_type)
                     for k, m in enumerate(mass_masks(n_types, seed, modalities)))
    counts: dict[Modality, int] = {}
    for m in mass_masks(n_types, seed, modalities):
        counts[m] = counts.get(m, 0) + 1
    return tuple(InvestorType(k, m, DEFAULT_STYLE, c * agents_per_type) for k, (m, c) in enumerate(counts.items()))


def with_macro(types: tuple[InvestorType, ...]) -> tuple[InvestorType, ...]:
    """``types`` with macro added to every information set (MASS put the macro paragraph in every
    agent's strategy prompt); ids, styles and agent counts unchanged."""
    return tuple(replace(t, modalities=t.modalities | Modality.MACRO) for t in types)
