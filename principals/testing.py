"""Deprecated: the leader conformance check moved to ``mass_env.testing`` (beside ``check_follower``).
Kept importable until 0.3."""

from mass_env._compat import moved_names

__getattr__ = moved_names(__name__, {"check_principal": "mass_env.testing", "ConformanceReport": "mass_env.testing"})
