"""Which offline model and prompt design carry signal? Scored on days outside the evaluation window.

The model and prompt are chosen by measurement, not on the days the paper's table is computed
on. This module samples days of a panel (by default SSE50 2021-01..2022-11,
point-in-time members: before the 2023 evaluation episode), asks each design of
``agents.llm.prompts.designs`` for a score of every stock of the day's universe for a few investor types, and
reads the scores with the follower diagnostics' measures:

* per type and pooled over types, the Rank IC of the score against ``horizon``-day forward returns
  with a 95% CI over days (Newey-West when the sampled days' returns overlap; Student-t when the
  days are at least ``horizon`` trading days apart, so their holding periods do not), and the
  scripted investor's IC on the same (day, type, stock)s;
* the Spearman correlation with the scripted view of the same type;
* the spread of the score across stocks within a (day, type) against the spread across types of
  their mean on a day (a design that mostly reacts to the type's prompt has the second large);
* a plain verdict: NO SIGNAL unless the pooled CI or a type's Bonferroni-widened CI is above zero.

``python -m experiments.studies.llm_designs`` runs it and prints the table the docs' LLM study page quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.sweep.markets import data_root
from mass_env.data.modalities import DailyFeatures
from mass_env.data.panel import MarketPanel
from mass_env.data.returns import ReturnSpec, forward_returns
from mass_env.data.view import PointInTimeView
from mass_env.game.investors import InvestorType
from mass_env.game.metrics import rank_ic

COLUMNS = ["design", "day", "date", "type_id", "stock", "symbol", "score", "scripted"]


def sample_days(panel: MarketPanel, n_days: int, *, horizon: int = 10, warmup: int = 60) -> np.ndarray:
    """``n_days`` evenly spaced decision days after ``warmup`` (features need ~60 days of history)
    whose forward returns lie inside the panel."""
    last = panel.n_days - 1 - ReturnSpec(horizon=horizon).delay
    if last < warmup or n_days < 1:
        raise ValueError(f"the panel has {panel.n_days} days: too few for {n_days} sampled days after "
                         f"{warmup} warm-up days and a {horizon}-day forward return")
    return np.unique(np.linspace(warmup, last, n_days).round().astype(int))


def make_cases(panel: MarketPanel, types: Sequence[InvestorType], days: Sequence[int]) -> list[Any]:
    """One case per (day, type): every stock of the day's universe. Ordered type by type (a partial
    run then has a type's every day: an IC with a CI), days alternating from both ends of the sample."""
    from agents.llm.prompts.designs import Case

    order = [int(days[j]) for k in range((len(days) + 1) // 2) for j in dict.fromkeys((k, len(days) - 1 - k))]
    return [Case(d, t, np.flatnonzero(panel.universe[d])) for t in types for d in order]


def scripted_reference(panel: MarketPanel, cases: Sequence[Any]) -> list[np.ndarray]:
    """The scripted investor's noise-free view of each case's stocks (same features as the env)."""
    from mass_env.scripted import ScriptedFollower

    out: list[np.ndarray] = []
    feats: dict[int, DailyFeatures] = {}
    pols: dict[tuple[int, tuple[str, ...]], Any] = {}
    for c in cases:
        if c.day not in feats:
            feats = {c.day: DailyFeatures(PointInTimeView(panel, c.day))}
        block = feats[c.day].for_modalities(c.itype.modalities)
        key = (c.itype.type_id, block.names)
        pol = pols.get(key) or pols.setdefault(key, ScriptedFollower(c.itype, block.names))
        out.append(np.asarray(pol.view(np.nan_to_num(block.values[c.stocks])), dtype=np.float64))
    return out


def score_design(design: Any, backend: Any, panel: MarketPanel, cases: Sequence[Any],
                 scripted: Sequence[np.ndarray], on_case: Callable[[pd.DataFrame], None] | None = None
                 ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows of ``COLUMNS`` for one design over the cases, and its cost and answer statistics.
    ``on_case`` gets the rows so far after every case (to save partial results of a long run)."""
    from agents.llm.prompts.templates import BriefCache

    briefs = BriefCache(panel, keep=8)
    t0, c0 = time.perf_counter(), time.process_time()
    rows: list[list[Any]] = []
    for c, v in zip(cases, scripted):
        s = design.score(backend, briefs, [c])[0]
        date = str(panel.dates[c.day].date())
        rows += [[design.name, c.day, date, c.itype.type_id, int(i), panel.symbols[int(i)], float(x), float(y)]
                 for i, x, y in zip(c.stocks, s, v)]
        if on_case is not None:
            on_case(pd.DataFrame(rows, columns=COLUMNS))
    info = {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            **design.stats.as_dict()}
    return pd.DataFrame(rows, columns=COLUMNS), info


def _ci(x: np.ndarray, lag: int, alpha: float = 0.05) -> tuple[float, float]:
    """Newey-West normal CI for overlapping holding periods; for independent days (``lag == 1``) the
    Student-t CI, which stays honest with the few days a CPU budget allows."""
    from agents.llm.diagnostics import _hac_ci

    if lag > 1 or x.size < 3:
        return _hac_ci(x, lag, alpha)
    from scipy.stats import t

    half = float(t.ppf(1.0 - alpha / 2.0, x.size - 1)) * float(x.std(ddof=1)) / np.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def evaluate(frame: pd.DataFrame, panel: MarketPanel, *, horizon: int = 10) -> dict[str, Any]:
    """The diagnostics of the module docstring for one design's rows."""
    fwd = forward_returns(panel, ReturnSpec(horizon=horizon))
    days = np.sort(frame["day"].unique())
    gaps = np.diff(days)
    lag = 1 if gaps.size and gaps.min() >= horizon else horizon  # holding periods do not overlap
    N = panel.n_symbols
    per_type: dict[str, Any] = {}
    daily = []
    means = []
    types = sorted(frame["type_id"].unique())
    for tid in types:
        sub = frame[frame["type_id"] == tid]
        S = np.full((days.size, N), np.nan)
        V = np.full((days.size, N), np.nan)
        row = np.searchsorted(days, sub["day"].to_numpy())
        S[row, sub["stock"].to_numpy()] = sub["score"].to_numpy()
        V[row, sub["stock"].to_numpy()] = sub["scripted"].to_numpy()
        ic = rank_ic(S, fwd[days])
        daily.append(ic)
        means.append(np.nanmean(S, axis=1))
        x = ic[np.isfinite(ic)]
        per_type[str(int(tid))] = {
            "days": int(x.size), "rank_ic": float(x.mean()) if x.size else None, "ci95": list(_ci(x, lag)),
            "ci_bonferroni": list(_ci(x, lag, 0.05 / len(types))),
            "scripted_rank_ic": float(np.nanmean(rank_ic(V, fwd[days]))),
            "corr_with_scripted": float(np.nanmean(rank_ic(S, V))),
            "within_day_sd": float(np.nanmean(np.nanstd(S, axis=1))),
        }
    pooled = np.nanmean(np.vstack(daily), axis=0)
    px = pooled[np.isfinite(pooled)]
    out: dict[str, Any] = {
        "rows": int(len(frame)), "days": int(days.size), "types": [int(t) for t in types], "horizon": horizon,
        "ci_lag": lag, "per_type": per_type, "rank_ic": float(px.mean()) if px.size else None,
        "ci95": list(_ci(px, lag)),
        "scripted_rank_ic": float(np.mean([v["scripted_rank_ic"] for v in per_type.values()])),
        "corr_with_scripted": float(np.mean([v["corr_with_scripted"] for v in per_type.values()])),
        "within_day_type_sd": float(np.mean([v["within_day_sd"] for v in per_type.values()])),
        "across_type_sd": float(np.nanmean(np.nanstd(np.vstack(means), axis=0))) if len(types) > 1 else 0.0,
        "failed": int(frame["score"].isna().sum()),
    }
    out["verdict"] = verdict(out)
    return out


def verdict(d: dict[str, Any]) -> str:
    """Plain words: SIGNAL only when the pooled 95% CI or a type's family-wise CI is above zero."""
    lo, hi = d["ci95"]
    sig = sorted(t for t, v in d["per_type"].items() if v["ci_bonferroni"][0] > 0)
    if lo != lo:
        return f"TOO FEW DAYS ({d['days']}) for a confidence interval"
    if lo > 0 or sig:
        parts = (["pooled CI above zero"] if lo > 0 else []) + \
            ([f"type(s) {', '.join(sig)} above zero (family-wise)"] if sig else [])
        back = sorted(t for t, v in d["per_type"].items() if v["ci_bonferroni"][1] < 0)
        parts += [f"but type(s) {', '.join(back)} below zero (family-wise)"] if back else []
        return "SIGNAL: " + "; ".join(parts)
    if hi < 0:
        return "BACKWARDS: the pooled Rank IC is below zero with confidence"
    return "NO SIGNAL: no Rank IC above zero with confidence"


def format_table(results: dict[str, dict[str, Any]], costs: dict[str, dict[str, Any]]) -> str:
    """A Markdown table, one row per (model, design)."""
    lines = ["| model / design | ratings | Rank IC (95% CI) | scripted IC | corr. scripted | sd within (day, type) "
             "| sd across types | answer mass | CPU s | verdict |", "|" + "---|" * 10]
    for name, d in results.items():
        c = costs.get(name, {})
        lo, hi = d["ci95"]
        mass = c.get("answer_mass")
        lines.append(f"| {name} | {d['rows']} | {_f(d['rank_ic'])} ({_f(lo)}, {_f(hi)}) | {_f(d['scripted_rank_ic'])} "
                     f"| {_f(d['corr_with_scripted'])} | {d['within_day_type_sd']:.3f} | {d['across_type_sd']:.3f} "
                     f"| {'n/a' if mass is None else f'{mass:.2f}'} | {c.get('cpu_s', 'n/a')} | {d['verdict']} |")
    return "\n".join(lines)


def format_per_type(results: dict[str, dict[str, Any]]) -> str:
    """Per-type Rank IC (95% CI) of every result, one column per type any of them has."""
    types = sorted({t for d in results.values() for t in d["per_type"]}, key=int)
    lines = ["| model / design | " + " | ".join(f"type {t}" for t in types) + " |", "|" + "---|" * (1 + len(types))]
    for name, d in results.items():
        cells = []
        for t in types:
            v = d["per_type"].get(t)
            cells.append("" if v is None else f"{_f(v['rank_ic'])} ({_f(v['ci95'][0])}, {_f(v['ci95'][1])})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _f(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{x:+.3f}"


def load_rows(path: str | Path) -> pd.DataFrame:
    """A saved design's rows (``score_design``'s frame written as CSV)."""
    return pd.read_csv(path, dtype={"symbol": str})


RUN_DOC = """Offline model x prompt design, scored on SSE50 days outside the evaluation window.

    nice -n 10 python -m experiments.studies.llm_designs --data ../shared/data --out runs/llm-designs
    python -m experiments.studies.llm_designs --out runs/llm-designs --table-only     # re-print the table

Samples ``--days`` decision days spread evenly over SSE50 ``--start``..``--end`` (point-in-time
members; default 2021-01..2022-11, before the 2023 episode the paper's table uses), takes
``--types`` of the 8 investor types, and asks each design (``agents.llm.prompts.designs``: single, fewshot,
pairwise, ranked) for a score of every stock of the day's universe with the local model. Each
design's rows are saved as ``OUT/<model>-<design>.csv`` (a rerun skips the designs already there), and
it prints per design the Rank IC against 10-day forward returns with a 95% CI,
the scripted investor's IC on the same rows, the correlation with the scripted view, the spreads and
a verdict, then the per-type ICs. The load average is printed: on a shared machine every time is slower.
"""


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.studies.llm_designs", description=RUN_DOC,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=data_root(), help="the shared data folder (SSE50); default $MASS_DATA_ROOT or "
                    "../shared/data")
    ap.add_argument("--start", default="2021-01-01", help="first day days are sampled from")
    ap.add_argument("--end", default="2022-11-30", help="last day days are sampled from")
    ap.add_argument("--days", type=int, default=10, help="sampled decision days")
    ap.add_argument("--every", type=int, default=1,
                    help="score only every EVERY-th sampled day (a cheaper design on a subset of the same days)")
    ap.add_argument("--offset", type=int, default=0, help="with --every: start at this sampled day (0..EVERY-1)")
    ap.add_argument("--types", default="0,2,5,7", help="type ids of build_types(8) (default: every modality)")
    ap.add_argument("--designs", default="single,fewshot,ranked,pairwise", help="designs to score, comma-separated")
    ap.add_argument("--model-dir", default=None, help="a local Hugging Face model folder (default: SmolLM2-135M)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the local model")
    ap.add_argument("--horizon", type=int, default=10, help="forward-return horizon in trading days")
    ap.add_argument("--opponents", type=int, default=2, help="pairwise: rounds of random pairs per stock")
    ap.add_argument("--rounds", type=int, default=2, help="ranked: lists each stock appears in")
    ap.add_argument("--out", default="runs/llm-designs", help="folder for the per-design rows and the table")
    ap.add_argument("--table-only", action="store_true", help="only evaluate the rows already in --out")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: an idle thread pool takes no core

    from mass_env.data.datasets import load_dataset
    from mass_env.game.investors import build_types

    panel = load_dataset("sse50", args.data, start=args.start, end=args.end)
    days = sample_days(panel, args.days, horizon=args.horizon)
    wanted = {int(t) for t in args.types.split(",")}
    types = [t for t in build_types(8, 1) if t.type_id in wanted]
    cases = make_cases(panel, types, days[args.offset::max(1, args.every)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"panel: {panel.name}; days {[str(panel.dates[d].date()) for d in days]}; types {[t.name for t in types]}; "
          f"{sum(len(c.stocks) for c in cases)} (day, type, stock)s per design; load average {os.getloadavg()}",
          flush=True)
    costs_path = out / "costs.json"
    costs = json.loads(costs_path.read_text()) if costs_path.is_file() else {}
    backend = None
    model = Path(args.model_dir).name if args.model_dir else "SmolLM2-135M"
    if not args.table_only:
        from agents.llm.prompts.designs import make_design

        scripted = scripted_reference(panel, cases)
        for name in args.designs.split(","):
            path = out / f"{model}-{name}.csv"
            if path.is_file():
                continue
            if backend is None:
                from agents.llm.backends.local import TransformersBackend

                backend = TransformersBackend(args.model_dir, threads=args.threads)
            design = make_design(name, horizon=args.horizon, opponents=args.opponents, rounds=args.rounds)
            part = path.with_suffix(".partial")
            frame, info = score_design(design, backend, panel, cases, scripted,
                                       on_case=lambda f, part=part: f.to_csv(part, index=False))
            frame.to_csv(path, index=False)
            part.unlink(missing_ok=True)
            costs[f"{model} / {name}"] = {**info, "days": len(cases) // max(1, len(types)),
                                          "load_average": os.getloadavg(), "threads": backend.threads,
                                          "dtype": backend.dtype, "opponents": args.opponents, "rounds": args.rounds}
            costs_path.write_text(json.dumps(costs, indent=1))
            print(f"{model} / {name}: {info}", flush=True)
    frames = {}
    for path in sorted(out.glob("*.csv")) + sorted(out.glob("*.partial")):
        model_name, design_name = path.stem.rsplit("-", 1)
        frames[f"{model_name} / {design_name}" + (" (partial)" if path.suffix == ".partial" else "")] = \
            load_rows(path)
    results = {name: evaluate(f, panel, horizon=args.horizon) for name, f in frames.items()}
    keys = {name: set(zip(f["day"], f["type_id"])) for name, f in frames.items()}
    common = set.intersection(*keys.values()) if keys else set()
    for name, f in frames.items():  # designs scored on more (day, type)s: also on those every design has
        if common and keys[name] != common:
            sub = f[[k in common for k in zip(f["day"], f["type_id"])]]
            results[f"{name} (common {len(common)} day-types)"] = evaluate(sub, panel, horizon=args.horizon)
    if not results:
        print("no rows yet: run without --table-only")
        return 1
    (out / "designs.json").write_text(json.dumps({"results": results, "costs": costs}, indent=1, default=float))
    table = format_table(results, costs) + "\n\nRank IC per type (95% CI):\n\n" + format_per_type(results)
    (out / "designs.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
