"""Run an ablation sweep: every (config, seed) episode on any executor, resumable, then its files.

The paper's ablation (configs A-F, E-512, A-512) over seeds, with baselines, a table and a plot
(``run_ablation``):

* **Market.** The embedded synthetic market (``SyntheticConfig(n_days=160)``, market seed 0) unless
  ``data`` names a panel (``experiments.markets``). The market is held fixed across seeds by default
  (``vary_market=False``): seeds vary the followers' randomness and the optimisers' randomness, which
  is the variability the paper reports (LLM sampling, candidate draws). ``vary_market=True`` draws a
  synthetic market per seed.
* **Runs.** Every (config, seed) is one episode of the game (``experiments.runner.run_episode``):
  followers from ``agents.populations`` (name and options), the leader from ``principals.make``, the game with the
  config's population and turnover penalty. Evaluation starts ``eval_skip`` = 21 trading days (one
  month) after the episode's first day; the warm-up is excluded from every number.
* **Executors.** The runs not already stored go to ``executor`` (``experiments.executors``: a
  process pool, Ray) or, without one, run here one after another. Each finished run is stored as
  soon as it arrives, so an interrupted sweep, serial or parallel, resumes without recomputing it.
  All randomness flows from the seeds: every executor gives the serial sweep's numbers.
* **Conditions.** ``spec.fidelity`` (``experiments.fidelity``; clean by default, ``paper`` as the paper's
  code ran) decides the types (explicit or the engine's merged draws), the aggregation rule, the market's
  valuation and label sources and the evaluation window (``episode_window``); ``fidelity.apply`` has
  already put its follower and leader options into the spec.
* **Baselines.** Equal weights, optionally random weights, and the hindsight oracle
  (``experiments.oracle``), labelled "oracle (hindsight upper bound)".
* **Table.** ``experiments.report``: mean +- std over seeds and paired bootstrap CIs vs the reference.
* **Files** (``out``): ``runs/`` (``experiments.store``: one parquet + JSON per run, keyed by a
  fingerprint of everything the run depends on, so a changed setting, market or
  game/leader/follower code recomputes), ``daily.parquet`` (tidy per-day Rank ICs of every run),
  ``weights.parquet`` (tidy applied weights d_t per type and day), ``runs.csv`` (per-run means),
  ``table.csv``, ``ablation.json`` (full configuration, versions, executor, table) and
  ``ablation.png`` (``experiments.plots``; only when matplotlib is installed).

A rerun with the same settings and seeds is identical.
"""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import principals
from agents.populations import POPULATIONS, make_followers
from mass_env.data.panel import MarketPanel
from mass_env.data.quality import DataQualityWarning
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.game.components import ric_column
from mass_env.registry import import_modules

from .checks import check_fits, writable_dir
from .configs import AblationConfig
from .fidelity import episode_window, game_rule, types_for
from .fingerprint import code_fingerprint, run_sources, versions
from .markets import market_fingerprint, market_for
from .oracle import hindsight_oracle, oracle_history
from .plots import plot_ablation
from .report import TABLE_COMPONENTS, ablation_table, format_table, summarise_runs
from .runner import run_episode
from .spec import SweepSpec
from .store import RunResult, RunStore, atomic_write, run_key, to_jsonable

if TYPE_CHECKING:  # the executors are generic: the sweep only calls .map on one
    from .executors import Executor

Progress = Callable[[str], None]
STALE = " (stored run was stale: settings or code changed)"


def rerun_reason(meta: dict[str, Any], retry_failed: bool = False) -> str | None:
    """Why a stored run cannot be reused although its key matches: its followers got no answer for
    some agent-days (a server was down: the next run asks again), or ``retry_failed`` asks again for
    the bad answers it holds. ``None``: the run is complete."""
    f = meta.get("followers") or {}
    unanswered = int(f.get("unanswered", 0) or 0)
    if unanswered:
        return f"{unanswered} agent-day(s) had no answer"
    failed = int(f.get("failed_agent_days", 0) or 0)
    if retry_failed and failed:
        return f"{failed} failed answer(s), asked again (retry failed)"
    return None


def answers_summary(results: list[RunResult]) -> dict[str, Any] | None:
    """Follower answers over all runs (LLM followers report them; ``None`` for others): how many
    agent-days, how many failed, per status, how many had no answer and which runs are incomplete."""
    reports = [(r, r.meta.get("followers")) for r in results]
    reports = [(r, f) for r, f in reports if isinstance(f, dict) and "agent_days" in f]
    if not reports:
        return None
    by_status: dict[str, int] = {}
    for _, f in reports:
        for k, v in (f.get("by_status") or {}).items():
            by_status[k] = by_status.get(k, 0) + int(v)
    total = sum(int(f["agent_days"]) for _, f in reports)
    failed = sum(int(f.get("failed_agent_days", 0)) for _, f in reports)
    return {"agent_days": total, "failed": failed, "failed_share": failed / total if total else 0.0,
            "unanswered": sum(int(f.get("unanswered", 0) or 0) for _, f in reports),
            "by_status": {k: v for k, v in by_status.items() if v},
            "damaged_cache_rows": sum(int((f.get("cache") or {}).get("damaged", 0)) for _, f in reports),
            "incomplete_runs": [[r.config, r.seed] for r, f in reports if rerun_reason(r.meta)]}


def run_one(cfg: AblationConfig, seed: int, panel: MarketPanel, spec: SweepSpec) -> RunResult:
    """Play one (config, seed) episode and return its tidy per-day history."""
    t0 = time.perf_counter()
    fid = spec.fidelity  # the paper's conditions (experiments.fidelity); clean by default
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
    meta["wall_s"] = time.perf_counter() - t0
    return RunResult(cfg.name, seed, hist, meta)


@dataclass
class AblationResult:
    """A finished sweep: its frames and table, what it computed or reused, its files."""

    spec: SweepSpec
    daily: pd.DataFrame
    weights: pd.DataFrame
    runs: pd.DataFrame
    table: pd.DataFrame
    computed: list[tuple[str, int]] = field(default_factory=list)
    reused: list[tuple[str, int]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    answers: dict[str, Any] | None = None  # answers_summary: follower answers and failures (LLM followers)
    damaged: list[dict[str, Any]] = field(default_factory=list)  # stored runs found damaged and recomputed

    def format(self) -> str:
        return format_table(self.table, reference=self.spec.reference, ci=self.spec.ci,
                            headline=ric_column("signal", self.spec.horizon), horizons=self.spec.report_horizons)


def _weights_long(hist: pd.DataFrame) -> pd.DataFrame:
    wcols = [c for c in hist.columns if re.fullmatch(r"w_\d+", c)]
    long = hist[["config", "seed", "day", "date", *wcols]].melt(
        id_vars=["config", "seed", "day", "date"], value_vars=wcols, var_name="type", value_name="weight")
    long["type"] = long["type"].str[2:].astype(int)
    return long


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


def _code_fingerprints(spec: SweepSpec) -> dict[str, str]:
    return {c.name: code_fingerprint(run_sources(c, spec.followers)) for c in spec.configs}


def _run_jobs(spec: SweepSpec, store: RunStore, code_fps: dict[str, str], markets: dict[Any, MarketPanel],
              executor: Executor | None, resume: bool, say: Progress
              ) -> tuple[list[RunResult], list[tuple[str, int]], list[tuple[str, int]]]:
    """Every (config, seed) run, in sweep order: stored ones loaded, the others computed and stored as
    they finish. Returns the runs, the computed and the reused (config, seed) pairs."""
    fps: dict[int, str] = {}
    jobs = [(cfg, s) for cfg in spec.configs for s in spec.seeds]
    damaged = store.damaged
    runs: list[RunResult | None] = [None] * len(jobs)
    todo: list[tuple[int, str, str]] = []  # (job, key, why a stored run was not reused: a note or "")
    retry_failed = bool(spec.follower_options.get("retry_failed", False))
    for i, (cfg, seed) in enumerate(jobs):
        panel = market_for(spec, seed, markets)
        if id(panel) not in fps:
            fps[id(panel)] = market_fingerprint(panel)
        key = run_key(cfg, seed, spec, fps[id(panel)], code_fps[cfg.name])
        loaded, why = store.check(cfg.name, seed, key) if resume else (None, None)
        if why not in (None, "stale"):
            damaged.append({"config": cfg.name, "seed": seed, "problem": why})
            warnings.warn(f"stored run {cfg.name} seed {seed} is damaged ({why}): recomputing it",
                          RuntimeWarning, stacklevel=2)
        incomplete = rerun_reason(loaded.meta, retry_failed) if loaded is not None else None
        runs[i] = None if incomplete else loaded
        if runs[i] is None:
            todo.append((i, key, f" (stored run was incomplete: {incomplete})" if incomplete
                         else "" if why is None else STALE if why == "stale"
                         else f" (stored run was damaged: {why}; recomputed)"))

    head = ric_column("signal", spec.horizon)
    done = 0

    def report(i: int, run: RunResult, status: str) -> None:
        nonlocal done
        done += 1
        ev = run.history[run.history["eval"]]
        val = float(ev[head].mean()) if head in ev else float("nan")
        f = run.meta.get("followers") or {}
        failed = int(f.get("failed_agent_days", 0) or 0) if isinstance(f, dict) else 0
        if failed:
            worst = sorted(((n, k) for k, n in f.get("by_status", {}).items() if k != "ok" and n), reverse=True)
            status += (f", {failed}/{f.get('agent_days')} answers failed ("
                       + ", ".join(f"{k} {n}" for n, k in worst) + ")")
        say(f"[{done:>{len(str(len(jobs)))}}/{len(jobs)}] {jobs[i][0].name} seed {jobs[i][1]}: {status}, "
            f"{head} {val:+.4f}")

    def on_result(j: int, result: tuple[RunResult, str]) -> None:
        run, worker_fp = result
        i, key, note = todo[j]
        cfg, seed = jobs[i]
        panel = market_for(spec, seed, markets)
        fp = fps[id(panel)]
        if worker_fp != fp:
            raise RuntimeError(f"{cfg.name} seed {seed}: the worker built a different market "
                               f"(fingerprint {worker_fp} != {fp}); the market loader is not deterministic")
        run.meta["market"] = {"fingerprint": fp, "name": panel.name}
        store.save(run, key)
        runs[i] = run
        report(i, run, f"{run.meta['wall_s']:.1f}s" + note)

    for i, loaded in enumerate(runs):
        if loaded is not None:
            report(i, loaded, "reused")
    if executor is None:  # here, on this process's markets
        for j, (i, _, _) in enumerate(todo):
            cfg, seed = jobs[i]
            panel = market_for(spec, seed, markets)
            on_result(j, (run_one(cfg, seed, panel, spec), fps[id(panel)]))
    else:
        say(f"{len(jobs)} runs: {len(jobs) - len(todo)} reused, {len(todo)} to compute on {executor!r}")
        modules, paths = spec.plugin_modules(), spec.plugin_paths()
        executor.map(ablation_job, [(*jobs[i], spec, modules, paths) for i, _, _ in todo], on_result=on_result)
    if todo and _code_fingerprints(spec) != code_fps:
        say("warning: source files changed during the sweep; its runs are stored under the keys of the code "
            "as it was when the sweep started, so a rerun recomputes them with the new code")
    computed = [(jobs[i][0].name, jobs[i][1]) for i, _, _ in todo]
    reused = [(c.name, s) for (c, s), r in zip(jobs, runs) if r is not None and r.reused]
    return [r for r in runs if r is not None], computed, reused


def _frames(results: list[RunResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy ``daily`` (per-day Rank ICs, no weights) and ``weights`` frames of all runs."""
    hists = [r.history for r in results]
    weights = pd.concat([_weights_long(h) for h in hists], ignore_index=True)
    keep = [c for c in hists[0].columns if not re.fullmatch(r"w_\d+", c)]
    daily = pd.concat([h[[c for c in h.columns if not re.fullmatch(r"w_\d+", c)]] for h in hists],
                      ignore_index=True)
    daily = daily[[c for c in keep if c in daily.columns] + [c for c in daily.columns if c not in keep]]
    return daily, weights


def run_ablation(spec: SweepSpec, out: str | Path, *, executor: Executor | None = None, resume: bool = True,
                 plot: bool = True, progress: Progress | None = None) -> AblationResult:
    """Run (or resume) a sweep, write its files under ``out`` and return the table.

    Runs already in the store under the same key are reused when ``resume``; the others run on
    ``executor`` (None: here, one after another) and are stored as each one finishes.
    ``computed`` / ``reused`` / ``wall_s`` of the result (also in ``ablation.json``) are this call's.
    """
    t_start = time.perf_counter()
    out = writable_dir(out)
    say = progress or (lambda msg: None)
    markets: dict[Any, MarketPanel] = {}
    first_market = market_for(spec, spec.seeds[0], markets)
    check_fits(first_market.n_days, spec.horizon, spec.eval_skip, warmup=GameConfig().warmup_days,
               what=spec.data or f"the embedded synthetic market (n_days={spec.n_days})")
    code_fps = _code_fingerprints(spec)
    store = RunStore(out)
    results, computed, reused = _run_jobs(spec, store, code_fps, markets, executor, resume, say)
    daily, weights = _frames(results)
    per_run = summarise_runs(daily)
    table = ablation_table(daily, spec.configs, reference=spec.reference, n_boot=spec.n_boot, ci=spec.ci,
                           horizons=spec.report_horizons)

    files: dict[str, str] = {}
    daily_p, weights_p = out / "daily.parquet", out / "weights.parquet"
    atomic_write(daily_p, lambda p: daily.to_parquet(p, index=False))
    atomic_write(weights_p, lambda p: weights.to_parquet(p, index=False))
    atomic_write(out / "runs.csv", lambda p: per_run.to_csv(p, index=False))
    atomic_write(out / "table.csv", lambda p: table.to_csv(p, index=False))
    files.update(daily=str(daily_p), weights=str(weights_p), runs=str(out / "runs.csv"),
                 table=str(out / "table.csv"))
    if plot:
        png = plot_ablation(daily, weights, table, out / "ablation.png",
                            headline=ric_column("signal", spec.horizon))
        if png is not None:
            files["plot"] = str(png)
        else:
            say("matplotlib is not installed: no plot (pip install 'mass-mechanism[plot]')")
    panel0 = market_for(spec, spec.seeds[0], markets)
    first = results[0].meta
    ev0 = results[0].history[results[0].history["eval"]]
    wall = time.perf_counter() - t_start
    answers = answers_summary(results)
    summary = {
        "spec": spec.as_dict(),
        "market": {"name": panel0.name, "summary": panel0.summary(),
                   "source": spec.data or f"embedded synthetic market (SyntheticConfig(n_days={spec.n_days}), "
                                          f"seed {'= run seed' if spec.vary_market else spec.market_seed})"},
        "evaluation": {"first_eval_date": str(pd.Timestamp(ev0["date"].min()).date()) if len(ev0) else None,
                       "eval_skip_days": spec.eval_skip, "episode_days": first.get("episode_days"),
                       "note": "evaluation starts eval_skip trading days after the episode's first day; "
                               "the oracle row is a hindsight upper bound"},
        "timing": "leaders commit at the close of day t for day t+1, fitted on the last 5 days whose "
                  "5-day return has realised (t-10..t-6 with execution lag 1; MASS: t-9..t-5)",
        "versions": versions(), "code_fingerprints": code_fps, "command": sys.argv,
        "computed": computed, "reused": reused, "recomputed_damaged": store.damaged, "wall_s": wall,
        "principals": {c.name: next((r.meta.get("principal") for r in results if r.config == c.name), None)
                       for c in spec.configs},
        "table": table.to_dict(orient="records"), "files": files, "follower_answers": answers,
        "executor": ({"name": "serial", "workers": 1} if executor is None
                     else {"name": executor.name, "workers": getattr(executor, "workers", None)}),
    }
    atomic_write(out / "ablation.json", lambda p: p.write_text(json.dumps(summary, indent=2, default=to_jsonable)))
    files["json"] = str(out / "ablation.json")
    return AblationResult(spec, daily, weights, per_run, table, computed, reused, files, wall, answers,
                          store.damaged)


def run_ablation_parallel(spec: SweepSpec, out: str | Path, executor: Executor | None = None, *,
                          resume: bool = True, plot: bool = True, progress: Progress | None = None
                          ) -> AblationResult:
    """Deprecated (removed in 0.3): ``run_ablation(spec, out, executor=executor, ...)``."""
    warnings.warn("run_ablation_parallel is deprecated and will be removed in 0.3; use "
                  "experiments.sweep.run_ablation(spec, out, executor=executor)", DeprecationWarning, stacklevel=2)
    return run_ablation(spec, out, executor=executor, resume=resume, plot=plot, progress=progress)
