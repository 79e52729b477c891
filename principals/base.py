"""Deprecated: the leader protocol and its context moved to ``mass_env.roles`` (the bottom layer, so
the episode loop and the harnesses need nothing from ``principals``); ``EqualWeights`` moved to
``principals.baselines``. Kept importable until 0.3."""

from mass_env._compat import moved_names

__getattr__ = moved_names(__name__, {"DecisionContext": "mass_env.roles", "Principal": "mass_env.roles",
                                     "EqualWeights": "principals.baselines"})
