"""Deprecated: ``experiments.ablation`` was split by idea; its names forward with a DeprecationWarning.

Kept for one release (removed in 0.3) so existing scripts keep running and say where each name
lives now:

=======================  ==========================================================================
module                   names
=======================  ==========================================================================
``experiments.sweep``    ``run_ablation`` (any executor), ``run_one``, ``AblationResult``, ``Progress``
``experiments.spec``     ``SweepSpec``
``experiments.store``    ``RunStore``, ``RunResult``, ``run_key``, ``FORMAT_VERSION``,
                         ``atomic_write`` (was ``_atomic``), ``to_jsonable`` (was ``_jsonable``)
``experiments.report``   ``metric``, ``paired_bootstrap``, ``ablation_table``, ``format_table``, ...
``experiments.oracle``   ``hindsight_oracle``, ``OracleFit``, ``COMPONENTS``
``experiments.markets``  ``market_for``, ``market_fingerprint``
``experiments.fingerprint``  ``run_sources``, ``code_fingerprint``, ``versions``
``experiments.followers``    ``FOLLOWERS``, ``FOLLOWER_SOURCES``, ``register_followers``
``experiments.plots``    ``plot_ablation``
=======================  ==========================================================================
"""

from __future__ import annotations

from mass_env._compat import moved_names

_MOVED = {
    "experiments.sweep.run": ("run_ablation", "run_one", "AblationResult", "Progress"),
    "experiments.sweep.spec": ("SweepSpec",),
    "experiments.sweep.store": ("RunStore", "RunResult", "run_key", "FORMAT_VERSION", "_atomic", "_jsonable"),
    "experiments.stats.report": ("metric", "paired_bootstrap", "table_metrics", "summarise_runs", "ablation_table",
                           "format_table", "TABLE_COMPONENTS", "ORACLE_LABEL"),
    "experiments.stats.oracle": ("hindsight_oracle", "OracleFit", "COMPONENTS"),
    "experiments.sweep.markets": ("market_for", "market_fingerprint"),
    "experiments.sweep.fingerprint": ("run_sources", "code_fingerprint", "versions"),
    "experiments.followers": ("FOLLOWERS", "FOLLOWER_SOURCES", "register_followers"),
    "experiments.stats.plots": ("plot_ablation",),
}

__getattr__ = moved_names(__name__, {name: module for module, names in _MOVED.items() for name in names})
