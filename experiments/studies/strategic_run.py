"""``python -m experiments.studies.strategic``: the strategic study of the paper's configs, run or tabled.

Why a runner: the study is four sweeps of ``mass ablation`` (scripted and Hedge followers on the whole
window; LLM followers reporting their views and LLM followers told the rule on a shorter one, since every
LLM episode day costs model calls) that only mean something side by side. ``main`` runs them with one set
of options, times each, prints the Hedge and the LLM tables (``experiments.studies.strategic``) and writes
them to ``OUT/strategic.md``. Every sweep resumes from its folder; the LLM answers are in one response cache
(default ``OUT/llm-cache.sqlite``), so a rerun with ``--llm-replay`` (new ``--out``, ``--llm-cache`` of the
first run) rebuilds the LLM rows without a model call. Given two or four ablation folders instead, it only
prints the tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from experiments.options import add_data, add_seeds
from experiments.studies.strategic import compare, compare_llm, markdown, markdown_llm
from experiments.sweep import checks

#: the LLM rows' default scale: 1 agent per type rating 3 candidates, evaluated from the window's first
#: evaluation day to this date (15 evaluation days after the 21-day warm-up on the SSE50 window): every
#: episode day of a told run costs model calls, so the LLM sweeps play 36 days, not 119
LLM_EVAL_END = "2023-02-24"


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
    g.add_argument("--llm-candidates", type=checks.positive_int, default=3,
                   help="candidate stocks per agent and day (default 3)")
    g.add_argument("--llm-eval-end", default=LLM_EVAL_END, metavar="YYYY-MM-DD",
                   help=f"last evaluation day of the LLM sweeps (default {LLM_EVAL_END}; 'none': the whole window)")
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
    base = ["ablation", "--configs", a.configs, *data, "--boot", "0", "--no-plot", *(["--quiet"] if a.quiet else []),
            *(["--executor", "process", "--workers", str(a.workers)] if a.workers else [])]
    runs = {"scripted": [*base, "--seeds", seeds, "--out", str(out / "scripted")],
            "hedge": [*base, "--seeds", seeds, "--followers", "hedge", "--out", str(out / "hedge")]}
    if a.no_llm:
        return runs
    window = [] if a.llm_eval_end.lower() == "none" else ["--eval-end", a.llm_eval_end]
    llm = [*base, *window, "--seeds", ",".join(map(str, a.llm_seeds)) + ",", "--baselines", "none",
           "--followers", "llm", "--agents", str(a.llm_agents), "--llm-candidates", str(a.llm_candidates),
           "--llm-backend", a.llm_backend, "--llm-threads", str(a.llm_threads), "--record-reports",
           "--llm-cache", str(a.llm_cache or out / "llm-cache.sqlite"), *(["--llm-replay"] if a.llm_replay else [])]
    # told first: its followers ask their views too, so the views sweep replays them from the cache
    runs["told"] = [*llm, "--llm-told", a.llm_rule, "--out", str(out / "told")]
    runs["views"] = [*llm, "--llm-told", "view", "--out", str(out / "views")]
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if a.folders:
        if len(a.folders) not in (2, 4):
            raise SystemExit("strategic: give SCRIPTED HEDGE or SCRIPTED HEDGE VIEWS TOLD folders")
        print(markdown(compare(*a.folders[:2])))
        if len(a.folders) == 4:
            print("\n" + markdown_llm(compare_llm(*a.folders[2:])))
        return 0
    from experiments.cli import main as mass

    seconds: dict[str, float] = {}
    for name, args in sweeps(a).items():
        if not a.quiet:
            print(f"[strategic] {name}: mass {' '.join(args)}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        rc = mass(args)
        seconds[name] = time.perf_counter() - t
        if rc not in (0,):
            print(f"[strategic] {name} failed (exit {rc})", file=sys.stderr)
            return rc
    out = Path(a.out)
    text = markdown(compare(out / "scripted", out / "hedge"))
    if not a.no_llm:
        text += "\n\n" + markdown_llm(compare_llm(out / "views", out / "told"), a.llm_rule)
    text += "\n\nwall seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()) + \
        f", total {sum(seconds.values()):.0f}"
    (out / "strategic.md").write_text(text + "\n")
    print("\n" + text)
    return 0
