"""Public test harnesses (like ``pettingzoo.test``): checks a user can run on their own components.

One module per thing checked:

* ``lookahead``: ``perturb_after`` / ``record_trajectory`` / ``first_divergence`` prove that nothing
  decided at or before a day depends on data after it; ``check_no_lookahead`` runs the proof and checks
  the one-day-ahead rule (its docstring states it exactly); ``follower_signals``: followers' actions
  over a window.
* ``principal_check``: ``check_principal(factory)``: a leader honours the ``Principal`` protocol (valid
  actions, determinism per seed, no state leaking across episodes, no look-ahead).
* ``follower_check``: ``check_follower(factory)``: a follower population honours the ``Follower`` protocol
  (shapes, ranges, NaN only where an agent did not look, determinism per seed, no look-ahead).
* ``planted``: ``planted_followers(env, informativeness)``: a known-answer market for leaders: type
  k's signal is ``rho_k`` x the rank of the *future* return plus noise, so the best weights are known
  (a fixture that looks ahead on purpose; ``check_follower`` rejects it, as it should).

Every episode here is played by ``mass_env.rollout``, the same loop the experiments use.
"""

from .follower_check import FollowerReport, check_follower
from .lookahead import (
    check_no_lookahead,
    first_divergence,
    first_divergence_signals,
    follower_signals,
    perturb_after,
    record_trajectory,
)
from .planted import PlantedFollower, planted_followers
from .principal_check import ConformanceReport, check_principal

__all__ = [
    # look-ahead proofs
    "perturb_after", "record_trajectory", "first_divergence", "check_no_lookahead", "follower_signals",
    "first_divergence_signals",
    # conformance of a user's leader or followers
    "check_principal", "ConformanceReport", "check_follower", "FollowerReport",
    # known answers
    "planted_followers", "PlantedFollower",
]
