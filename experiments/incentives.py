"""``mass incentives``: payment rules x responders, measured: deviation gain (exact or lower bound), NashConv,
private weight, herding and efficiency, with seeds and 95% confidence intervals.

Markets: ``--market information`` (the Gaussian information market with known answers, seeded per seed) or
``--data DATA`` (a recorded run of the game with scripted followers: their views are the truth, one follower
per investor type). With ``--data`` and ``--herding B,...`` it also replays the game with one type at a
time herding toward yesterday's consensus under each ``--principals`` principal (``experiments.studies.herding``).
Rows are stored one JSON each under ``--out`` and reused on rerun (resumable, like ``mass ablation``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import incentives_hedge, incentives_rl, incentives_stackelberg, options
from experiments.stats.incentive_plot import plot_incentives
from experiments.stats.inference import mean_ci as ci
from experiments.studies import llm_rules
from experiments.sweep import checks
from experiments.sweep.store import read_json, to_jsonable, write_json
from mass_env.incentives import InformationMarket, UnknownRuleError, make_rule
from mass_env.incentives.evaluate import HEDGE_TOLERANCE, RESPONDERS, Problem, evaluate
from mass_env.incentives.payments import PAYMENT_RULES

HELP = "payment rules x responders: deviation gain, NashConv, private weight, herding, efficiency"
DEFAULT_RULES = ("proper", "consensus:r=0.6", "skill", "weighted_skill", "leave_one_out", "tournament", "peer",
                 "output_agreement", "dpm")
VERSION = 1
METRICS = ("deviation_gain", "nashconv", "private_weight", "herding", "efficiency")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--market", choices=("information",), default="information",
                   help="the synthetic information market with known answers (ignored with --data)")
    options.add_data(p, absent="the information market")
    p.add_argument("--public-precision", type=checks.nonnegative_float, default=2.0, help="alpha (default 2)")
    p.add_argument("--private-precision", type=checks.nonnegative_float, default=1.0, help="beta (default 1)")
    p.add_argument("--prior-precision", type=checks.nonnegative_float, default=1.0,
                   help="tau, the prior the followers believe (0 = diffuse; default 1: calibrated views)")
    p.add_argument("--rho", type=checks.nonnegative_float, default=0.0, help="correlation of private noise")
    p.add_argument("--types", type=checks.positive_int, default=8, help="followers (investor types; default 8)")
    p.add_argument("--stocks", type=checks.positive_int, default=100, help="information market stocks (default 100)")
    p.add_argument("--days", type=checks.positive_int, default=50, help="information market days (default 50)")
    p.add_argument("--agents", type=checks.positive_int, default=8, help="agents per type with --data (default 8)")
    p.add_argument("--rules", default=",".join(DEFAULT_RULES),
                   help="payment rules, comma-separated, options as name:key=value (default: all)")
    p.add_argument("--responders", default=",".join(RESPONDERS),
                   help=f"of {', '.join(RESPONDERS)} (default: all), rl: PPO followers trained on the information "
                        "market (the rl extra; --rl-steps), and llm: LLM followers told the rule (--data)")
    p.add_argument("--max-iter", type=checks.positive_int, default=30, help="iterated best-response rounds (30)")
    incentives_hedge.add_arguments(p)
    incentives_rl.add_arguments(p)
    p.add_argument("--herding", default="", metavar="B,...",
                   help="with --data: replay the game with one type herding by each B (e.g. 0.5,1)")
    p.add_argument("--principals", default=None,
                   help="with --data: principals of the herding replay (default equal,sa); on the information "
                        "market: of myopic,anticipating in the principals' table (default both)")
    incentives_stackelberg.add_arguments(p)
    p.add_argument("--herding-rule", default="weighted_skill", help="the game's payment rule in the replay")
    options.add_seeds(p, (0, 1, 2))
    options.add_out(p, "results/incentives", "folder for stored rows (resumable), the table and the plot")
    p.add_argument("--json", default=None, metavar="PATH", help="write the table's rows as JSON")
    options.add_quiet(p)
    llm_rules.add_arguments(p)


def split_rules(text: str) -> list[str]:
    """``"proper,consensus:r=0.6,x=1,skill"`` -> ``["proper", "consensus:r=0.6,x=1", "skill"]``."""
    out: list[str] = []
    for part in filter(None, (t.strip() for t in text.split(","))):
        if "=" in part and ":" not in part and out:
            out[-1] += "," + part  # a further option of the previous rule
        else:
            out.append(part)
    return out


def parse_choices(args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    rules = []
    for spec in split_rules(args.rules):
        try:
            rules.append(make_rule(spec))
        except UnknownRuleError as exc:
            raise SystemExit(f"mass incentives: error: {exc}") from None
    resp = [r.strip() for r in args.responders.split(",") if r.strip()]
    bad = [r for r in resp if r not in (*RESPONDERS, "rl", "llm")]
    if bad or not rules or not resp:
        raise SystemExit(f"mass incentives: error: unknown responder(s) {', '.join(bad) or '(none given)'}; "
                         f"valid responders: {', '.join(RESPONDERS)}, rl, llm; "
                         f"valid rules: {', '.join(sorted(PAYMENT_RULES))}")
    return rules, resp


def code_fingerprint() -> str:
    import mass_env.incentives as pkg

    h = hashlib.sha256()
    for f in sorted(Path(pkg.__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def market_of(args: argparse.Namespace) -> InformationMarket:
    return InformationMarket(args.types, args.stocks, args.days, args.public_precision, args.private_precision,
                             args.prior_precision, args.rho)


def data_problem(args: argparse.Namespace, seed: int) -> Problem:
    """A recorded run on ``--data``: scripted followers (report = view) and equal weights; one follower per
    type (its agents' mean view), the target the z-scored payoff-horizon return of each recorded day."""
    from experiments.sweep.markets import load_market
    from mass_env import MassStackelbergEnv, build_types, rollout, scripted_followers
    from mass_env.incentives.ingame import zscore
    from principals.baselines import EqualWeights

    panel = load_market(args.data, seed)
    env = MassStackelbergEnv(panel, build_types(args.types, args.agents))
    rollout(env, EqualWeights(), scripted_followers(env, seed=seed), seed=seed)
    g = env.game
    views = g.report_log.type_means(g.agent_type, g.K, "views")  # (K, D, N)
    target = np.stack([zscore(g._payoff_returns[d]) for d in g.report_log.days])
    keep = np.isfinite(target).sum(1) >= 5  # days whose return realised within the panel
    return Problem(views[:, keep], target[keep], weights=np.mean([r.applied for r in g.records], axis=0))


def row_key(problem_id: dict[str, Any], rule: str, responder: str, seed: int, extra: dict[str, Any]) -> str:
    payload = {"v": VERSION, "problem": problem_id, "rule": rule, "responder": responder, "seed": seed,
               "code": code_fingerprint(), **extra}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]






def summarise(per_seed: pd.DataFrame, tolerance: float = HEDGE_TOLERANCE) -> pd.DataFrame:
    rows = []
    for (rule, responder), grp in per_seed.groupby(["rule", "responder"], sort=False):
        row: dict[str, Any] = {"rule": rule, "responder": responder, "gain_kind": grp["gain_kind"].iloc[0],
                               "seeds": len(grp)}
        for m in METRICS:
            row[m], row[m + "_ci"] = ci(list(grp[m]))
        n_ok = int(grp["converged"].sum())
        row["converged"] = n_ok == len(grp)
        row["status"] = ("truthful profile" if responder == "truthful" else "one round"
                         if responder == "best_response" else incentives_hedge.status(grp, tolerance)
                         if responder == "hedge" else str(grp["status"].iloc[0]) if responder == "rl"
                         else "equilibrium" if n_ok == len(grp)
                         else f"NOT converged ({len(grp) - n_ok}/{len(grp)} seeds)")
        if "certification_gap" in grp:
            row["certification_gap"], row["certification_gap_ci"] = ci(list(grp["certification_gap"]))
        rows.append(row)
    return pd.DataFrame(rows)


def print_table(table: pd.DataFrame, out: Any = None) -> None:
    out = out or sys.stdout
    def cell(r: pd.Series, m: str) -> str:
        h = r[m + "_ci"]
        return f"{r[m]:+.4f}" + (f" ±{h:.4f}" if np.isfinite(h) else "")

    gap = "certification_gap" in table and bool(np.isfinite(table["certification_gap"].astype(float)).any())
    cols = ["rule", "responder", "deviation_gain", "gain_kind", "nashconv", "private_weight", "herding",
            "efficiency"] + ["certification_gap"] * gap + ["status"]
    w = {"rule": 18, "responder": 13, "gain_kind": 11, "status": 24}
    print("  ".join(f"{c:<{w.get(c, 17)}}" for c in cols), file=out)
    for _, r in table.iterrows():
        cce = [cell(r, "certification_gap") if np.isfinite(r["certification_gap"]) else "-"] * gap
        vals = [r["rule"], r["responder"], cell(r, "deviation_gain"), r["gain_kind"], cell(r, "nashconv"),
                cell(r, "private_weight"), cell(r, "herding"), cell(r, "efficiency"), *cce, r["status"]]
        print("  ".join(f"{str(v):<{w.get(c, 17)}}" for c, v in zip(cols, vals)), file=out)


def run(args: argparse.Namespace) -> int:
    say = options.progress(args)
    rules, responders = parse_choices(args)
    llm, responders = "llm" in responders, [r for r in responders if r != "llm"]
    if llm and args.data is None:
        raise SystemExit("mass incentives: error: --responders llm needs --data (LLM followers read a market's "
                         "stocks; the information market has none)")
    if "rl" in responders:
        incentives_rl.check(args)
    if args.curves and "hedge" not in responders:
        raise SystemExit("mass incentives: error: --curves needs hedge rows (add hedge to --responders)")
    args.principals = args.principals or ("equal,sa" if args.data is not None else "myopic,anticipating")
    if args.data is None:
        incentives_stackelberg.check(args)
    out = checks.writable_dir(args.out)
    (out / "rows").mkdir(exist_ok=True)
    if args.data is None:
        market = market_of(args)
        problem_id: dict[str, Any] = {"market": "information", **market.__dict__}
        w_truth = args.private_precision / (args.private_precision + args.public_precision)
        print(f"information market: {args.types} followers, {args.stocks} stocks, {args.days} days, alpha="
              f"{args.public_precision:g}, beta={args.private_precision:g}, tau={args.prior_precision:g}, "
              f"rho={args.rho:g}; truthful private weight {w_truth:.4f}")
    else:
        problem_id = {"data": args.data, "types": args.types, "agents": args.agents}
        print(f"market: {args.data} (scripted followers' views are the truth; {args.types} types x {args.agents})")
    t0, per_seed, problems = time.perf_counter(), [], {}
    total, done = len(rules) * len(responders) * len(args.seeds), 0
    for seed in args.seeds:
        for rule in rules:
            for resp in responders:
                name = rule.option_string()
                extra = {"max_iter": args.max_iter, **(incentives_hedge.key_extra(args) if resp == "hedge" else
                                                       incentives_rl.key_extra(args) if resp == "rl" else {})}
                path = out / "rows" / f"{row_key(problem_id, name, resp, seed, extra)}.json"
                row = read_json(path)
                done += 1
                if row is None:
                    if seed not in problems:
                        problems[seed] = (Problem.from_market(market, seed) if args.data is None
                                          else data_problem(args, seed))
                    problem = problems[seed]
                    if resp == "hedge" and args.data is None:  # the learners play --rounds days
                        if ("hedge", seed) not in problems:
                            problems["hedge", seed] = incentives_hedge.market_problem(market, args.rounds, seed)
                        problem = problems["hedge", seed]
                    t = time.perf_counter()
                    if resp == "rl":
                        incentives_rl.check_extra()
                        got = incentives_rl.row(rule, market, problem, seed, args, say)
                    else:
                        got = evaluate(rule, resp, problem, max_iter=args.max_iter,
                                       hedge=incentives_hedge.settings(args, seed)).as_dict()
                    row = {"rule": name, "responder": resp, "seed": seed, **got, "seconds": time.perf_counter() - t}
                    write_json(path, row)
                    say(f"[{done}/{total}] {name} x {resp} seed {seed}: gain {row['deviation_gain']:+.4f} "
                        f"({row['gain_kind']}), {row['status']} ({row['seconds']:.1f}s)")
                else:
                    say(f"[{done}/{total}] {name} x {resp} seed {seed}: reused")
                per_seed.append(row)
    table = summarise(pd.DataFrame(per_seed), args.hedge_tol) if per_seed else pd.DataFrame()
    if per_seed:
        print(f"\n{len(args.seeds)} seed(s) {list(args.seeds)}; means over followers, ± 95% CI over seeds "
              f"({time.perf_counter() - t0:.0f}s)")
        print_table(table)
        incentives_rl.print_weights(per_seed)
    llm_rows = llm_rules.run_llm_rows(args, rules, say) if llm else None
    herding = None
    if args.herding:
        herding = run_herding(args, say)
    if per_seed:
        table.to_csv(out / "incentives.csv", index=False)
        plot = plot_incentives(table, out / "incentives.png")
        if plot:
            print(f"wrote {out}/incentives.csv and {plot}")
    curves = incentives_hedge.write_curves(args, per_seed, out) if args.curves else None

    def row_path(label: str, kind: str, seed: int, extra: dict[str, Any]) -> Path:
        return out / "rows" / f"{row_key(problem_id, label, kind, seed, extra)}.json"

    principals = None if args.data is not None else incentives_stackelberg.run_table(
        args, market, say, row_path=row_path)
    if args.json:
        doc = {"rows": table.to_dict(orient="records"), "per_seed": per_seed, "llm": llm_rows,
               "herding": herding, "problem": problem_id, "curves": curves, "principals": principals}
        Path(args.json).write_text(json.dumps(doc, indent=2, default=to_jsonable))
        print(f"wrote {args.json}")
    return 0


def run_herding(args: argparse.Namespace, say: Any) -> list[dict[str, Any]]:
    """The herding replay (``experiments.studies.herding``), stored per (principal, seed, b) and reused."""
    from experiments.studies.herding import herding_gains
    from experiments.sweep.markets import load_market
    from mass_env.game import GameConfig
    from mass_env.game.investors import build_types

    if args.data is None:
        raise SystemExit("mass incentives: error: --herding needs --data (the game is replayed on a market)")
    bs = [float(b) for b in args.herding.split(",") if b.strip()]
    config = GameConfig(follower_reward=args.herding_rule)
    types = build_types(args.types, args.agents)
    rows: list[dict[str, Any]] = []
    for principal in [x.strip() for x in args.principals.split(",") if x.strip()]:
        for seed in args.seeds:
            key = row_key({"data": args.data, "types": args.types, "agents": args.agents}, args.herding_rule,
                          f"herd:{principal}", seed, {"b": bs})
            path = Path(args.out) / "rows" / f"{key}.json"
            got = read_json(path)
            if got is None:
                t = time.perf_counter()
                res = herding_gains(load_market(args.data, seed), types, config, principal, seed, bs, say)
                got = {"rows": [{"principal": principal, "seed": seed, "b": r.b, "gain": r.gain,
                                 "truth_pay": r.truth_pay, "principal_payoff": r.principal_ic,
                                 "principal_payoff_dev": r.principal_ic_dev, "misreport": r.misreport}
                                for r in res], "seconds": time.perf_counter() - t}
                write_json(path, got)
            else:
                say(f"  herding {principal} seed {seed}: reused")
            rows.extend(got["rows"])
    print(f"\nherding in the game ({args.herding_rule} pay; one type at a time shades toward yesterday's consensus;"
          f" gain = its pay per paid day minus truthful, lower bound; mean over types and seeds ± 95% CI):")
    print(f"  {'principal':<9} {'b':>5} {'gain':>18} {'types gaining':>14} {'principal payoff change':>25}")
    for (principal, b), grp in pd.DataFrame(rows).groupby(["principal", "b"], sort=False):
        gains = np.concatenate([np.asarray(g) for g in grp["gain"]])
        m, h = ci(list(gains))
        dl = np.concatenate([np.asarray(d) - p for d, p in zip(grp["principal_payoff_dev"], grp["principal_payoff"])])
        print(f"  {principal:<9} {b:>5g} {m:>+10.4f} ±{h:.4f} {int((gains > 0).sum()):>6}/{gains.size:<7} "
              f"{np.mean(dl):>+22.4f}")
    print_herding_contrasts(rows)
    return rows


def print_herding_contrasts(rows: list[dict[str, Any]]) -> None:
    """What the principal adds: each principal's herding gain minus the first principal's (the control, e.g.
    equal weights, whose ``weighted_skill`` pay is the own Rank IC), paired by seed and type; the 95% CI is over
    seeds (the independent replications), of the per-seed mean over types."""
    frame = pd.DataFrame(rows)
    names = list(dict.fromkeys(frame["principal"]))
    if len(names) < 2:
        return
    gain = {(r["principal"], r["b"], r["seed"]): np.asarray(r["gain"], dtype=np.float64) for r in rows}
    print(f"  what the principal adds (gain minus {names[0]}'s, paired by seed and type; ± 95% CI over seeds):")
    for principal in names[1:]:
        for b in dict.fromkeys(frame["b"]):
            seeds = [s for s in dict.fromkeys(frame["seed"]) if (principal, b, s) in gain and (names[0], b, s) in gain]
            diff = [float(np.mean(gain[principal, b, s] - gain[names[0], b, s])) for s in seeds]
            m, h = ci(diff)
            print(f"  {principal + ' - ' + names[0]:<15} {b:>5g} {m:>+10.4f} ±{h:.4f} ({len(seeds)} seeds)")
