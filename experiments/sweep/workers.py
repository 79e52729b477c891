"""One run of the game: ``run_episode`` (any principal, any followers, through ``mass_env.rollout``,
the one episode loop) and a sweep's (config, seed) run, played here (``run_one``) or in a worker
process (``ablation_job``).

``run_one`` builds the run from its spec: the types and the aggregation rule under the paper's
conditions (``experiments.paper.fidelity``), the followers (``agents.populations``, by name and
options), the leader (``principals.make``); an oracle row is fitted after the episode
(``experiments.stats.oracle``). Evaluation starts ``eval_skip`` days after the episode's start. With
``spec.record_reports`` the run carries the game's views and reports (``RunResult.reports``) to store.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import principals
from agents.populations import POPULATIONS, make_followers
from experiments.paper.fidelity import episode_window, game_rule, types_for
from experiments.stats.oracle import hindsight_oracle, oracle_history
from experiments.stats.report import TABLE_COMPONENTS
from experiments.sweep.configs import AblationConfig
from experiments.sweep.markets import market_fingerprint, market_for
from experiments.sweep.spec import SweepSpec
from experiments.sweep.store import RunResult
from mass_env.data.panel import MarketPanel
from mass_env.data.quality import DataQualityWarning
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.game.metrics import REPORTED_METRICS, summarize
from mass_env.registry import import_modules
from mass_env.roles import Principal
from mass_env.rollout import rollout

#: ``progress(done, total, label)`` after each day (``experiments.run.print_progress``)
Progress = Callable[[int, int, str], None]
StepHook = Callable[[MassStackelbergEnv, Mapping[str, float]], None]


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


def run_one(cfg: AblationConfig, seed: int, panel: MarketPanel, spec: SweepSpec) -> RunResult:
    """Play one (config, seed) episode and return its tidy per-day history."""
    t0 = time.perf_counter()
    fid = spec.fidelity  # the paper's conditions (experiments.paper.fidelity); clean by default
    types = types_for(cfg, fid, seed)
    env = MassStackelbergEnv(panel, types, GameConfig(horizon=spec.horizon, turnover_penalty=cfg.turnover_penalty,
                                                      report_horizons=spec.report_horizons,
                                                      rule=game_rule(fid)))  # type: ignore[arg-type]
    followers = make_followers(spec.followers, env, seed, **spec.follower_options)
    leader = principals.make(cfg.principal, **cfg.principal_options())
    res = run_episode(env, leader, followers, seed=seed, eval_skip=spec.eval_skip, label=cfg.name,
                      options=episode_window(panel, fid, spec.eval_skip))
    meta: dict[str, Any] = {"config": cfg.as_dict(), "seed": seed,
                            "principal": getattr(leader, "options", lambda: {"name": leader.name})(),
                            "episode_days": int(env.game.n_steps), "first_day": int(env.game.start),
                            "types": [t.name + f" x{t.n_agents}" for t in types]}
    if cfg.kind == "oracle":
        fits = hindsight_oracle(env.game, eval_skip=spec.eval_skip, components=TABLE_COMPONENTS,
                                horizons=spec.report_horizons,
                                evals_per_dim=spec.oracle_evals_per_dim, max_evals=spec.oracle_max_evals,
                                seed=seed)
        if not fits:
            raise ValueError("the episode is too short for an evaluation period (oracle)")
        hist = oracle_history(env.game, fits, ("signal", spec.horizon))
        hist["eval"] = True
        meta["oracle"] = {f"{c}_{h}d": {"weights": f.weights.round(6).tolist(), "alpha": f.alpha,
                                        "value": f.value, "equal_weights_value": f.equal_value}
                          for (c, h), f in fits.items()}
    else:
        hist = res.history.copy()
        hist["eval"] = np.arange(len(hist)) >= spec.eval_skip
        log = getattr(leader, "log", None)
        if log:
            meta["search"] = {"days_optimised": len(log),
                              "evaluations_per_day": float(np.mean([g.evaluations for g in log])),
                              "scorer_calls_per_day": float(np.mean([g.scorer_calls for g in log]))}
    hist.insert(0, "seed", seed)
    hist.insert(0, "config", cfg.name)
    report = getattr(followers, "report", None)
    if callable(report):
        meta["followers"] = report()
    reports = None
    if spec.record_reports:  # every agent's view and report per day, stored beside the run
        reports = env.game.report_log.to_frame()
        meta["reports"] = {"n_agents": int(env.game.agent_type.size), "n_stocks": int(panel.n_symbols),
                           "agent_type": env.game.agent_type.tolist()}
    meta["wall_s"] = time.perf_counter() - t0
    return RunResult(cfg.name, seed, hist, meta, reports=reports)




_WORKER_MARKETS: dict[Any, MarketPanel] = {}


def ablation_job(cfg: AblationConfig, seed: int, spec: SweepSpec, modules: tuple[str, ...] = (),
                 paths: tuple[str, ...] = ()) -> tuple[RunResult, str]:
    """One (config, seed) episode in a worker: ``(RunResult, market fingerprint)``.

    ``modules`` (``SweepSpec.plugin_modules()``, computed by the parent) are imported first, from
    ``sys.path`` plus ``paths`` (``SweepSpec.plugin_paths()``: where the parent found them): they
    register the sweep's leaders and followers, user plugins and ``module:Attr`` leaders included.

    The worker builds the market itself (cached per process) rather than receiving it pickled;
    the parent checks its fingerprint against its own, so a nondeterministic loader cannot go
    unnoticed.
    """
    import_modules(modules, paths)
    if spec.followers not in POPULATIONS:
        raise ValueError(f"followers {spec.followers!r} are not registered in the worker process: "
                         "register them at import time of a module the worker imports, or run serially")
    with warnings.catch_warnings():  # the parent loaded the same market and already showed its data faults
        warnings.simplefilter("ignore", DataQualityWarning)
        panel = market_for(spec, seed, _WORKER_MARKETS)
    return run_one(cfg, seed, panel, spec), market_fingerprint(panel)
