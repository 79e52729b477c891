"""Deprecated alias of :mod:`mass_env.data.macro` (moved in 0.2; removed in 0.3)."""

from ._compat import moved_module

__getattr__ = moved_module(__name__, "mass_env.data.macro")
