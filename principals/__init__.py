"""Leaders (principals) of the aggregation game, interchangeable behind one protocol.

``make(name, **options)`` builds any registered leader; ``available()`` lists the names and
``register(name, factory)`` adds one (the conformance test in ``principals.testing`` then covers it).

==========  ==========================================================================================
name        leader and its options (all keyword)
==========  ==========================================================================================
``equal``   uniform weights, never moves. ``alpha`` (0.5).
``random``  random Dirichlet(1) weights, fixed alpha. ``alpha`` (0.5), ``daily`` (False: one draw per
            episode), ``concentration`` (1.0).
``sa``      MASS's simulated annealing (faithful defaults). ``component`` ("disagreement"; "signal"
            = config B, "consensus"), ``learn_alpha`` (False; True = config C), ``alpha`` (0.5),
            ``iterations`` (20), ``temperature`` (0.5), ``cooling`` (0.95), ``step`` (0.25),
            ``accept_scale`` (10), ``alpha_move_prob`` (2/(K+2)), plus the common options below.
``cmaes``   CMA-ES (pycma) on softmax logits + alpha. ``component`` ("signal"), ``learn_alpha``
            (True), ``alpha`` (0.5, initial), ``sigma0`` (0.2), ``evals`` (30), ``popsize`` (pycma's
            4 + 3 ln dim), ``diagonal`` (auto: dim >= ``diagonal_from`` = 100), ``alpha_std`` (1.0),
            ``recommend`` ("mean" = distribution mean; "best"), ``cma_options`` (extra pycma options),
            plus the common options below.
``gradient``  gradient ascent on a soft-rank Rank IC surrogate (the MBI differentiable price mechanism);
            reports per-type prices. ``component`` ("signal"), ``learn_alpha`` (True), ``alpha`` (0.5),
            ``lookback`` (20), ``fitness_horizon`` (5), ``min_days`` (min(lookback, 5)),
            ``turnover_penalty`` (0), ``inertia`` (0), ``steps`` (30), ``lr`` (0.05), ``temperature``
            (1.0, in ranks), ``tv_smoothing`` (1e-3), ``logit_decay`` (0.01), ``weight_floor`` (1e-3),
            ``threads`` (1). Needs torch.
``rl``      a saved stable-baselines3 policy acting on the leader's observation. ``path`` (required),
            ``deterministic`` (True), ``algo`` (from its JSON), ``use_lambda`` (True), ``threads`` (1).
            Needs the ``rl`` extra.
==========  ==========================================================================================

Common options of ``sa`` and ``cmaes``: ``lookback`` (5 realised days), ``fitness_horizon`` (5-day
returns), ``turnover_penalty`` (the paper's lambda, 0), ``inertia`` (the mechanism's lambda put in the
action, 0), ``min_days`` (= lookback).
"""

from __future__ import annotations

from typing import Any, Callable

from .annealing import MassAnnealing
from .base import DecisionContext, EqualWeights, Principal
from .baselines import RandomWeights
from .blackbox import AskTellOptimizer, BlackBoxPrincipal, Objective, SearchResult, SearchSpace, optimise
from .cmaes import CMAES
from .gradient import GradientPrincipal, make_gradient  # torch imported at reset()
from .rl import RLPrincipal, make_rl  # stable-baselines3 imported at load

Factory = Callable[..., Principal]

_COMMON = ("component", "learn_alpha", "alpha", "lookback", "fitness_horizon", "turnover_penalty",
           "inertia", "min_days")


def _split(options: dict[str, Any], optimizer_keys: tuple[str, ...], name: str) -> tuple[dict, dict]:
    unknown = sorted(set(options) - set(_COMMON) - set(optimizer_keys))
    if unknown:
        raise ValueError(f"unknown option(s) for principal {name!r}: {unknown}; "
                         f"valid: {sorted(_COMMON + optimizer_keys)}")
    return ({k: v for k, v in options.items() if k in optimizer_keys},
            {k: v for k, v in options.items() if k in _COMMON})


def make_sa(**options: Any) -> BlackBoxPrincipal:
    """MASS simulated annealing (defaults: disagreement fitness, alpha fixed at 0.5)."""
    opt, common = _split(options, ("iterations", "temperature", "cooling", "step", "accept_scale",
                                   "alpha_move_prob"), "sa")
    common = {"component": "disagreement", "learn_alpha": False, **common}
    return BlackBoxPrincipal(MassAnnealing(**opt), name="sa", **common)


def make_cmaes(**options: Any) -> BlackBoxPrincipal:
    """CMA-ES on the combined signal with learned alpha (the follow-up paper's config D)."""
    opt, common = _split(options, ("sigma0", "evals", "popsize", "diagonal", "diagonal_from",
                                   "alpha_std", "recommend", "cma_options"), "cmaes")
    common = {"component": "signal", "learn_alpha": True, **common}
    return BlackBoxPrincipal(CMAES(**opt), name="cmaes", **common)


def _simple(cls: type, name: str, keys: tuple[str, ...]) -> Factory:
    def factory(**options: Any) -> Principal:
        unknown = sorted(set(options) - set(keys))
        if unknown:
            raise ValueError(f"unknown option(s) for principal {name!r}: {unknown}; valid: {sorted(keys)}")
        return cls(**options)

    factory.__doc__ = cls.__doc__
    return factory


_REGISTRY: dict[str, Factory] = {
    "equal": _simple(EqualWeights, "equal", ("alpha",)),
    "random": _simple(RandomWeights, "random", ("alpha", "daily", "concentration")),
    "sa": make_sa,
    "cmaes": make_cmaes,
    "gradient": make_gradient,
    "rl": make_rl,
}
_ALIASES = {"cma": "cmaes", "cma-es": "cmaes", "mass-sa": "sa", "equal-weights": "equal", "dpm": "gradient",
            "grad": "gradient"}


def available() -> tuple[str, ...]:
    """Names ``make`` accepts (aliases excluded)."""
    return tuple(_REGISTRY)


def register(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Add a leader under ``name``; ``factory(**options)`` must return a ``Principal``."""
    if not replace and (name.lower() in _REGISTRY or name.lower() in _ALIASES):
        raise ValueError(f"principal {name!r} is already registered")
    _REGISTRY[name.lower()] = factory


def make(name: str, **options: Any) -> Principal:
    """Build the leader registered as ``name`` with keyword ``options`` (see the module docstring)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        raise ValueError(f"unknown principal {name!r}; available: {', '.join(available())}")
    return _REGISTRY[key](**options)


__all__ = [
    "AskTellOptimizer", "BlackBoxPrincipal", "CMAES", "DecisionContext", "EqualWeights", "MassAnnealing",
    "Objective", "Principal", "RandomWeights", "SearchResult", "SearchSpace", "available", "make",
    "make_cmaes", "make_sa", "optimise", "register", "GradientPrincipal", "RLPrincipal", "make_gradient",
    "make_rl",
]
