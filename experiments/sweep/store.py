"""Finished runs on disk, keyed by everything they depend on, so sweeps resume.

Each (config, seed) run is one parquet (its per-day history) and one JSON (its metadata and
``key``) under ``out/runs``. The JSON is written last, atomically, so its presence marks a complete
run: an interrupted sweep reuses what finished and recomputes the rest. ``run_key`` hashes the
config, the leader's settings, the seed, the market's and the code's fingerprints and
``FORMAT_VERSION``; a stored run is reused only under the same key, and only when the parquet's
content hash (``sha256`` of its bytes, written into the JSON) and its ``config``/``seed`` columns
still match: an edited, emptied or swapped parquet, or a JSON that is not an object, is recomputed
and the sweep says why (``RunStore.check``).

With ``SweepSpec.record_reports`` a run also keeps every agent's view and report per day
(``mass_env.game.reports.ReportLog.to_frame``: day, agent, stock, view, report, only the cells an agent
looked at, float32) as ``CONFIG__seedS.reports.parquet``, hashed into the JSON like the history;
``load_reports`` reads it back as a ``ReportLog``.
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
from mass_env.game.reports import ReportLog

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
    #: the run's views and reports (``ReportLog.to_frame()``) to store, or None; a loaded run leaves it None
    #: and says in ``meta["reports"]`` whether its file is stored (``load_reports`` reads it)
    reports: pd.DataFrame | None = None

    @property
    def has_reports(self) -> bool:
        return self.reports is not None or "reports" in self.meta


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
        return _stem(self.dir, config, seed)

    def exists(self, config: str, seed: int) -> bool:
        return _file(self._stem(config, seed), ".json").exists()

    def load(self, config: str, seed: int, key: str) -> RunResult | None:
        """The stored run under ``key``, or None (absent, stale or damaged: see ``check``)."""
        return self.check(config, seed, key)[0]

    def check(self, config: str, seed: int, key: str) -> tuple[RunResult | None, str | None]:
        """``(run, None)`` for a sound stored run under ``key``; ``(None, why)`` otherwise, where ``why``
        is None when nothing usable was stored, ``"stale"`` for another key, else what is damaged."""
        stem = self._stem(config, seed)
        js, pq = _file(stem, ".json"), _file(stem, ".parquet")
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
        rep = meta.get("reports")
        if rep is not None:
            rp = self.reports_path(config, seed)
            if not isinstance(rep, dict) or not rp.exists() or file_sha256(rp) != rep.get("sha256"):
                return None, f"{rp.name} is missing or does not match its content hash"
        return RunResult(config, seed, hist, meta, reused=True), None

    def reports_path(self, config: str, seed: int) -> Path:
        """Where a run's views and reports are stored (present only for runs stored with them)."""
        return _reports_path(_stem(self.dir, config, seed))

    def save(self, run: RunResult, key: str) -> None:
        stem = self._stem(run.config, run.seed)
        atomic_write(_file(stem, ".parquet"), lambda p: run.history.to_parquet(p, index=False))
        extra: dict[str, Any] = {}
        rp = self.reports_path(run.config, run.seed)
        if run.reports is not None:
            frame = run.reports
            atomic_write(rp, lambda p: frame.to_parquet(p, index=False, compression="zstd"))
            extra["reports"] = {**run.meta.get("reports", {}), "rows": len(frame), "bytes": rp.stat().st_size,
                                "sha256": file_sha256(rp)}
        elif rp.exists():  # a recomputed run without reports: no stale file beside it
            rp.unlink()
        meta = scrub_tree({**run.meta, **extra, "key": key,
                           "parquet_sha256": file_sha256(_file(stem, ".parquet"))})
        atomic_write(_file(stem, ".json"),
                     lambda p: p.write_text(json.dumps(meta, indent=2, default=to_jsonable)))


@dataclass
class StoredReports:
    """A stored run's views and reports: the ``ReportLog`` and each agent's investor type."""

    log: ReportLog
    agent_type: np.ndarray  # (agents,) type id of each agent

    @property
    def n_types(self) -> int:
        return int(self.agent_type.max()) + 1 if self.agent_type.size else 0

    def type_means(self, which: str = "views") -> np.ndarray:
        """(types, days, stocks): each type's mean view (or report) over its agents that looked."""
        return self.log.type_means(self.agent_type, self.n_types, which)


def load_reports(out: str | os.PathLike[str], config: str, seed: int) -> StoredReports:
    """The views and reports of run (``config``, ``seed``) of the sweep stored under ``out`` (its ``--out``);
    a clear error when the run was stored without them (rerun with ``--record-reports``)."""
    stem = _stem(Path(out) / "runs", config, seed)
    js = _file(stem, ".json")
    try:
        meta = json.loads(js.read_text())
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"no stored run {config} seed {seed} under {out} ({type(exc).__name__})") from None
    rep = meta.get("reports") if isinstance(meta, dict) else None
    if not isinstance(rep, dict):
        raise FileNotFoundError(f"run {config} seed {seed} under {out} was stored without its views and reports; "
                                f"rerun the sweep with --record-reports (record_reports=True)")
    rp = _reports_path(stem)
    if not rp.exists() or file_sha256(rp) != rep.get("sha256"):
        raise ValueError(f"{rp} is missing or does not match the content hash in {js.name}")
    log = ReportLog.from_frame(pd.read_parquet(rp), int(rep["n_agents"]), int(rep["n_stocks"]))
    return StoredReports(log, np.asarray(rep["agent_type"], dtype=np.int64))


def _stem(runs_dir: Path, config: str, seed: int) -> Path:
    return runs_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', config)}__seed{seed}"


def _file(stem: Path, ext: str) -> Path:
    """``stem`` + ``ext`` (not ``with_suffix``, which would cut a config name at its last dot: ``x0.5``)."""
    return stem.with_name(stem.name + ext)


def _reports_path(stem: Path) -> Path:
    return _file(stem, ".reports.parquet")


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


def read_json(path: Path) -> dict[str, Any] | None:
    """A stored JSON object, or None when it is absent or unreadable (the caller computes it again)."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """``obj`` as JSON (NumPy values included, ``to_jsonable``), written atomically."""
    text = json.dumps(obj, default=to_jsonable)
    atomic_write(Path(path), lambda p: p.write_text(text))


def to_jsonable(x: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars and arrays and timestamps (anything else: str)."""
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (pd.Timestamp,)):
        return x.isoformat()
    return str(x)
