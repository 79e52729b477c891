"""Strategic followers in the paper's configs, config by config, each against its truthful control:

* **Hedge rows**: a run of ``mass ablation --followers hedge`` against the scripted (truthful) run of the same
  command. Why: the ablation table says how each leader does when the followers report their views; with
  Hedge followers (``agents.hedge``) each type learns its report from the pay, so the same table measures what
  the leaders' Rank IC is worth once the followers respond to how they are paid. Per config: both runs' 10-day
  Rank IC with their CIs (the stored table), the paired difference (same seeds and days, the project's seed +
  shared-day interval, ``experiments.stats.inference``), the Hedge run's mean misreport |report - view| and
  the strategies its types end on (mean final Hedge weight over types and seeds).
* **LLM rows**: ``mass ablation --followers llm --llm-told RULE`` (LLM followers told the payment rule, their
  type's pay and yesterday's consensus: ``agents.llm.told``) against ``--llm-told view`` (the same followers,
  same candidates and views, reporting their views). Per config: both runs' Rank IC with CIs, the paired
  difference, the told run's mean misreport and its mean move toward the consensus shown, sign(consensus -
  view) x (report - view), with a t CI over its (seed, day) values.

``python -m experiments.studies.strategic`` (``main``) runs the four sweeps of ``mass ablation`` with one set of
options: scripted and Hedge followers on the whole window, the two LLM sweeps on a shorter one (every day of a
told run costs model calls), the views first (serially) so that the told runs replay the views they ask. It times each,
prints both tables and writes them to ``OUT/strategic.md``. Every sweep resumes from its folder; the LLM answers
are in one response cache (default ``OUT/llm-cache.sqlite``), so a rerun with ``--llm-replay`` (a new
``--out``, ``--llm-cache`` of the first run) rebuilds the LLM rows without a model call (a missing answer is an
error). Given two or four ablation folders instead, it only prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.options import add_data, add_seeds
from experiments.stats.inference import DifferenceCI, difference_ci, mean_ci
from experiments.sweep import checks

COLUMNS = ("config", "scripted", "scripted_lo", "scripted_hi", "hedge", "hedge_lo", "hedge_hi", "diff",
           "diff_lo", "diff_hi", "misreport", "ends_on")
LLM_COLUMNS = ("config", "view", "view_lo", "view_hi", "told", "told_lo", "told_hi", "diff", "diff_lo", "diff_hi",
               "misreport", "toward", "toward_ci", "days")


def paired(control: str | Path, other: str | Path, horizon: int = 10, configs: Sequence[str] | None = None
           ) -> Iterator[tuple[str, tuple[float, ...], DifferenceCI, pd.DataFrame]]:
    """Per config run by both ablation folders (``--out`` of each; the oracle left out): its name, the two
    runs' ``horizon``-day Rank IC mean, lo, hi (control first, from the stored tables), the paired difference
    other - control and the other run's evaluation days (``daily.parquet`` rows)."""
    c_dir, o_dir = Path(control), Path(other)
    tc, to = (pd.read_csv(d / "table.csv").set_index("config") for d in (c_dir, o_dir))
    dc, do = (pd.read_parquet(d / "daily.parquet") for d in (c_dir, o_dir))
    col = f"ric_signal_{horizon}d"
    for c in configs or [c for c in to.index if c in tc.index and not c.startswith("ORACLE")]:
        a, b = (d[(d["config"] == c) & d["eval"]].pivot(index="seed", columns="day", values=col) for d in (dc, do))
        ci = difference_ci((b - a).to_numpy(), horizon)
        ics = tuple(float(t.loc[c, f"{col}_mean{x}"]) for t in (tc, to) for x in ("", "_lo", "_hi"))
        yield c, ics, ci, do[(do["config"] == c) & do["eval"]]


def compare(scripted: str | Path, hedge: str | Path, horizon: int = 10, top: int = 2,
            configs: Sequence[str] | None = None) -> pd.DataFrame:
    """The Hedge rows: one per config run by both ablation folders; see the module docstring."""
    rows = [(c, *ics, ci.estimate, ci.lo, ci.hi, float(ev["misreport"].mean()), ends_on(hedge, c, top)[0])
            for c, ics, ci, ev in paired(scripted, hedge, horizon, configs)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def compare_llm(view: str | Path, told: str | Path, horizon: int = 10,
                configs: Sequence[str] | None = None) -> pd.DataFrame:
    """The LLM rows: one per config run by both folders (``--llm-told view`` and ``--llm-told RULE``; the
    told run's misreport and move toward the consensus over its evaluation days); see the module docstring."""
    rows = []
    for c, ics, ci, ev in paired(view, told, horizon, configs):
        toward = [x for seed, days in ev.groupby("seed")["day"] for x in told_moves(told, c, int(seed), set(days))]
        m, hw = mean_ci(toward)
        rows.append((c, *ics, ci.estimate, ci.lo, ci.hi, float(ev["misreport"].mean()), m, hw,
                     int(np.isfinite(toward).sum())))
    return pd.DataFrame(rows, columns=list(LLM_COLUMNS))


def told_moves(out: str | Path, config: str, seed: int, days: set[int]) -> list[float]:
    """The told followers' daily mean move toward the consensus shown on ``days`` of a stored run (``runs/
    CONFIG__seedS.json``, ``followers.told``: ``LLMFollowers.report``); NaN on a day with none shown."""
    meta = json.loads((Path(out) / "runs" / f"{config}__seed{seed}.json").read_text()).get("followers") or {}
    told = meta.get("told")
    if told is None:
        raise ValueError(f"{out}: run {config} seed {seed} has no told followers (run it with --llm-told RULE)")
    return [float(x) for d, x in zip(told["days"], told["toward"]) if d in days]


def ends_on(out: str | Path, config: str, top: int = 2) -> tuple[str, float]:
    """Where the Hedge types of ``config``'s stored runs in ablation folder ``out`` end: the ``top`` strategies
    by mean final weight (over types and seeds) as text, and the mean certification gap ("" and NaN: no
    Hedge runs)."""
    weights, gaps, names = [], [], []
    for p in sorted((Path(out) / "runs").glob(f"{config}__seed*.json")):
        meta = json.loads(p.read_text()).get("followers") or {}
        if "final_weights" in meta:
            names = meta["strategies"]
            weights.append(np.asarray(meta["final_weights"]))
            gaps.append(float(meta["gap"]))
    if not weights:
        return "", float("nan")
    w = np.concatenate(weights).mean(0)
    return ", ".join(f"{names[i]} {w[i]:.2f}" for i in np.argsort(-w)[:top]), float(np.mean(gaps))


def _ci(x: float, lo: float, hi: float) -> str:
    return f"{x:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def markdown(table: pd.DataFrame) -> str:
    """The Hedge comparison as the results page prints it."""
    out = ["| config | scripted (truthful) 10d Rank IC [95% CI] | hedge 10d Rank IC [95% CI] | hedge - scripted "
           "[95% CI] | mean misreport | the types end on (mean final weight) |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        out.append(f"| {r.config} | {_ci(r.scripted, r.scripted_lo, r.scripted_hi)} | "
                   f"{_ci(r.hedge, r.hedge_lo, r.hedge_hi)} | {_ci(r.diff, r.diff_lo, r.diff_hi)} | "
                   f"{r.misreport:.3f} | {r.ends_on} |")
    return "\n".join(out)


def markdown_llm(table: pd.DataFrame, rule: str = "weighted_skill", horizon: int = 10) -> str:
    """The LLM comparison (``compare_llm`` at ``horizon``) as the results page prints it."""
    ric = f"{horizon}d Rank IC [95% CI]"
    out = [f"| config | LLM, views (not told) {ric} | LLM told {rule} {ric} | told - views [95% CI] | mean misreport "
           "| move toward the consensus ± 95% CI (days) |",
           "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        out.append(f"| {r.config} | {_ci(r.view, r.view_lo, r.view_hi)} | {_ci(r.told, r.told_lo, r.told_hi)} | "
                   f"{_ci(r.diff, r.diff_lo, r.diff_hi)} | {r.misreport:.3f} | {r.toward:+.4f} ±{r.toward_ci:.4f} "
                   f"({r.days}) |")
    return "\n".join(out)


#: the LLM rows' default scale: 1 agent per type rating 6 candidates (a type's Rank IC, hence its
#: ``weighted_skill`` pay, needs 5 stocks: ``GameConfig.min_stocks``), evaluated on the first 10 evaluation
#: days of the SSE50 window (after the 21-day warm-up): every (day, type) of a told run is a model call with
#: its own prompt, so the LLM sweeps play 31 days, not 119
LLM_EVAL = ("2023-02-06", "2023-02-17")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.studies.strategic", description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", metavar="FOLDER",
                   help="table only: SCRIPTED HEDGE [VIEWS TOLD] ablation folders (nothing is run)")
    add_data(p, absent="the embedded synthetic market")
    p.add_argument("--out", default="results/strategic", help="study folder (default results/strategic)")
    p.add_argument("--configs", default="A,B,C,D,E,F", help="comma list of configs (default A,B,C,D,E,F)")
    add_seeds(p, (0, 1, 2), "seeds of the Hedge and scripted sweeps")
    g = p.add_argument_group("LLM rows")
    g.add_argument("--llm-seeds", type=checks.seeds, default=(0,), metavar="N|LIST",
                   help="seeds of the two LLM sweeps (default 1: seed 0)")
    g.add_argument("--llm-rule", default="weighted_skill", help="the rule the LLM followers are told (default "
                   "weighted_skill: own Rank IC x K x the leader's weight share)")
    g.add_argument("--llm-agents", type=checks.positive_int, default=1, help="agents per type (default 1)")
    g.add_argument("--llm-candidates", type=checks.positive_int, default=6,
                   help="candidate stocks per agent and day (default 6; with fewer than 5 per type a type has no "
                        "Rank IC, so its weighted_skill pay shown is 0)")
    g.add_argument("--llm-eval", default=",".join(LLM_EVAL), metavar="START,END",
                   help=f"first and last evaluation day of the LLM sweeps (their --eval-start, --eval-end; default "
                        f"{','.join(LLM_EVAL)}; 'none': the whole window)")
    g.add_argument("--llm-backend", default="local", help="LLM backend (default local: SmolLM2-135M on the CPU)")
    g.add_argument("--llm-threads", type=checks.positive_int, default=1, help="local: torch threads (default 1)")
    g.add_argument("--llm-cache", default=None, help="response cache (default OUT/llm-cache.sqlite)")
    g.add_argument("--llm-replay", action="store_true",
                   help="answer every LLM prompt from the cache; a missing answer is an error (no model call)")
    g.add_argument("--no-llm", action="store_true", help="the Hedge rows only")
    p.add_argument("--workers", type=checks.positive_int, default=None,
                   help="run each sweep's (config, seed) runs on a process pool of this size (default: serially)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def sweeps(a: argparse.Namespace) -> dict[str, list[str]]:
    """The four ``mass ablation`` argument lists, by folder name."""
    out = Path(a.out)
    data = ["--data", a.data] if a.data else []
    seeds = ",".join(map(str, a.seeds)) + ","
    base = ["ablation", "--configs", a.configs, *data, "--boot", "0", "--no-plot", *(["--quiet"] if a.quiet else [])]
    pool = ["--executor", "process", "--workers", str(a.workers)] if a.workers else []
    runs = {"scripted": [*base, *pool, "--seeds", seeds, "--out", str(out / "scripted")],
            "hedge": [*base, *pool, "--seeds", seeds, "--followers", "hedge", "--out", str(out / "hedge")]}
    if a.no_llm:
        return runs
    start, _, end = a.llm_eval.partition(",")
    window = [] if a.llm_eval.lower() == "none" else ["--eval-start", start.strip(), "--eval-end", end.strip()]
    llm = [*base, *window, "--seeds", ",".join(map(str, a.llm_seeds)) + ",", "--baselines", "none",
           "--followers", "llm", "--agents", str(a.llm_agents), "--llm-candidates", str(a.llm_candidates),
           "--llm-backend", a.llm_backend, "--llm-threads", str(a.llm_threads), "--record-reports",
           "--llm-cache", str(a.llm_cache or out / "llm-cache.sqlite"), *(["--llm-replay"] if a.llm_replay else [])]
    # views first and serially: its first run asks the views, every later run (and every told run, which asks
    # them too) replays them, where runs started together on a pool would each ask them
    runs["views"] = [*llm, "--llm-told", "view", "--out", str(out / "views")]
    runs["told"] = [*llm, *pool, "--llm-told", a.llm_rule, "--out", str(out / "told")]
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    if a.llm_eval.lower() != "none" and a.llm_eval.count(",") != 1:
        p.error(f"--llm-eval takes START,END (two dates) or none, got {a.llm_eval!r}")
    if a.folders:
        if len(a.folders) not in (2, 4):
            raise SystemExit("strategic: give SCRIPTED HEDGE or SCRIPTED HEDGE VIEWS TOLD folders")
        print(markdown(compare(*a.folders[:2])))
        if len(a.folders) == 4:
            for h in (10, 1):
                print("\n" + markdown_llm(compare_llm(a.folders[2], a.folders[3], h), horizon=h))
        return 0
    from experiments.cli import main as mass

    seconds: dict[str, float] = {}
    for name, args in sweeps(a).items():
        if not a.quiet:
            print(f"[strategic] {name}: mass {' '.join(args)}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        rc = mass(args)
        seconds[name] = time.perf_counter() - t
        if rc != 0:
            print(f"[strategic] {name} failed (exit {rc})", file=sys.stderr)
            return rc
    out = Path(a.out)
    text = markdown(compare(out / "scripted", out / "hedge"))
    if not a.no_llm:  # a short LLM window has no 10-day CI (too few days for the overlap): the 1-day table too
        text += "".join("\n\n" + markdown_llm(compare_llm(out / "views", out / "told", h), a.llm_rule, h)
                        for h in (10, 1))
    text += "\n\nwall seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()) + \
        f", total {sum(seconds.values()):.0f}"
    (out / "strategic.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
