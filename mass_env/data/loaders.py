"""Deprecated: ``mass_env.data.loaders`` was split by idea in 0.2 and is removed in 0.3.

* ``mass_env.data.frame``: the canonical long table -> ``MarketPanel`` (``from_long_frame``, ``read_table``)
* ``mass_env.data.vendors``: vendor adapters (``VENDORS``, ``normalise_columns``, ``guess_vendor``, ``cn_code``)
* ``mass_env.data.datasets``: named datasets (``DATASETS``, ``load_dataset``, ``load_panel``,
  ``load_sse50_window``, ``load_csi300``, ``load_us``, ``mass_*``)

Every old name still resolves here and in ``mass_env.loaders``, with a ``DeprecationWarning`` naming
its new module; ``ADAPTERS`` (a dict) is now a read-only view of the ``vendors.VENDORS`` registry.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pandas as pd

from .._compat import moved_names

_FRAME, _VENDORS, _DATASETS = "mass_env.data.frame", "mass_env.data.vendors", "mass_env.data.datasets"

#: old name -> the module that defines it now
MOVED: dict[str, str] = {
    **dict.fromkeys(["REQUIRED_COLUMNS", "PRICE_COLUMNS", "MacroInput", "from_long_frame", "read_table",
                     "_UNKNOWN_INDUSTRY", "_TEXT_ID_COLUMNS", "_require", "_numeric", "_boolean",
                     "_ew_industry_returns", "_industry_of", "_industry_frame", "_macro_arrays"], _FRAME),
    **dict.fromkeys(["Adapter", "cn_code", "normalise_columns", "guess_vendor", "_with_symbol", "_chain_pct",
                     "_baostock", "_tushare", "_akshare", "_yfinance", "_canonical", "_AKSHARE"], _VENDORS),
    **dict.fromkeys(["SSE50_WINDOW", "CSI300_DIR", "US_DIR", "MASS_MACRO", "mass_industry_map",
                     "mass_industry_returns", "mass_macro", "load_sse50_window", "load_csi300", "load_us",
                     "load_panel", "_root", "_file", "_single_parquet", "_interval_membership",
                     "_constituent_history", "_add_membership", "_between"], _DATASETS),
}


class _AdapterView(Mapping[str, Callable[..., pd.DataFrame]]):
    """The old ``ADAPTERS`` dict (vendor -> adapter), read live from ``vendors.VENDORS``."""

    def __getitem__(self, name: str) -> Callable[..., pd.DataFrame]:
        from .vendors import VENDORS

        if name not in VENDORS:
            raise KeyError(name)
        return VENDORS.get(name)

    def __iter__(self) -> Iterator[str]:
        from .vendors import VENDORS

        return iter(VENDORS.available())

    def __len__(self) -> int:
        from .vendors import VENDORS

        return len(VENDORS.available())


_ADAPTERS = _AdapterView()


def deprecated_getattr(old: str) -> Callable[[str], Any]:
    """The module ``__getattr__`` of an old loaders path (this one and ``mass_env.loaders``)."""
    forward = moved_names(old, MOVED, stacklevel=3)

    def __getattr__(name: str) -> Any:
        if name == "ADAPTERS":
            warnings.warn(f"{old}.ADAPTERS is deprecated and will be removed in 0.3; use the registry "
                          f"{_VENDORS}.VENDORS", DeprecationWarning, stacklevel=2)
            return _ADAPTERS
        return forward(name)

    return __getattr__


__getattr__ = deprecated_getattr(__name__)
