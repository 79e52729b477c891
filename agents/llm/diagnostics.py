"""Do the LLM followers carry signal? Diagnostics over a response cache, printed and saved after
every LLM run (``mass ablation --followers llm``) and on demand (``mass llm-diagnostics --cache``).

Why: a follower population can run without error and still be noise (a tiny model that rates every
stock alike, or reacts to the type's prompt and not to the stock). These numbers say so:

* **Rank IC** per type of the expected rating E[r] against forward returns (the payoff horizon),
  with a CI over days (Newey-West standard error: the forward returns overlap), next
  to the scripted investor's IC for the same type and days;
* **spread**: the sd of E[r] across stocks within a (day, type) against the sd across types of
  their mean rating on a day (a model that mostly reacts to the type prompt has the second large);
* **sampling noise share**: E[Var(r | p)] / (E[Var(r | p)] + Var(E[r])) within a (day, type): the
  part of a *sampled* rating that is the dice, not the model's opinion;
* the **rating histogram** (mean probability per rating), the **failure rate**, and the Spearman
  correlation with the **scripted view** of the same type.

Inputs are cache rows (``cache_frame``): per-stock rows of the ``branches`` table (local model)
and per-agent requests of the ``responses`` table (served models), plus the panel for returns.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import warnings
from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from mass_env.data.panel import MarketPanel
from mass_env.data.returns import ReturnSpec, forward_returns
from mass_env.game.metrics import rank_ic

from .backends.base import Request, ScriptedBackend
from .cache.branches import scripted_views
from .prompts.templates import anonymous_code

R = np.arange(1, 6, dtype=np.float64)
COLUMNS = ["day", "date", "type_id", "variant", "symbol", "status", "p1", "p2", "p3", "p4", "p5", "mass", "scripted"]


def cache_frame(path: str | Path) -> pd.DataFrame:
    """One row per rated (day, type, stock) of the cache file (per agent for request-level rows;
    failed requests are one row with status and no probabilities)."""
    try:
        return _cache_frame(path)
    except (sqlite3.Error, ValueError, KeyError, TypeError, IndexError) as exc:
        from .cache.store import CacheFileError

        raise CacheFileError(f"{path} is not a usable LLM response cache ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); it was left as it is") from None


def _cache_frame(path: str | Path) -> pd.DataFrame:
    rows: list[list[Any]] = []
    if not Path(path).is_file():
        raise ValueError("no such file")
    uri = Path(path).resolve().as_uri() + "?mode=ro"  # read only: a diagnosis never creates or changes a cache
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "branches" in tables:
            for day, date, tid, var, sym, status, probs, mass, scr in db.execute(
                    "SELECT day, date, type_id, variant, symbol, status, probs, mass, scripted FROM branches"):
                p = json.loads(probs) if probs else [np.nan] * 5
                rows.append([day, date, tid, var, sym, status, *p, mass, scr])
        if "responses" in tables:
            sb = ScriptedBackend()
            for status, answer, request in db.execute("SELECT status, answer, request FROM responses"):
                rows.extend(_request_rows(status, json.loads(answer), json.loads(request), sb))
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("p1", "p2", "p3", "p4", "p5", "mass", "scripted"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def _request_rows(status: str, answer: Mapping[str, Any], req: Mapping[str, Any], sb: ScriptedBackend
                  ) -> list[list[Any]]:
    head = [req["day"], req["date"], req["type_id"], req.get("variant", 0)]
    if status != "ok" or not answer.get("probs"):
        return [[*head, "", status, *([np.nan] * 5), np.nan, np.nan]]
    from .backends.base import Item

    items = tuple(Item(s, t, tuple(f)) for s, t, f in req["items"])
    r = Request(req["agent"], req["type_id"], req["agent_index"], req["day"], req["date"], req["seed"],
                tuple(req["segments"]), items, req["style"], req["modalities"], tuple(req["feature_names"]),
                req["template"])
    views = scripted_views(r, sb)
    mass = answer.get("mass") or [np.nan] * len(items)
    return [[*head, it.symbol, status, *p, m, v] for it, p, m, v in zip(items, answer["probs"], mass, views)]


def _hac_ci(x: np.ndarray, horizon: int, alpha: float = 0.05) -> tuple[float, float]:
    """``1 - alpha`` CI of the mean of a daily IC series whose forward returns overlap by ``horizon - 1``
    days: normal quantiles with a Newey-West (Bartlett) standard error of lag ``horizon - 1``."""
    n = x.size
    if n < 3:
        return (np.nan, np.nan)
    d = x - x.mean()
    var = float(d @ d) / n
    for k in range(1, min(horizon, n)):
        var += 2.0 * (1.0 - k / horizon) * float(d[k:] @ d[:-k]) / n
    se = np.sqrt(max(var, 0.0) / n)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return float(x.mean() - z * se), float(x.mean() + z * se)


def diagnose(frame: pd.DataFrame, panel: MarketPanel, *, horizon: int = 10) -> dict[str, Any]:
    """The diagnostics of the module docstring, as a JSON-able dict with a plain-words ``verdict``."""
    total = len(frame)
    ok = frame[frame["status"] == "ok"].copy()
    out: dict[str, Any] = {"rows": total, "failure_rate": float(1 - len(ok) / total) if total else None,
                           "horizon": horizon}
    if ok.empty:
        out["verdict"] = ["No successful LLM answers in the cache: nothing to diagnose."]
        return out
    P = ok[["p1", "p2", "p3", "p4", "p5"]].to_numpy(np.float64)
    ok["E"] = P @ R
    ok["V"] = np.maximum(P @ R**2 - ok["E"].to_numpy() ** 2, 0.0)
    out["rating_histogram"] = {str(r): round(float(v), 4) for r, v in zip(R.astype(int), P.mean(0))}
    out["argmax_histogram"] = {str(r): round(float((P.argmax(1) == r - 1).mean()), 4) for r in R.astype(int)}
    out["mean_rating_mass"] = float(ok["mass"].mean()) if ok["mass"].notna().any() else None
    # symbols may be anonymous codes; dates map to the panel's days
    sym_idx = {s: i for i, s in enumerate(panel.symbols)}
    sym_idx.update({anonymous_code(s, "S"): i for i, s in enumerate(panel.symbols)})
    day_idx = {str(d.date()): i for i, d in enumerate(panel.dates)}
    ok["t"] = ok["date"].map(day_idx)
    ok["n"] = ok["symbol"].map(sym_idx)
    unmatched = int(ok["t"].isna().sum() + ok["n"].isna().sum())
    ok = ok.dropna(subset=["t", "n"])
    out["rows_not_in_panel"] = unmatched
    if ok.empty:
        out["verdict"] = ["The cache's days or stocks are not in this panel: pass the run's --data."]
        return out
    ok["t"] = ok["t"].astype(int)
    ok["n"] = ok["n"].astype(int)
    g = ok.groupby(["type_id", "t", "n"], sort=True).agg(E=("E", "mean"), V=("V", "mean"), S=("scripted", "mean"))
    g = g.reset_index()
    fwd = forward_returns(panel, ReturnSpec(horizon=horizon))
    days = np.sort(g["t"].unique())
    N = panel.n_symbols
    per_type: dict[str, Any] = {}
    mats: dict[int, np.ndarray] = {}
    n_types = max(1, int(g["type_id"].nunique()))
    for tid, sub in g.groupby("type_id"):
        E = np.full((days.size, N), np.nan)
        S = np.full((days.size, N), np.nan)
        row = np.searchsorted(days, sub["t"].to_numpy())
        E[row, sub["n"].to_numpy()] = sub["E"].to_numpy()
        S[row, sub["n"].to_numpy()] = sub["S"].to_numpy()
        mats[int(tid)] = E
        ric = rank_ic(E, fwd[days])
        sric = rank_ic(S, fwd[days])
        corr = rank_ic(E, S)
        x = ric[np.isfinite(ric)]
        lo, hi = _hac_ci(x, horizon)
        adj = _hac_ci(x, horizon, alpha=0.05 / n_types)
        within = np.nanstd(E, axis=1)
        grp = sub.groupby("t")
        var_between = grp["E"].var(ddof=0)
        noise = grp["V"].mean()
        per_type[str(int(tid))] = {
            "days": int(x.size), "rank_ic": float(x.mean()) if x.size else None, "ci95": [lo, hi],
            "ci_bonferroni": list(adj),
            "scripted_rank_ic": float(np.nanmean(sric)) if np.isfinite(sric).any() else None,
            "corr_with_scripted": float(np.nanmean(corr)) if np.isfinite(corr).any() else None,
            "within_day_sd": float(np.nanmean(within)),
            "noise_share": float(noise.sum() / (noise.sum() + var_between.sum())) if noise.sum() > 0 else 0.0,
            "mean_rating": float(sub["E"].mean()),
        }
    out["per_type"] = per_type
    stack = np.stack([np.nanmean(np.where(np.isfinite(m), m, np.nan), axis=1) for m in mats.values()])
    out["within_day_type_sd"] = float(np.mean([v["within_day_sd"] for v in per_type.values()]))
    out["across_type_sd"] = float(np.nanmean(np.nanstd(stack, axis=0))) if stack.shape[0] > 1 else 0.0
    out["noise_share"] = float(np.mean([v["noise_share"] for v in per_type.values()]))
    with warnings.catch_warnings():  # stocks no type rated on a day stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        pooled = rank_ic(np.nanmean(np.stack(list(mats.values())), axis=0), fwd[days])
    px = pooled[np.isfinite(pooled)]
    out["pooled_rank_ic"] = float(px.mean()) if px.size else None
    out["pooled_ci95"] = list(_hac_ci(px, horizon))
    out["verdict"] = verdict(out)
    return out


def verdict(d: Mapping[str, Any]) -> list[str]:
    """Plain-words reading of ``diagnose``'s numbers."""
    words: list[str] = []
    # a type counts only if its CI, widened for testing every type (Bonferroni), excludes zero
    sig = {t: v for t, v in d["per_type"].items() if v["ci_bonferroni"][0] > 0}
    neg = {t: v for t, v in d["per_type"].items() if v["ci_bonferroni"][1] < 0}
    if all(v["ci_bonferroni"][0] != v["ci_bonferroni"][0] for v in d["per_type"].values()):
        days = max(v["days"] for v in d["per_type"].values())
        words.append(f"TOO FEW DAYS ({days}) with realised returns for a confidence interval: no conclusion about "
                     "signal yet.")
    elif not sig:
        words.append("NO SIGNAL: no type's Rank IC is above zero with confidence (95% family-wise); these "
                     "followers carry no measurable information about forward returns.")
    else:
        words.append(f"Types with a positive Rank IC (95% family-wise CI above zero): {', '.join(sorted(sig))}.")
    if neg:
        words.append(f"Types rating stocks backwards (family-wise CI below zero): {', '.join(sorted(neg))}.")
    if d["across_type_sd"] > d["within_day_type_sd"]:
        words.append(f"Ratings differ more across types ({d['across_type_sd']:.3f}) than across stocks within a "
                     f"type and day ({d['within_day_type_sd']:.3f}): the model reacts to the type's prompt more than "
                     "to the stock.")
    if d["noise_share"] > 0.5:
        words.append(f"{100 * d['noise_share']:.0f}% of a sampled rating's variance is sampling noise: "
                     "disagreement between sampled agents is mostly dice; prefer decode='expected'.")
    if d["failure_rate"]:
        words.append(f"{100 * d['failure_rate']:.1f}% of answers failed (their signals are missing).")
    return words


def format_diagnostics(d: Mapping[str, Any]) -> str:
    """A short text report of ``diagnose``'s output."""
    lines = ["LLM follower diagnostics"]
    if "per_type" in d:
        lines.append(f"  Rank IC of E[rating] vs {d['horizon']}-day forward returns (95% CI, Newey-West):")
        lines.append("  type  days  rank_ic  ci95               scripted_ic  corr_scripted  within_sd  noise_share")
        for t, v in d["per_type"].items():
            lo, hi = v["ci95"]
            lines.append(f"  {t:>4}  {v['days']:>4}  {_f(v['rank_ic'])}  [{_f(lo)}, {_f(hi)}]  "
                         f"{_f(v['scripted_rank_ic'])}      {_f(v['corr_with_scripted'])}        "
                         f"{v['within_day_sd']:.3f}      {v['noise_share']:.2f}")
        lo, hi = d["pooled_ci95"]
        lines.append(f"  all types pooled: {_f(d['pooled_rank_ic'])} [{_f(lo)}, {_f(hi)}]")
        lines.append(f"  sd of E[rating] within (day, type): {d['within_day_type_sd']:.3f}; across types: "
                     f"{d['across_type_sd']:.3f}; sampling-noise share: {d['noise_share']:.2f}")
        lines.append(f"  rating histogram (mean P): {d['rating_histogram']}; argmax: {d['argmax_histogram']}")
    rate = d.get("failure_rate")
    lines.append(f"  failure rate: {100 * rate:.2f}% of {d['rows']} rows" if rate is not None else "  no rows")
    lines += [f"  -> {w}" for w in d.get("verdict", [])]
    return "\n".join(lines)


def _f(x: float | None) -> str:
    return "   n/a" if x is None or x != x else f"{x:+.3f}"


def write_diagnostics(cache: str | Path, panel: MarketPanel, out_dir: str | Path, *, horizon: int = 10
                      ) -> dict[str, Any]:
    """Diagnose ``cache`` against ``panel`` and save ``llm-diagnostics.json`` / ``.txt`` in ``out_dir``."""
    d = diagnose(cache_frame(cache), panel, horizon=horizon)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "llm-diagnostics.json").write_text(json.dumps(d, indent=1, default=float))
    (out / "llm-diagnostics.txt").write_text(format_diagnostics(d) + "\n")
    return d
