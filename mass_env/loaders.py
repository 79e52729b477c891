"""Deprecated alias of the old ``mass_env.data.loaders`` (moved in 0.2, split into ``data.frame``,
``data.vendors`` and ``data.datasets``; removed in 0.3)."""

from .data.loaders import deprecated_getattr

__getattr__ = deprecated_getattr(__name__)
