"""The ``rl`` rows of ``mass incentives``: followers that learn by being paid (SB3 PPO, parameter sharing).

Why: the other responders say what *rational* followers would report; an ``rl`` row says where followers that
only see their pay end. Each (rule, seed) trains one PPO policy shared by every follower and stock on the
information market's followers env (``MarketFollowersEnv``, fresh markets drawn from the seed), with the
study's training code (``experiments.studies.rl_followers.train``), then plays it deterministically on the
seed's market, the one every other responder of that seed is measured on
(``evaluate.evaluate_reports``: NashConv is exact for quadratic rules, the best response to the linear fit of
the played reports). Each row also keeps the closed-form private weight (iterated best response) to compare.
SB3 and torch are the optional ``rl`` extra.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from agents.ppo import PPOSettings, require_sb3
from experiments.stats.inference import mean_ci
from experiments.sweep import checks
from mass_env.incentives import InformationMarket, PaymentRule
from mass_env.incentives.evaluate import Problem, evaluate_reports
from mass_env.incentives.market_env import MarketFollowersEnv

#: the default training budget: (follower, stock) reports (400 days of 8 followers x 100 stocks)
DEFAULT_STEPS = 320_000



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rl-steps", type=checks.positive_int, default=DEFAULT_STEPS,
                   help="rl rows: PPO training budget in (follower, stock) reports per (rule, seed) "
                        f"(default {DEFAULT_STEPS:,}: 400 days of 8 followers x 100 stocks)")
    p.add_argument("--rl-rollout", type=checks.positive_int, default=PPOSettings.n_steps,
                   help=f"rl rows: market days per PPO rollout (default {PPOSettings.n_steps})")
    p.add_argument("--rl-lr", type=checks.positive_float, default=PPOSettings.learning_rate,
                   help=f"rl rows: PPO's initial learning rate, decaying linearly to 0 "
                        f"(default {PPOSettings.learning_rate:g})")


def settings(args: argparse.Namespace) -> PPOSettings:
    return PPOSettings(n_steps=args.rl_rollout, learning_rate=args.rl_lr)


def key_extra(args: argparse.Namespace) -> dict[str, Any]:
    """What a stored rl row depends on besides the problem, rule and seed."""
    return {"rl_steps": args.rl_steps, "ppo": settings(args).as_dict()}


def check(args: argparse.Namespace) -> None:
    """``rl`` rows train on the information market: a clear error with ``--data``."""
    if args.data is not None:
        raise SystemExit("mass incentives: error: --responders rl trains PPO followers on the information market; "
                         "drop --data (or the rl responder)")


def check_extra() -> None:
    """Training needs the ``rl`` extra (stored rows do not): a clear error naming it."""
    try:
        require_sb3()
    except ImportError as exc:
        raise SystemExit(f"mass incentives: error: {exc}") from None


def row(rule: PaymentRule, market: InformationMarket, problem: Problem, seed: int, args: argparse.Namespace,
        say: Callable[[str], None]) -> dict[str, Any]:
    """Train on fresh markets from ``seed``, play on the seed's market (``problem``); the row's numbers."""
    from experiments.studies.rl_followers import closed_form_weight, play, train

    res = train(rule, market, args.rl_steps, seed=seed, evaluations=4, settings=settings(args), say=say)

    def predict(rows: np.ndarray) -> np.ndarray:
        return res.model.predict(rows.astype(np.float32), deterministic=True)[0][:, 0]

    t0 = time.perf_counter()
    reports = play(predict, MarketFollowersEnv(market, rule), draw=market.draw(seed))
    steps = int(res.curve["steps"].iloc[-1])
    got = evaluate_reports(rule, problem, reports, f"learned (PPO, {steps:,} reports)")
    closed = closed_form_weight(rule, market)
    return {**got.as_dict(), "closed_form_weight": closed, "rl_steps": steps, "train_s": res.wall_s,
            "play_s": time.perf_counter() - t0}


def print_weights(per_seed: list[dict[str, Any]]) -> None:
    """Under the table: each rule's learned private weight against its closed form, ± 95% CI over seeds."""
    rows = pd.DataFrame([r for r in per_seed if r["responder"] == "rl"])
    if rows.empty:
        return
    print("\nrl: learned private weight vs the closed form (iterated best response), ± 95% CI over seeds")
    for rule, grp in rows.groupby("rule", sort=False):
        m, h = mean_ci(list(grp["private_weight"]))
        closed = float(grp["closed_form_weight"].iloc[0])
        d, hd = mean_ci(list(grp["private_weight"] - closed))
        cf = f"{closed:.4f}" if np.isfinite(closed) else "none (not quadratic)"
        print(f"  {rule:<18} learned {m:.4f} ±{h:.4f}  closed form {cf}  difference {d:+.4f} ±{hd:.4f}  "
              f"({len(grp)} seeds, {grp['train_s'].mean():.0f}s training each)")
