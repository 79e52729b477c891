"""The Stackelberg value of the anticipating leader against the myopic ones, with Hedge followers responding.

Why: the myopic leaders (the paper's SA and CMA-ES configs, D being ``cmaes`` with its defaults: the
anticipating leader's twin, and equal weights) fit the weights on the reports as made; the anticipating
leader (``principals.anticipating``) scores the followers' best response to each candidate. The Stackelberg
value of a leader is the aggregate's 10-day Rank IC when the followers respond (here: Hedge followers,
``agents.hedge``, learning from the payment rule). One command:

1. **the rule**: the game fixes the payment rule for an episode, so the anticipating leader picks it once, per
   seed, from ``--menu`` on the warm-up days before the evaluation period (the views of a truthful run under
   equal weights; the fitted commitment's value under each rule's response); the study's rule is the one
   with the highest mean value over the seeds;
2. **the sweep**: ``mass ablation --followers hedge`` (rule ``weighted_skill``) with the configs, equal
   weights and ``anticipating``; when the pick is another rule, the anticipating leader is run
   again with the followers paid (and learning) by the picked rule;
3. **the table**: every row's 10-day Rank IC with its CI, and the anticipating leader minus each myopic one,
   paired by seed and day (``experiments.stats.inference.difference_ci``).

``python -m experiments.studies.anticipating --data sse50 --seeds 3 --out results/sse50-anticipating``
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import principals
from experiments.paper.fidelity import episode_window, game_rule, types_for
from experiments.stats.inference import difference_ci
from experiments.sweep.engine import run_ablation
from experiments.sweep.markets import market_for
from experiments.sweep.principal_specs import principal_configs
from experiments.sweep.spec import SweepSpec
from mass_env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.rollout import rollout
from mass_env.scripted import FixedCommitment, scripted_followers
from principals.anticipating import AnticipatingPrincipal

MENU = ("weighted_skill", "skill", "proper", "consensus:r=0.5", "tournament", "leave_one_out")
DEFAULT_RULE = "weighted_skill"
COLUMNS = ("leader", "rule", "value", "lo", "hi", "diff", "diff_lo", "diff_hi")
Say = Callable[[str], None]
#: the myopic rows' labels (config D is ``cmaes`` with its defaults: the anticipating leader's twin)
LABELS = {"A": "config A (SA, MASS)", "D": "config D (CMA-ES, the twin)", "EQ": "equal weights"}


@dataclass(frozen=True)
class Choice:
    """The rule the study uses and every menu rule's fitted value per seed (rule -> [value per seed])."""

    rule: str
    values: dict[str, list[float]]


def choose_rule(spec: SweepSpec, menu: Sequence[str], options: str = "", log: Say = print) -> Choice:
    """Step 1 (module docstring): per seed, the anticipating leader's ``choose_rule`` on the warm-up days."""
    cfg = principal_configs([f"anticipating{':' + options if options else ''}"],
                            [spec.configs[0].population])[0]
    values: dict[str, list[float]] = {r: [] for r in menu}
    for seed in spec.seeds:
        panel = market_for(spec, seed)
        env = MassStackelbergEnv(panel, types_for(cfg, spec.fidelity, seed),
                                 GameConfig(horizon=spec.horizon, rule=game_rule(spec.fidelity)))  # type: ignore[arg-type]
        start = (episode_window(panel, spec.fidelity, spec.eval_skip) or {}).get("start",
                                                                               env.game.config.warmup_days)
        end = start + spec.eval_skip - 1  # the warm-up: the days before the evaluation period
        rollout(env, FixedCommitment(alpha=0.5), scripted_followers(env, seed=seed), seed=seed,
                options={"start": start, "end": end})
        # the choice scores the whole warm-up window (the episode's leader scores its last lookback days)
        leader = principals.make("anticipating", **{**cfg.principal_options(), "lookback": spec.eval_skip})
        assert isinstance(leader, AnticipatingPrincipal)
        leader.reset(env.game.K, seed=seed)
        window = env.game.view_window(spec.eval_skip, horizon=leader.fitness_horizon, asof=end)
        pick = leader.choose_rule(window, menu, previous=np.full(env.game.K, 1.0 / env.game.K))
        for r, v in pick.values.items():
            values[r].append(float(v))
        log(f"  seed {seed}: warm-up days {window.n_days}, picks {pick.rule} ("
            + ", ".join(f"{r} {v:+.4f}" for r, v in pick.values.items()) + ")")
    return Choice(max(menu, key=lambda r: float(np.mean(values[r]))), values)


def _series(out: Path, config: str, col: str) -> pd.DataFrame:
    daily = pd.read_parquet(out / "daily.parquet")
    return daily[(daily["config"] == config) & daily["eval"]].pivot(index="seed", columns="day", values=col)


def _level(out: Path, config: str, col: str) -> tuple[float, float, float]:
    t = pd.read_csv(out / "table.csv").set_index("config")
    return tuple(float(t.loc[config, f"{col}_mean{x}"]) for x in ("", "_lo", "_hi"))  # type: ignore[return-value]


def compare(rows: Sequence[tuple[str, str, Path, str]], anticipating: tuple[str, str, Path, str],
            horizon: int = 10) -> pd.DataFrame:
    """One row per leader ``(label, rule, ablation folder, config)``: its 10-day Rank IC [CI] and the
    ``anticipating`` row minus it, paired by seed and day (NaN for the anticipating row itself)."""
    col = f"ric_signal_{horizon}d"
    a = _series(anticipating[2], anticipating[3], col)
    out = []
    for label, rule, folder, config in rows:
        b = _series(folder, config, col)
        diff = None if (folder, config) == anticipating[2:] else difference_ci((a - b).to_numpy(), horizon)
        out.append((label, rule, *_level(folder, config, col),
                    *((diff.estimate, diff.lo, diff.hi) if diff else (np.nan,) * 3)))
    return pd.DataFrame(out, columns=list(COLUMNS))


def markdown(table: pd.DataFrame, anticipating: str) -> str:
    """The table as the results page prints it."""
    lines = [f"| leader | payment rule | 10d Rank IC [95% CI] | {anticipating} - leader [95% CI] |",
             "|---|---|---|---|"]
    for r in table.itertuples():
        diff = "" if not np.isfinite(r.diff) else f"{r.diff:+.4f} [{r.diff_lo:+.4f}, {r.diff_hi:+.4f}]"
        lines.append(f"| {r.leader} | {r.rule} | {r.value:+.4f} [{r.lo:+.4f}, {r.hi:+.4f}] | {diff} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    log: Say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    t0, cpu0 = time.perf_counter(), _cpu()
    seeds = tuple(range(args.seeds))
    opts = f":{args.options}" if args.options else ""
    spec = SweepSpec.build(args.configs, baselines=("equal",), extra_principals=[f"anticipating{opts}"], seeds=seeds,
                           data=args.data, followers="hedge", follower_options={"rule": DEFAULT_RULE},
                           horizon=args.horizon, n_days=args.days)
    out = Path(args.out)
    log(f"1. the payment rule, chosen on the warm-up days from {', '.join(args.menu)}")
    choice = choose_rule(spec, args.menu, args.options, log)
    log(f"   the study's rule: {choice.rule} (highest mean value over seeds)")
    log(f"2. the sweep with hedge followers paid by {DEFAULT_RULE} -> {out / DEFAULT_RULE}")
    run_ablation(spec, out / DEFAULT_RULE, plot=False, progress=log)
    names = [c.name for c in spec.configs]
    mine_cfg = names[-1]
    rows = [(LABELS.get(n, f"config {n}"), DEFAULT_RULE, out / DEFAULT_RULE, n)
            for n in names[:-1] if not n.startswith("ORACLE")]
    anticipating = ("anticipating", DEFAULT_RULE, out / DEFAULT_RULE, mine_cfg)
    rows.insert(0, anticipating)
    if choice.rule != DEFAULT_RULE:
        picked = f"anticipating:{(args.options + ',') if args.options else ''}rule={choice.rule}"
        spec2 = SweepSpec(tuple(principal_configs([picked], [spec.configs[0].population])), seeds=seeds,
                          data=args.data, followers="hedge", follower_options={"rule": choice.rule},
                          horizon=args.horizon, n_days=args.days)
        folder = out / choice.rule.replace(":", "_").replace("=", "")
        log(f"2b. the anticipating leader with hedge followers paid by {choice.rule} -> {folder}")
        run_ablation(spec2, folder, plot=False, progress=log)
        anticipating = ("anticipating (its rule)", choice.rule, folder, spec2.configs[0].name)
        rows.insert(0, anticipating)
    table = compare(rows, anticipating, args.horizon)
    table.to_csv(out / "stackelberg.csv", index=False)
    print(f"rule picked on the warm-up days: {choice.rule}; mean fitted value per rule over seeds: "
          + ", ".join(f"{r} {np.mean(v):+.4f}" for r, v in choice.values.items()))
    print(markdown(table, anticipating[0]))
    print(f"\n{len(seeds)} seed(s); {time.perf_counter() - t0:.0f} s wall, {_cpu() - cpu0:.0f} s CPU; "
          f"table in {out / 'stackelberg.csv'}")
    return 0


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _menu(text: str) -> tuple[str, ...]:
    """``--menu``: payment rules separated by '/', each one the registry knows (an error lists them)."""
    from mass_env.incentives.payments import make_rule

    rules = tuple(x.strip() for x in text.split("/") if x.strip())
    try:
        for r in rules:
            make_rule(r)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not rules:
        raise argparse.ArgumentTypeError("a menu of payment rules separated by '/', e.g. weighted_skill/proper")
    return rules


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.studies.anticipating", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="market (as mass ablation --data; default: the synthetic market)")
    p.add_argument("--days", type=int, default=160, help="days of the synthetic market without --data (default 160)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--configs", default="A,B,C,D,E,F", help="the myopic configs (default A,B,C,D,E,F)")
    p.add_argument("--menu", type=_menu, default=MENU,
                   help="payment rules the leader chooses from, separated by '/' (default " + "/".join(MENU) + ")")
    p.add_argument("--options", default="", help="options of the anticipating leader (key=value,...)")
    p.add_argument("--horizon", type=int, default=10, help="payoff horizon in days (default 10)")
    p.add_argument("--out", default="results/anticipating", help="output folder (resumable sweeps)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


if __name__ == "__main__":
    sys.exit(run(parser().parse_args()))
