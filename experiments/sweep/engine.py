"""Run an ablation sweep: every (config, seed) episode on any executor, resumable, then its files.

The paper's ablation (configs A-F, E-512, A-512) over seeds, with baselines, a table and a plot
(``run_ablation``):

* **Market.** The embedded synthetic market (``SyntheticConfig(n_days=160)``, market seed 0) unless
  ``data`` names a panel (``experiments.sweep.markets``). The market is held fixed across seeds by default
  (``vary_market=False``): seeds vary the followers' randomness and the optimisers' randomness, which
  is the variability the paper reports (LLM sampling, candidate draws). ``vary_market=True`` draws a
  synthetic market per seed.
* **Runs.** Every (config, seed) is one episode of the game (``experiments.sweep.workers.run_one``):
  followers from ``agents.populations`` (name and options), the leader from ``principals.make``, the game with the
  config's population and turnover penalty. Evaluation starts ``eval_skip`` = 21 trading days (one
  month) after the episode's first day; the warm-up is excluded from every number.
* **Executors.** The runs not already stored go to ``executor`` (``experiments.parallel.executors``: a
  process pool, Ray) or, without one, run here one after another. Each finished run is stored as
  soon as it arrives, so an interrupted sweep, serial or parallel, resumes without recomputing it.
  All randomness flows from the seeds: every executor gives the serial sweep's numbers.
* **Conditions.** ``spec.fidelity`` (``experiments.paper.fidelity``; clean by default, ``paper`` as the
  paper's code ran) decides the types (explicit or the engine's merged draws), the aggregation rule, the
  market's valuation and label sources and the evaluation window (``episode_window``); the spec has
  already put its follower and leader options into its configs (``SweepSpec``).
* **Baselines.** Equal weights, optionally random weights, and the hindsight oracle
  (``experiments.stats.oracle``), labelled "oracle (hindsight upper bound)".
* **Table.** ``experiments.stats.report``: means with their CIs, the sd over seeds, and the CIs of the
  differences to the reference (``experiments.stats.inference.difference_ci``).
* **Files** (``out``): ``runs/`` (``experiments.sweep.store``: one parquet + JSON per run, keyed by a
  fingerprint of everything the run depends on, so a changed setting, market or
  game/leader/follower code recomputes), ``daily.parquet`` (tidy per-day Rank ICs of every run),
  ``weights.parquet`` (tidy applied weights d_t per type and day), ``runs.csv`` (per-run means; its
  columns are explained in ``experiments.stats.report``),
  ``table.csv``, ``ablation.json`` (full configuration, versions, executor, table) and
  ``ablation.png`` (``experiments.stats.plots``; only when matplotlib is installed).
* **Views and reports** (``spec.record_reports``, ``--record-reports``): each run also stores every agent's
  view and report per day beside its history (``experiments.sweep.store.load_reports`` reads them back).
  A stored run without them is replayed once to record them (the same seeds give the same history); one
  stored with them is reused by any later sweep, with or without the flag.

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

import pandas as pd

from agents.llm.accounting import answers_summary, rerun_reason
from agents.llm.backends.base import scrub_tree
from experiments.stats.plots import plot_ablation
from experiments.stats.report import ablation_table, format_table, summarise_runs
from experiments.sweep.checks import check_bootstrap, check_fits, check_population, writable_dir
from experiments.sweep.fingerprint import code_fingerprint, run_sources, versions
from experiments.sweep.markets import market_fingerprint, market_for
from experiments.sweep.spec import SweepSpec
from experiments.sweep.store import RunResult, RunStore, atomic_write, run_key, to_jsonable
from experiments.sweep.workers import ablation_job, run_one
from mass_env.data.panel import MarketPanel
from mass_env.game import GameConfig
from mass_env.game.components import ric_column

if TYPE_CHECKING:  # the executors are generic: the sweep only calls .map on one
    from experiments.parallel.executors import Executor

Progress = Callable[[str], None]
STALE = " (stored run was stale: settings or code changed)"
NO_REPORTS = " (stored run had no views and reports: replayed to record them)"


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
        no_reports = spec.record_reports and loaded is not None and not loaded.has_reports
        runs[i] = None if incomplete or no_reports else loaded
        if runs[i] is None:
            todo.append((i, key, f" (stored run was incomplete: {incomplete})" if incomplete
                         else NO_REPORTS if no_reports
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
    for cfg in spec.configs:  # sizes before any allocation (and before minutes of runs)
        check_population(cfg.n_types, cfg.agents_per_type, first_market.n_symbols, f"config {cfg.name}")
    if spec.n_boot:
        check_bootstrap(spec.n_boot, len(spec.seeds), first_market.n_days)
    code_fps = _code_fingerprints(spec)
    store = RunStore(out)
    results, computed, reused = _run_jobs(spec, store, code_fps, markets, executor, resume, say)
    daily, weights = _frames(results)
    per_run = summarise_runs(daily)
    table = ablation_table(daily, spec.configs, reference=spec.reference, ci=spec.ci,
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
    summary = scrub_tree(summary)  # URLs and flags can carry credentials: never into a file people share
    atomic_write(out / "ablation.json", lambda p: p.write_text(json.dumps(summary, indent=2, default=to_jsonable)))
    files["json"] = str(out / "ablation.json")
    return AblationResult(spec, daily, weights, per_run, table, computed, reused, files, wall, answers,
                          store.damaged)
