"""The principals' table of ``mass incentives`` on the information market: anticipating vs myopic principal.

Why: a Stackelberg leader has, by definition, foresight of the followers' response. The *anticipating*
principal chooses its commitment (a payment rule from a set, and ``phi``, the aggregate's weight on the
public signal) by simulating the followers inside its optimiser; the *myopic* one optimises as if the reports
were the views (today's leaders). Both are then scored with the same follower model: the Stackelberg value
is the aggregate's Rank IC when the followers respond (``mass_env.incentives.stackelberg``).

Follower models (``--follower-models``): ``closed_form`` (iterated exact best response; quadratic rules only),
``search`` (iterated best response over a linear deviation grid on one draw of ``--days``) and ``hedge``
(no-regret learners over the same grid, ``--rounds`` days; their final mixture's mean strategy).
Commitment sets (``--principal-rules``, comma-separated): a rule (the principal chooses phi only), rules
joined by ``+`` (it also picks the rule) or ``bilevel`` (CMA-ES over consensus's r in [0, 0.9] and phi, the
response recomputed inside every evaluation; closed form only, the other models would take minutes per seed).
Each (set, model, seed) is stored as one JSON and reused on rerun, like the table's rows.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.stats.inference import mean_ci as ci
from experiments.sweep.store import read_json, write_json
from mass_env.incentives import InformationMarket, UnknownRuleError, make_rule
from mass_env.incentives import stackelberg as S
from mass_env.incentives.learning import StrategyLibrary
from mass_env.incentives.responses import DeviationFamily

PRINCIPALS = ("myopic", "anticipating")
MODELS = ("closed_form", "search", "hedge")
#: search is opt-in: its simultaneous iterated best response cycles on dpm (a team game) for minutes per seed
DEFAULT_MODELS = ("closed_form", "hedge")
BILEVEL = "bilevel"
DEFAULT_COMMITMENTS = "consensus:r=0.6,dpm,proper+consensus:r=0.6+dpm,bilevel"
#: the linear strategies a*view + b*public of the search and hedge models (0.1 steps; 208 strategies)
GRID_A, GRID_B = np.round(np.arange(0.0, 1.501, 0.1), 3), np.round(np.arange(-0.2, 1.001, 0.1), 3)
#: the principal table's Hedge rate on that grid (the regret-bound rate for 208 strategies learns too slowly
#: to settle in a few hundred rounds); ``--eta`` overrides it
HEDGE_ETA = 200.0
#: a fresh draw for the empirical value: seed + this (never the draw the search responder fitted)
EMPIRICAL_SEED = 10_000

Say = Callable[[str], None]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--follower-models", default=",".join(DEFAULT_MODELS),
                   help=f"the principals' table on the information market: follower models of "
                        f"{', '.join(MODELS)}, or none (default {','.join(DEFAULT_MODELS)})")
    p.add_argument("--principal-rules", default=DEFAULT_COMMITMENTS, metavar="SET,...",
                   help="commitment sets of the principals' table: a rule, rules joined by + (the principal "
                        f"picks one), or {BILEVEL} (CMA-ES over consensus r and phi) (default {DEFAULT_COMMITMENTS})")


def _fail(msg: str) -> SystemExit:
    return SystemExit(f"mass incentives: error: {msg}")


def parse_principals(text: str) -> list[str]:
    """``--principals`` on the information market: a subset of ``PRINCIPALS`` (an unknown one is an error)."""
    got = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in got if x not in PRINCIPALS]
    if bad or not got:
        raise _fail(f"unknown principal(s) {', '.join(bad) or '(none given)'} on the information market; "
                    f"valid principals: {', '.join(PRINCIPALS)} (equal, sa, ... are for --data --herding)")
    return got


def parse_models(text: str) -> list[str]:
    got = [x.strip() for x in text.split(",") if x.strip()]
    if got == ["none"]:
        return []
    bad = [x for x in got if x not in MODELS]
    if bad or not got:
        raise _fail(f"unknown follower model(s) {', '.join(bad) or '(none given)'}; "
                    f"valid follower models: {', '.join(MODELS)}, or none")
    return got


def parse_commitments(text: str) -> list[tuple[str, list[str] | None]]:
    """``"consensus:r=0.6,proper+dpm,bilevel"`` -> [(label, rules or None for bilevel)], rules checked."""
    sets: list[tuple[str, list[str] | None]] = []
    for part in filter(None, (t.strip() for t in text.split(","))):
        if "=" in part and ":" not in part and sets and sets[-1][1] is not None:  # a further rule option
            label, rules = sets.pop()
            assert rules is not None
            rules[-1] += "," + part
            sets.append((label + "," + part, rules))
        elif part == BILEVEL:
            sets.append((BILEVEL, None))
        else:
            sets.append((part, [r.strip() for r in part.split("+") if r.strip()]))
    if not sets:
        raise _fail(f"--principal-rules is empty; give rules, rules joined by +, or {BILEVEL}")
    for _, rules in sets:
        for spec in rules or []:
            try:
                make_rule(spec)
            except UnknownRuleError as exc:
                raise _fail(str(exc)) from None
    return [(label, None if rules is None else [make_rule(r).option_string() for r in rules])
            for label, rules in sets]


def check(args: argparse.Namespace) -> None:
    """Parse the principals' table options before any work (bad input fails fast, listing what is valid)."""
    parse_principals(args.principals)
    parse_models(args.follower_models)
    parse_commitments(args.principal_rules)


def _unsupported(model: str, rules: list[str] | None) -> str | None:
    """Why ``model`` cannot score this commitment set (None: it can)."""
    if rules is None and model != "closed_form":
        return "bilevel is computed with the closed form only"
    if model == "closed_form":
        bad = [r for r in rules or [] if make_rule(r).quadratic_terms(0.0) is None]
        if bad:
            return f"no closed form for {', '.join(bad)} (quadratic rules only)"
    return None


def responder(model: str, market: InformationMarket, seed: int, eta: float | None) -> S.Responder:
    """The follower model, cached per rule (the principals and the scoring share one response per rule)."""
    if model == "closed_form":
        inner = S.closed_form_responder
    elif model == "search":
        inner = S.search_responder(DeviationFamily.linear(GRID_A, GRID_B), seed)
    else:
        inner = S.hedge_responder(StrategyLibrary.grid(GRID_A, GRID_B), eta or HEDGE_ETA, seed)
    cache: dict[tuple[str, int], S.Response] = {}

    def respond(rule: Any, mkt: InformationMarket, weights: Any = None) -> S.Response:
        key = (rule.option_string(), id(mkt))
        if key not in cache:
            cache[key] = inner(rule, mkt, weights)
        return cache[key]

    return respond


def solve(market: InformationMarket, model: str, rules: list[str] | None, seed: int,
          eta: float | None) -> list[dict[str, Any]]:
    """Both principals' commitments on one seed, each scored with ``model``'s response."""
    real = responder(model, market, seed, eta)
    out = []
    for principal in PRINCIPALS:
        belief = real if principal == "anticipating" else S.truthful_responder
        rule, phi = S.market_principal(market, belief, rules, seed=seed)
        mc = S.stackelberg_value(market, rule, phi, real, seed=EMPIRICAL_SEED + seed)
        out.append({"principal": principal, "rule": mc.rule, "phi": mc.phi, "value": mc.value,
                    "empirical": mc.empirical, "half_width": mc.half_width, "response_kind": mc.response_kind,
                    "converged": mc.converged})
    return out


def run_table(args: argparse.Namespace, market: InformationMarket, say: Say, *,
              row_path: Callable[[str, str, int, dict[str, Any]], Path]) -> dict[str, Any] | None:
    """Compute (or reuse) every (set, model, seed), print the table, return its rows for ``--json``."""
    principals = parse_principals(args.principals)
    models, sets = parse_models(args.follower_models), parse_commitments(args.principal_rules)
    if not models:
        return None
    per_seed: list[dict[str, Any]] = []
    notes: list[str] = []
    for label, rules in sets:
        for model in models:
            why = _unsupported(model, rules)
            if why:
                notes.append(f"{label} x {model}: skipped ({why})")
                continue
            mkt = replace(market, n_days=args.rounds) if model == "hedge" else market
            extra = {"rounds": args.rounds, "eta": args.eta} if model == "hedge" else {}
            for seed in args.seeds:
                path = row_path(label, f"principals:{model}", seed, extra)
                got = read_json(path)
                if got is None:
                    t = time.perf_counter()
                    got = {"rows": solve(mkt, model, rules, seed, args.eta), "seconds": time.perf_counter() - t}
                    write_json(path, got)
                    say(f"principals {label} x {model} seed {seed}: " + ", ".join(
                        f"{r['principal']} {r['rule']} value {r['value']:.4f}" for r in got["rows"])
                        + f" ({got['seconds']:.1f}s)")
                else:
                    say(f"principals {label} x {model} seed {seed}: reused")
                per_seed += [{"commitments": label, "model": model, "seed": seed, **r} for r in got["rows"]
                             if r["principal"] in principals]
    table = summarise(pd.DataFrame(per_seed)) if per_seed else pd.DataFrame()
    print_table(table, notes)
    return {"rows": table.to_dict(orient="records"), "per_seed": per_seed, "skipped": notes}


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (label, model, principal), grp in per_seed.groupby(["commitments", "model", "principal"], sort=False):
        picks = grp["rule"].value_counts()
        row: dict[str, Any] = {"commitments": label, "model": model, "principal": principal, "seeds": len(grp),
                               "rule": picks.index[0], "rule_share": f"{picks.iloc[0]}/{len(grp)}",
                               "phi": float(grp["phi"].mean()), "converged": bool(grp["converged"].all())}
        for m in ("value", "empirical"):
            row[m], row[m + "_ci"] = ci(list(grp[m]))
        rows.append(row)
    table = pd.DataFrame(rows)
    adv = []  # anticipating minus myopic, paired by seed
    for _, r in table.iterrows():
        mine = per_seed[(per_seed["commitments"] == r["commitments"]) & (per_seed["model"] == r["model"])]
        wide = mine.pivot_table(index="seed", columns="principal", values="value")
        adv.append(ci(list(wide["anticipating"] - wide["myopic"])) if {"anticipating", "myopic"} <= set(wide)
                   and r["principal"] == "anticipating" else (float("nan"), float("nan")))
    table["advantage"], table["advantage_ci"] = [a for a, _ in adv], [h for _, h in adv]
    return table


def print_table(table: pd.DataFrame, notes: list[str]) -> None:
    print("\nStackelberg value: anticipating vs myopic principal (information market; value = the aggregate's "
          "population Rank IC when the followers respond, empirical = mean daily Rank IC on a fresh draw; "
          "± 95% CI over seeds; advantage = anticipating - myopic, paired by seed)")

    def cell(r: pd.Series, m: str) -> str:
        h = r[m + "_ci"]
        return "-" if not np.isfinite(r[m]) else f"{r[m]:.4f}" + (f" ±{h:.4f}" if np.isfinite(h) else "")

    head = ("commitments", "model", "principal", "picks", "phi", "value", "empirical", "advantage")
    w = (28, 12, 13, 24, 7, 17, 17, 17)
    print("  ".join(f"{h:<{n}}" for h, n in zip(head, w)))
    for _, r in table.iterrows():
        vals = (r["commitments"], r["model"], r["principal"], f"{r['rule']} ({r['rule_share']})", f"{r['phi']:+.2f}",
                cell(r, "value"), cell(r, "empirical"), cell(r, "advantage"))
        flag = "" if r["converged"] else "  response NOT converged in some seed"
        print("  ".join(f"{str(v):<{n}}" for v, n in zip(vals, w)) + flag)
    for note in notes:
        print(f"  {note}")
