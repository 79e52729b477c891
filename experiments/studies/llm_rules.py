"""How much does each payment rule move LLM followers' reports toward the consensus? (``mass incentives
--responders llm``.)

Per rule and seed the game is played on ``--data`` with an equal-weight leader, the rule as the followers'
pay (``GameConfig.follower_reward``) and LLM followers told the rule (``agents.llm.told``: each agent's
report is asked with the rule, its type's recent pay and yesterday's consensus shown; its view with
``proper`` and neither shown). From the recorded views and reports, per day from the episode's second
(the first has no consensus to show):

* **shift**: mean |report - view| over the agents' rated stocks (signal units, [-1, 1] = ratings 1..5);
* **toward**: mean sign(consensus - view) x (report - view) over the rated stocks with a consensus shown: how
  far the report moved toward the consensus (positive) or away from it (negative);
* **herding**: the incentives herding index (``mass_env.incentives.metrics.herding_index``) per agent against
  the consensus it was shown, corr(report, consensus) - corr(view, consensus), mean over the agents.

Each row gives the means over the played days (all seeds pooled) with a 95% Student-t CI over those days.
Rows are stored one JSON each under ``--out/rows`` (keyed by the rule, seed, days, LLM identity and prompt
version) and reused on rerun; the model's answers are in the response cache, so a rerun with a new ``--out``
and ``--llm-replay`` rebuilds the rows without a request.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from experiments.stats.inference import mean_ci as ci
from experiments.sweep import checks
from experiments.sweep.store import read_json, write_json

VERSION = 2
COLUMNS = ("shift", "toward", "herding")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the LLM rows (``--responders llm``) and the ``--llm-*`` options ``mass ablation`` takes."""
    from agents.llm.options import add_arguments as add_llm_arguments

    g = p.add_argument_group("LLM rows (--responders llm, with --data)")
    g.add_argument("--llm-days", type=checks.positive_int, default=5,
                   help="days each LLM episode plays, from the first playable day (default 5)")
    g.add_argument("--llm-horizon", type=checks.positive_int, default=1,
                   help="payoff horizon of the LLM games in days (default 1: pay is shown within a short episode)")
    add_llm_arguments(p)


def _llm_options(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from agents.llm.options import population_options

    if args.llm_output != "score":
        raise SystemExit("mass incentives: error: --responders llm needs --llm-output score (a report's shift from "
                         "its view is measured on the rating, not on a top-5 pick)")
    opts = population_options(args, out)
    opts.pop("output")
    return opts


def identity(args: argparse.Namespace, opts: dict[str, Any]) -> dict[str, Any]:
    """What a row's answers depend on (the cache file and mode left out)."""
    from agents.llm.follower import llm_identity
    from agents.llm.prompts.told import TOLD_VERSION

    keep = {k: v for k, v in opts.items() if k not in ("backend", "backend_options")}
    return {"v": VERSION, "data": args.data, "types": args.types, "agents": args.agents, "days": args.llm_days,
            "horizon": args.llm_horizon, "pay_days": args.llm_pay_days, "told": TOLD_VERSION,
            "llm": llm_identity(opts["backend"], opts.get("backend_options"), **keep)}


def play_rule(panel: Any, types: Any, rule: str, seed: int, build: Any, *, days: int, horizon: int) -> dict[str, Any]:
    """One episode of ``rule`` with told followers (``build(env, seed=seed)``): per-day shift and herding."""
    from agents.llm.told import consensus_moves
    from mass_env import GameConfig, MassStackelbergEnv, rollout
    from mass_env.incentives.metrics import herding_index
    from principals.baselines import EqualWeights

    env = MassStackelbergEnv(panel, types, GameConfig(follower_reward=rule, horizon=horizon))
    followers = build(env, seed=seed)
    start = env.config.warmup_days
    rollout(env, EqualWeights(), followers, seed=seed, options={"start": start, "end": start + days - 1})
    game = env.game
    reports = game.report_log.reports().astype(np.float64)  # (D, A, S)
    views = game.report_log.views().astype(np.float64)
    shown = np.stack([rec.consensus for rec in game.records]).astype(np.float64)  # published at each close
    shift, toward, herd = [], [], []
    for j in range(1, reports.shape[0]):
        gap, to = consensus_moves(reports[j], views[j], shown[j - 1])
        shift.append(float(np.nanmean(gap)) if np.isfinite(gap).any() else float("nan"))
        toward.append(float(np.nanmean(to)) if np.isfinite(to).any() else float("nan"))
        with warnings.catch_warnings():  # an agent with under 5 stocks that have a consensus: NaN, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            h = herding_index(reports[j][:, None, :], views[j][:, None, :], shown[j - 1][None, :])
        herd.append(float(np.nanmean(h)) if np.isfinite(h).any() else float("nan"))
    rep = followers.report()
    return {"days": [int(d) for d in game.report_log.days[1:]], "shift": shift, "toward": toward, "herding": herd,
            "answers": rep["agent_days"], "failed": rep["failed_agent_days"]}




def summarise(per_seed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per rule: means over its days (seeds pooled) with 95% CIs, answers and failures, and (when
    ``proper`` was played) ``herding_vs_proper``: the herding index minus ``proper``'s on the same seed and
    day, with its CI over days. ``proper`` is the control: its report prompt shows the same pay and consensus
    but pays for accuracy alone, so the paired difference is what the rule adds."""
    rows = []
    control = {(r["seed"], d): h for r in per_seed if r["rule"] == "proper" for d, h in zip(r["days"], r["herding"])}
    for rule in dict.fromkeys(r["rule"] for r in per_seed):
        grp = [r for r in per_seed if r["rule"] == rule]
        row: dict[str, Any] = {"rule": rule, "responder": "llm", "seeds": len(grp),
                               "days": sum(len(r["days"]) for r in grp)}
        for m in COLUMNS:
            row[m], row[m + "_ci"] = ci([x for r in grp for x in r[m]])
        paired = [h - control[(r["seed"], d)] for r in grp for d, h in zip(r["days"], r["herding"])
                  if (r["seed"], d) in control]
        row["herding_vs_proper"], row["herding_vs_proper_ci"] = ci(paired)
        row["answers"] = sum(r["answers"] for r in grp)
        row["failed"] = sum(r["failed"] for r in grp)
        row["asked"] = sum(r["asked"] for r in grp)
        rows.append(row)
    return rows


def print_rows(rows: list[dict[str, Any]], out: Any = None) -> None:
    out = out or sys.stdout

    def cell(r: dict[str, Any], m: str) -> str:
        return f"{r[m]:+.4f}" + (f" ±{r[m + '_ci']:.4f}" if np.isfinite(r[m + "_ci"]) else "")

    print(f"  {'rule':<18}  {'responder':<9}  {'shift |report-view|':<20}  {'toward consensus':<18}  "
          f"{'herding':<18}  {'herding - proper':<18}  {'days':>4}  {'answers':>7}  {'failed':>6}  {'asked':>6}",
          file=out)
    for r in rows:
        print(f"  {r['rule']:<18}  {r['responder']:<9}  {cell(r, 'shift'):<20}  {cell(r, 'toward'):<18}  "
              f"{cell(r, 'herding'):<18}  "
              f"{cell(r, 'herding_vs_proper'):<18}  {r['days']:>4}  {r['answers']:>7}  {r['failed']:>6}  "
              f"{r['asked']:>6}", file=out)


def run_llm_rows(args: argparse.Namespace, rules: list[Any], say: Any) -> list[dict[str, Any]]:
    """The LLM rows of ``mass incentives``: every rule x seed played (or reused), summarised and printed."""
    from agents.llm.follower import shared_backend
    from agents.llm.told import told_followers
    from experiments.sweep.markets import load_market
    from mass_env.game.investors import build_types

    out = Path(args.out)  # --data is checked by the command (the information market has no stocks to read)
    (out / "rows").mkdir(parents=True, exist_ok=True)
    opts = _llm_options(args, out)
    ident = identity(args, opts)
    be_keys = ("backend", "backend_options", "cache", "cache_mode", "retry_failed")
    backend = None
    follower_opts = {k: v for k, v in opts.items() if k not in be_keys}
    types = build_types(args.types, args.agents)
    per_seed, total, done = [], len(rules) * len(args.seeds), 0
    for seed in args.seeds:
        panel = None
        for rule in rules:
            name = rule.option_string()
            key = hashlib.sha256(json.dumps({**ident, "rule": name, "seed": seed}, sort_keys=True,
                                            default=str).encode()).hexdigest()[:20]
            path = out / "rows" / f"llm-{key}.json"
            done += 1
            row = read_json(path)
            if row is not None:
                say(f"[llm {done}/{total}] {name} seed {seed}: reused")
                per_seed.append(row)
                continue
            if backend is None:
                backend = shared_backend(opts["backend"], backend_options=opts["backend_options"],
                                         cache=opts["cache"], cache_mode=opts["cache_mode"],
                                         retry_failed=opts["retry_failed"])
            panel = panel if panel is not None else load_market(args.data, seed)
            before = _asked(backend)
            t = time.perf_counter()
            res = play_rule(panel, types, name, seed, partial(told_followers, backend=backend,
                                                              pay_days=args.llm_pay_days, **follower_opts),
                            days=args.llm_days, horizon=args.llm_horizon)
            row = {"rule": name, "seed": seed, **res, "asked": _asked(backend) - before,
                   "seconds": time.perf_counter() - t}
            write_json(path, row)
            say(f"[llm {done}/{total}] {name} seed {seed}: shift {ci(row['shift'])[0]:.4f}, herding "
                f"{ci(row['herding'])[0]:+.4f}, {row['asked']} asked ({row['seconds']:.1f}s)")
            per_seed.append(row)
    rows = summarise(per_seed)
    print(f"\nLLM followers told the rule ({opts['backend']}; {args.types} types x {args.agents} agents, "
          f"{args.llm_days} days, equal weights): shift = mean |report - view|, toward consensus = mean "
          f"sign(consensus - view) (report - view), herding = corr(report, consensus shown) - corr(view, consensus "
          f"shown), herding - proper = the same minus proper's on the same day (the control: same pay and "
          f"consensus shown, paid for accuracy); means over days (seeds pooled) ± 95% CI over days")
    print_rows(rows)
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / "incentives-llm.csv", index=False)
    return rows


def _asked(backend: Any) -> int:
    """Answers the cache did not hold (requests or per-stock branches sent to the model) so far."""
    cs = getattr(backend, "cache_stats", None)
    if cs is None:
        return int(getattr(getattr(backend, "stats", None), "requests", 0))
    return int(cs.misses + cs.branch_misses)

