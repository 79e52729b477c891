"""Finished runs on disk, keyed by everything they depend on, so sweeps resume.

Each (config, seed) run is one parquet (its per-day history) and one JSON (its metadata and
``key``) under ``out/runs``. The JSON is written last, atomically, so its presence marks a complete
run: an interrupted sweep reuses what finished and recomputes the rest. ``run_key`` hashes the
config, the leader's settings, the seed, the market's and the code's fingerprints and
``FORMAT_VERSION``; a stored run is reused only under the same key, and only when the parquet's
content hash (``sha256`` of its bytes, written into the JSON) and its ``config``/``seed`` columns
still match: an edited, emptied or swapped parquet, or a JSON that is not an object, is recomputed
and the sweep says why (``RunStore.check``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import principals
from agents.llm.backends.base import scrub_tree
from agents.populations import population_identity
from experiments.sweep.configs import AblationConfig
from experiments.sweep.spec import SweepSpec

#: Version of what a run produces. The sweep's own code is not fingerprinted (``experiments.sweep.fingerprint``
#: hashes the game, ``experiments.sweep.workers``, the leader and the followers): bump this when
#: ``experiments.stats.oracle.hindsight_oracle`` or the sweep's bookkeeping change what a run produces.
FORMAT_VERSION = 1


@dataclass
class RunResult:
    """One (config, seed) episode: its tidy per-day history and its metadata."""

    config: str
    seed: int
    history: pd.DataFrame
    meta: dict[str, Any]
    reused: bool = False


def run_key(cfg: AblationConfig, seed: int, spec: SweepSpec, market_fp: str, code_fp: str) -> str:
    """Fingerprint of everything a run's result depends on (the resume cache's key)."""
    leader = principals.make(cfg.principal, **cfg.principal_options())
    settings = leader.options() if hasattr(leader, "options") else vars(leader)
    payload = {"format": FORMAT_VERSION, "config": cfg.as_dict(), "leader": settings, "seed": seed,
               "market": market_fp, "followers": population_identity(spec.followers, spec.follower_options),
               "horizon": spec.horizon,
               "eval_skip": spec.eval_skip, "code": code_fp}
    if not spec.fidelity.is_clean:  # types, aggregation rule, evaluation window (clean keys stay as they were)
        payload["fidelity"] = spec.fidelity.as_dict()
    if cfg.kind == "oracle":
        payload["oracle_budget"] = [spec.oracle_evals_per_dim, spec.oracle_max_evals]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


class RunStore:
    """One parquet + JSON per finished run under ``root/runs``; the JSON is the completion marker."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "runs"
        self.dir.mkdir(parents=True, exist_ok=True)
        #: stored runs found damaged by this store's user (the sweep), for its record
        self.damaged: list[dict[str, Any]] = []

    def _stem(self, config: str, seed: int) -> Path:
        return self.dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', config)}__seed{seed}"

    def exists(self, config: str, seed: int) -> bool:
        return self._stem(config, seed).with_suffix(".json").exists()

    def load(self, config: str, seed: int, key: str) -> RunResult | None:
        """The stored run under ``key``, or None (absent, stale or damaged: see ``check``)."""
        return self.check(config, seed, key)[0]

    def check(self, config: str, seed: int, key: str) -> tuple[RunResult | None, str | None]:
        """``(run, None)`` for a sound stored run under ``key``; ``(None, why)`` otherwise, where ``why``
        is None when nothing usable was stored, ``"stale"`` for another key, else what is damaged."""
        stem = self._stem(config, seed)
        js, pq = stem.with_suffix(".json"), stem.with_suffix(".parquet")
        if not js.exists():
            return None, None
        try:
            meta = json.loads(js.read_text())
        except (OSError, ValueError) as exc:
            return None, f"{js.name} is not readable JSON ({type(exc).__name__})"
        if not isinstance(meta, dict):
            return None, f"{js.name} holds {type(meta).__name__}, not a run record"
        if meta.get("key") != key:
            return None, "stale"
        if not pq.exists():
            return None, f"{pq.name} is missing"
        want = meta.get("parquet_sha256")
        if want is None:
            return None, f"{js.name} has no content hash (stored by an older version)"
        if file_sha256(pq) != want:
            return None, f"{pq.name} does not match its content hash (edited, emptied or replaced)"
        try:
            hist = pd.read_parquet(pq)
        except (OSError, ValueError) as exc:
            return None, f"{pq.name} is not readable ({type(exc).__name__})"
        if hist.empty or set(hist.get("config", [])) != {config} or set(hist.get("seed", [])) != {seed}:
            return None, f"{pq.name} is not the history of {config} seed {seed}"
        return RunResult(config, seed, hist, meta, reused=True), None

    def save(self, run: RunResult, key: str) -> None:
        stem = self._stem(run.config, run.seed)
        atomic_write(stem.with_suffix(".parquet"), lambda p: run.history.to_parquet(p, index=False))
        meta = scrub_tree({**run.meta, "key": key, "parquet_sha256": file_sha256(stem.with_suffix(".parquet"))})
        atomic_write(stem.with_suffix(".json"),
                     lambda p: p.write_text(json.dumps(meta, indent=2, default=to_jsonable)))


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (the stored parquet's content hash)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)`` to a temporary sibling of ``path``, then rename it over ``path``: readers see
    the old file or the complete new one, never a partial one."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def to_jsonable(x: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars and arrays and timestamps (anything else: str)."""
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (pd.Timestamp,)):
        return x.isoformat()
    return str(x)
