"""Play one episode of the game with any principal and any followers (through ``mass_env.rollout``,
the one episode loop), and summarise it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mass_env.env import MassStackelbergEnv
from mass_env.game.metrics import REPORTED_METRICS, summarize
from mass_env.roles import Principal
from mass_env.rollout import rollout

Progress = Callable[[int, int, str], None]
StepHook = Callable[[MassStackelbergEnv, Mapping[str, float]], None]


def print_progress(every: int = 20, stream: Any = None) -> Progress:
    """A progress callback printing one line every ``every`` days (to stderr by default)."""
    out = stream or sys.stderr
    start = time.perf_counter()

    def report(done: int, total: int, label: str) -> None:
        if done == total or done % every == 0:
            el = time.perf_counter() - start
            print(f"  {label}: day {done}/{total} ({el:.1f}s)", file=out, flush=True)

    return report


@dataclass
class EpisodeResult:
    history: pd.DataFrame
    summary: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)


def run_episode(env: MassStackelbergEnv, principal: Principal, followers: Mapping[str, Any], *,
                seed: int = 0, eval_skip: int = 21, progress: Progress | None = None,
                label: str = "episode", options: Mapping[str, Any] | None = None,
                on_step: StepHook | None = None) -> EpisodeResult:
    """Run a full episode; evaluation starts ``eval_skip`` days after the episode start (warm-up).

    ``on_step(env, rewards)``, when given, sees every step's rewards right after the leader has
    observed the payments: the place for followers that learn online.
    """
    hook = None if on_step is None else (lambda tr: on_step(env, tr.rewards))
    rollout(env, principal, followers, seed=seed, options=options, on_step=hook, progress=progress, label=label)
    hist = env.game.history()
    return EpisodeResult(hist, summarise_history(hist, eval_skip), {"principal": principal.name})


def summarise_history(hist: pd.DataFrame, eval_skip: int = 21) -> dict[str, float]:
    """Mean of every reported daily metric (and its IR, ``ricir_...`` for ``ric_...``) per component and
    horizon over the evaluation days."""
    ev = hist.iloc[eval_skip:]
    out: dict[str, float] = {"eval_days": float(len(ev))}
    for prefix in REPORTED_METRICS:
        for col in [c for c in hist.columns if c.startswith(prefix + "_")]:
            s = summarize(ev[col].to_numpy())
            out[col] = s.mean
            out[prefix + "ir_" + col[len(prefix) + 1:]] = s.ir
    out["mean_turnover"] = float(ev["turnover"].mean()) if len(ev) else np.nan
    paid = ev["payoff"].dropna()
    out["mean_payoff"] = float(paid.mean()) if len(paid) else np.nan
    return out
