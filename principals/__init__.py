"""Leaders (principals) of the aggregation game, interchangeable behind ``mass_env.roles.Principal``.

``make(name, **options)`` builds any registered leader; ``available()`` lists the names and
``register(name, factory)`` adds one (``mass_env.testing.check_principal`` checks it). Each leader
registers itself in its own module; installed packages add leaders through the
``mass_mechanism.principals`` entry-point group, and ``make("my_module:MyLeader", **options)`` builds
a user's class or factory by import reference (README, "Write your own leader").

==========  ==========================================================================================
name        leader and its options (all keyword)
==========  ==========================================================================================
``equal``   uniform weights, never moves. ``alpha`` (0.5).
``random``  random Dirichlet(1) weights, fixed alpha. ``alpha`` (0.5), ``daily`` (False: one draw per
            episode), ``concentration`` (1.0).
``sa``      MASS's simulated annealing (faithful defaults). ``component`` ("disagreement"; "signal"
            = config B, "consensus"), ``learn_alpha`` (False; True = config C), ``alpha`` (0.5),
            ``iterations`` (20), ``temperature`` (0.5), ``cooling`` (0.95), ``step`` (0.25),
            ``accept_scale`` (10), ``alpha_move_prob`` (2/(K+2)), plus the window options below.
``cmaes``   CMA-ES (pycma) on softmax logits + alpha. ``component`` ("signal"), ``learn_alpha``
            (True), ``alpha`` (0.5, initial), ``sigma0`` (0.2), ``evals`` (30), ``popsize`` (pycma's
            4 + 3 ln dim), ``diagonal`` (auto: dim >= ``diagonal_from`` = 100), ``alpha_std`` (1.0),
            ``recommend`` ("mean" = distribution mean; "best"), ``cma_options`` (extra pycma options),
            plus the window options below.
``gradient``  gradient ascent on a soft-rank Rank IC surrogate (the MBI differentiable price mechanism);
            reports per-type prices. Window options (``lookback`` 20, ``min_days`` min(lookback, 5)),
            ``steps`` (30), ``lr`` (0.05), ``temperature`` (1.0, in ranks), ``tv_smoothing`` (1e-3),
            ``logit_decay`` (0.01), ``weight_floor`` (1e-3), ``threads`` (1). Needs torch.
``rl``      a saved stable-baselines3 policy acting on the leader's observation. ``path`` (required),
            ``deterministic`` (True), ``algo`` (from its JSON), ``use_inertia`` (True), ``threads`` (1).
            Needs the ``rl`` extra.
==========  ==========================================================================================

Window options (``principals.window.WindowOptions``, shared by ``sa``, ``cmaes`` and ``gradient``):
``component``, ``learn_alpha``, ``alpha``, ``lookback`` (5 realised days), ``fitness_horizon``
(5-day returns), ``turnover_penalty`` (mu; default: the game's, from the decision context),
``inertia`` (the mechanism's inertia put in the action, 0; candidates are scored as the mechanism
will apply them), ``min_days`` (= lookback).
"""

from __future__ import annotations

from typing import Any

from mass_env.roles import DecisionContext, Principal

from . import annealing, baselines, cmaes, gradient, rl  # noqa: F401  (each registers its leaders)
from .annealing import MassAnnealing, make_sa
from .baselines import EqualWeights, RandomWeights
from .blackbox import AskTellOptimizer, BlackBoxPrincipal, Objective, SearchResult, SearchSpace, optimise
from .cmaes import CMAES, make_cmaes
from .gradient import GradientPrincipal, make_gradient  # torch imported at reset()
from .registry import PRINCIPALS, available, make, register
from .rl import RLPrincipal, make_rl  # stable-baselines3 imported at load
from .window import WindowOptions

__all__ = [
    "AskTellOptimizer", "BlackBoxPrincipal", "CMAES", "DecisionContext", "EqualWeights", "GradientPrincipal",
    "MassAnnealing", "Objective", "PRINCIPALS", "Principal", "RLPrincipal", "RandomWeights", "SearchResult",
    "SearchSpace", "WindowOptions", "available", "make", "make_cmaes", "make_gradient", "make_rl", "make_sa",
    "optimise", "register",
]


def __getattr__(name: str) -> Any:
    if name in ("_REGISTRY",):  # pre-0.2 private registry dict, still poked at by old tests
        import warnings

        warnings.warn("principals._REGISTRY is deprecated and will be removed in 0.3; use "
                      "principals.register / PRINCIPALS",
                      DeprecationWarning, stacklevel=2)
        return PRINCIPALS._factories
    raise AttributeError(f"module 'principals' has no attribute {name!r}")
