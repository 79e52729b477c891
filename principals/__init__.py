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
``anticipating``  CMA-ES (as ``cmaes``) scoring the aggregate of the followers' best response to each
            candidate (a Stackelberg leader). ``rule`` ("weighted_skill": the rule the followers are paid by),
            ``library`` ("standard"; "truthful" = ``cmaes``), ``shade``, ``exaggerate``, ``constants`` (the
            Hedge followers' strategies, lists as ``0.25/0.5``), ``rounds`` (1), ``response_lookback`` (60
            realised days the response is fitted on), plus ``cmaes``'s options and the window options.
``rl``      a saved stable-baselines3 policy acting on the leader's observation. ``path`` (required),
            ``deterministic`` (True), ``algo`` (from its JSON), ``use_inertia`` (True), ``threads`` (1).
            Needs the ``rl`` extra.
==========  ==========================================================================================

Window options (``principals.WindowOptions``, shared by ``sa``, ``cmaes`` and ``gradient``):
``component``, ``learn_alpha``, ``alpha``, ``lookback`` (5 realised days), ``fitness_horizon``
(5-day returns), ``turnover_penalty`` (mu; default: the game's, from the decision context),
``inertia`` (the mechanism's inertia put in the action, 0; candidates are scored as the mechanism
will apply them), ``min_days`` (= lookback).
"""

from __future__ import annotations

import mass_env.removed  # noqa: F401  (old import paths raise an ImportError naming the new one)

from . import annealing, anticipating, baselines, cmaes, gradient, rl  # noqa: F401  (each registers its leaders)
from .annealing import MassAnnealing
from .anticipating import AnticipatingPrincipal
from .baselines import EqualWeights, RandomWeights
from .blackbox import BlackBoxPrincipal
from .cmaes import CMAES
from .gradient import GradientPrincipal  # torch imported at reset()
from .registry import available, make, register
from .rl import RLPrincipal  # stable-baselines3 imported at load
from .window import WindowOptions

__all__ = [
    # build a leader by name, add one, list them
    "make", "register", "available",
    # the leaders
    "EqualWeights", "RandomWeights", "MassAnnealing", "CMAES", "GradientPrincipal", "RLPrincipal",
    "AnticipatingPrincipal",
    # build your own: any black-box optimiser as a leader, the options of the windowed leaders
    "BlackBoxPrincipal", "WindowOptions",
]
