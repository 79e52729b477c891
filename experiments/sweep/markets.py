"""The markets experiments play on, chosen and fingerprinted in one place.

Every command, sweep and training run gets its panel from here, so "which market does this run
see" has a single answer: the embedded synthetic market (``SyntheticConfig(n_days=...)``) unless a
``data`` path names a panel. A sweep's resume key includes ``market_fingerprint`` (a hash of the
panel's content), which is why data loading itself needs no code fingerprint.

The RL training markets live here too: ``VALUE_ONLY`` (a synthetic market where only valuations
carry signal, so the best weights are known), ``training_market(spec)`` and
``sse50_pretraining_panel`` (SSE50 before the paper's window).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from experiments.paper.fidelity import Fidelity, market_options
from mass_env.data.panel import MarketPanel
from mass_env.data.synthetic import DEFAULT_STRENGTH, SyntheticConfig, synthetic_market

#: The default RL training market: only valuations carry signal (learnable, known best weights).
VALUE_ONLY = {"ohlcv": 0.0, "industry": 0.0, "value": 1.2, "macro": 0.0}


class MarketSource(Protocol):
    """A panel path (``data``) or the synthetic market's size and seed."""

    @property
    def data(self) -> str | None: ...
    @property
    def n_days(self) -> int: ...
    @property
    def market_seed(self) -> int: ...


class SweepMarket(MarketSource, Protocol):
    """What ``market_for`` reads of a sweep spec (``experiments.sweep.spec.SweepSpec``)."""

    @property
    def vary_market(self) -> bool: ...
    @property
    def fidelity(self) -> Fidelity: ...
    @property
    def eval_skip(self) -> int: ...


class TrainingMarket(MarketSource, Protocol):
    """What ``training_market`` reads of a training spec (``experiments.train_rl.TrainSpec``)."""

    @property
    def strength(self) -> Mapping[str, float] | None: ...


#: Where named datasets (``--data us``) are read from unless the name says ``root=...``.
DATA_ROOT_ENV, DEFAULT_DATA_ROOT = "MASS_DATA_ROOT", "../shared/data"

#: The one meaning of ``--data`` in every command (its help text).
DATA_HELP = ("a dataset NAME[:key=value,...] (sse50, csi300, us, synthetic, ...; read from $MASS_DATA_ROOT, "
             f"default {DEFAULT_DATA_ROOT}), a shared-data root folder, or a CSV/parquet long table")


def data_root() -> str:
    """The folder named datasets are read from: ``$MASS_DATA_ROOT``, default ``../shared/data``."""
    return os.environ.get(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)


@dataclass(frozen=True)
class DataChoice:
    """What a ``--data`` text names (``parse_data``): ``kind`` is ``"path"`` (an existing file or
    folder), ``"dataset"`` (a registered name with its options and the folder it is read from) or
    ``"synthetic"`` (no text: the embedded market)."""

    kind: str
    text: str | None = None
    name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    root: str | None = None


def parse_data(data: str | None) -> DataChoice:
    """The one parser of ``--data``: None (the embedded synthetic market), an existing path (a
    shared-data root or a CSV/parquet long table), or a dataset ``NAME[:key=value,...]``
    (``mass_env.data.datasets``) read from its ``root=`` option or ``$MASS_DATA_ROOT``. A name that is
    neither, or a data folder that does not exist, is a ``ValueError`` that says what to set."""
    from mass_env.data.datasets import DATASETS, parse_dataset_spec

    if data is None:
        return DataChoice("synthetic")
    if Path(data).exists():
        return DataChoice("path", data, root=data if Path(data).is_dir() else None)
    name, options = parse_dataset_spec(data)
    if name.lower() not in DATASETS:
        raise ValueError(f"--data {data!r} is neither an existing file or folder nor a dataset name; datasets: "
                         f"{', '.join(DATASETS.available())} (read from ${DATA_ROOT_ENV}, now {data_root()})")
    root = str(options.pop("root", data_root()))
    if name.lower() != "synthetic" and not Path(root).is_dir():
        raise ValueError(f"--data {data}: the data folder {root} does not exist; set {DATA_ROOT_ENV} to the folder "
                         f"that holds the shared data (default {DEFAULT_DATA_ROOT}), or pass --data "
                         f"{name}:root=FOLDER")
    return DataChoice("dataset", data, name.lower(), options, root)


def load_market(data: str | None, seed: int, n_days: int = 160, **options: Any) -> MarketPanel:
    """The panel ``--data`` names (``parse_data``); None: the embedded synthetic market of ``n_days``
    days and ``seed``. ``options`` (``experiments.paper.fidelity.market_options``: valuation and label
    sources, a longer window) go to the SSE50 dataset: ``data`` must then be ``sse50`` or the
    shared-data root."""
    from mass_env.data.datasets import SSE50_WINDOW, load_dataset, load_named, load_panel

    choice = parse_data(data)
    if options:
        root = choice.root if choice.kind == "dataset" and choice.name == "sse50" else (
            choice.root if choice.kind == "path" and choice.root and (Path(choice.root) / SSE50_WINDOW).exists()
            else None)
        if root is None:
            raise ValueError(f"{', '.join(sorted(options))} (the paper's data conditions: valuations, labels, "
                             f"evaluation window) need the shared SSE50 data: --data sse50 or the shared-data "
                             f"root, not {data or 'the embedded synthetic market'}")
        return load_dataset("sse50", root, **{**dict(choice.options), **options})
    if choice.kind == "synthetic":
        return synthetic_market(SyntheticConfig(n_days=n_days), seed=seed)[0]
    if choice.kind == "path":
        return load_panel(str(data))
    return load_named(str(data), choice.root)


def market_for(spec: SweepMarket, seed: int, cache: dict[Any, MarketPanel] | None = None) -> MarketPanel:
    """The panel a sweep's run of ``seed`` plays on (fixed across seeds unless ``vary_market``)."""
    opts = market_options(spec.fidelity, spec.eval_skip)
    key: Any = ("data", spec.data, tuple(sorted(opts.items()))) if spec.data or opts else (
        "synthetic", spec.n_days, seed if spec.vary_market else spec.market_seed)
    if cache is not None and key in cache:
        return cache[key]
    if spec.data or opts:
        panel = load_market(spec.data, spec.market_seed, spec.n_days, **opts)
    else:
        panel = synthetic_market(SyntheticConfig(n_days=spec.n_days), seed=key[2])[0]
    if cache is not None:
        cache[key] = panel
    return panel


def market_fingerprint(panel: MarketPanel) -> str:
    """Hash of the panel's content (calendar, symbols and every array)."""
    h = hashlib.sha256()
    h.update(np.asarray(panel.dates.asi8).tobytes())
    h.update("|".join(panel.symbols).encode())
    h.update("|".join(panel.industry_names + panel.macro_names).encode())
    arrays = [panel.close, panel.adj_close, panel.open, panel.high, panel.low, panel.volume, panel.tradable,
              panel.is_st, panel.member, panel.industry, panel.industry_returns, panel.macro]
    arrays += [panel.valuation[k] for k in sorted(panel.valuation)]
    arrays += [panel.labels[h] for h in sorted(panel.labels)]
    for arr in arrays:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def synthetic_panel(n_days: int, seed: int, strength: Mapping[str, float] | None = None) -> MarketPanel:
    """The synthetic generator's market of ``n_days`` days (``strength``: None = the default signals)."""
    strength = dict(DEFAULT_STRENGTH if strength is None else strength)
    return synthetic_market(SyntheticConfig(n_days=n_days, strength=strength), seed=seed)[0]


def training_market(spec: TrainingMarket) -> MarketPanel:
    """The full panel of a training run: the synthetic market of ``spec`` or the panel at ``spec.data``."""
    if spec.data:
        return load_market(spec.data, spec.market_seed, spec.n_days)
    return synthetic_panel(spec.n_days, spec.market_seed, spec.strength)


def sse50_root(data: str | None) -> str:
    """The shared-data root that ``--data`` points at for the SSE50 data: ``sse50[:root=FOLDER]`` (read from
    ``$MASS_DATA_ROOT``) or the root folder itself; a ``ValueError`` otherwise (a table file, another
    dataset, a missing folder)."""
    from mass_env.data.datasets import SSE50_WINDOW

    choice = parse_data(data or "sse50")
    root = choice.root if choice.kind == "path" or choice.name == "sse50" else None
    if root is None or not (Path(root) / SSE50_WINDOW).exists():
        raise ValueError(f"the SSE50 data needs the shared-data root: --data sse50 (read from ${DATA_ROOT_ENV}, "
                         f"now {data_root()}) or --data ROOT; got {data!r}")
    return root


def sse50_pretraining_panel(data_root: str | Path, start: str = "2021-01-01", end: str = "2022-11-30") -> MarketPanel:
    """SSE50 stocks before the paper's window (the ``sse50-pretraining`` dataset,
    ``mass_env.data.datasets.load_sse50_pretraining``): where RL leaders for the SSE50 table train."""
    from mass_env.data.datasets import load_sse50_pretraining

    return load_sse50_pretraining(data_root, start=start, end=end)
