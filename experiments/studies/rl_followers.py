"""RL followers on the information market: SB3 PPO learns to report under a payment rule, compared with the
closed-form equilibrium.

Why: the closed forms say where *rational* followers end (``proper``: the Bayesian private weight
beta / (alpha + beta); ``consensus:r``: the Morris-Shin weight with the finite-population correction); this
study asks whether followers that only see their pay get there. One PPO policy is shared by every follower
and every stock (``mass_env.sb3.make_market_vec_env``: a per-stock policy row -> report, rows = private
signal, public signal, view, yesterday's consensus and the rule), with ``gamma = 0`` (each day is a fresh,
independent market: a contextual bandit). Every few rollouts the deterministic policy is played on a held-out
market and measured: the private weight (``metrics.private_weight``), herding toward the public signal, the
exact deviation gain of its linear fit (quadratic rules) and the best family deviation's gain (a lower bound,
any rule): the learning curve.

    python -m experiments.studies.rl_followers --rules proper,consensus:r=0.5 --seeds 0,1,2 --out DIR

SB3 and torch are optional (the ``rl`` extra), imported when training starts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.ppo import PPOSettings, make_ppo, require_sb3
from mass_env.incentives import InformationMarket, MarketDraw, PaymentRule, make_rule
from mass_env.incentives._base import PayContext
from mass_env.incentives.market_env import MarketFollowersEnv
from mass_env.incentives.metrics import deviation_gain, herding_index, private_weight
from mass_env.incentives.responses import (
    exact_deviation_gain,
    iterated_best_response_linear,
    relative_private_weight,
)

Predict = Callable[[np.ndarray], np.ndarray]
#: the held-out market's seed offset (training markets are drawn from the training seed's generator)
EVAL_SEED = 1_000_003


def default_market(n_followers: int = 8, n_stocks: int = 100, n_days: int = 10) -> InformationMarket:
    """alpha = 2, beta = 1 and a unit prior (tau = 1: the views are the simulated world's posterior means)."""
    return InformationMarket(n_followers=n_followers, n_stocks=n_stocks, n_days=n_days, public_precision=2.0,
                             private_precision=1.0, prior_precision=1.0)


def closed_form_weight(rule: PaymentRule, market: InformationMarket) -> float:
    """The equilibrium private weight by iterated best response (quadratic rules; NaN otherwise): for
    ``proper`` beta / (alpha + beta), for ``consensus:r`` Morris-Shin with c = r (1 - 1/F)^2."""
    if rule.quadratic_terms(1.0 / market.n_followers) is None:
        return float("nan")
    eq = iterated_best_response_linear(rule, market)
    return float(relative_private_weight(eq.profile).mean()) if eq.converged else float("nan")


def play(predict: Predict, env: MarketFollowersEnv, seed: int | None = None, draw: MarketDraw | None = None
         ) -> np.ndarray:
    """The reports (F, D, S) of ``predict`` (rows (N, C) -> reports (N,)) over one episode of ``env`` (a draw
    seeded by ``seed``, or ``draw`` itself)."""
    obs = env.reset_arrays(seed, draw=draw)
    f, s, c = obs.shape
    days = []
    while True:
        rep = np.asarray(predict(obs.reshape(f * s, c)), dtype=np.float64).reshape(f, s)
        days.append(rep)
        obs, _, _, done = env.step_arrays(rep)
        if done:
            return np.stack(days, axis=1)


def measure(predict: Predict, env: MarketFollowersEnv, seed: int = EVAL_SEED) -> dict[str, float]:
    """Private weight, herding, deviation gains and mean pay of ``predict`` on one held-out market.

    ``exact_gain``: the exact gain (closed form, per follower) of the best response to the linear fit of the
    reports, ``k_x x + k_y y`` (quadratic rules; NaN otherwise). ``search_gain``: the best deviation in
    ``responses.DeviationFamily`` (anchor: the public signal) against the reports themselves: a lower bound.
    """
    reports = play(predict, env, seed)
    draw = env.draw
    assert draw is not None
    rule, market = env.rule, env.market
    ctx = PayContext(draw.theta, env.weights)
    y = np.broadcast_to(draw.public, reports.shape)
    design = np.column_stack([np.ones(reports.size), draw.private.ravel(), y.ravel()])
    _, kx, ky = np.linalg.lstsq(design, reports.ravel(), rcond=None)[0]
    exact = float("nan")
    if rule.quadratic_terms(1.0 / market.n_followers) is not None:
        exact = float(exact_deviation_gain(rule, market, np.tile([kx, ky], (market.n_followers, 1)),
                                           env.weights).mean())
    search = deviation_gain(rule, reports, draw.views, ctx, anchor=draw.public)
    return {"private_weight": float(np.mean(private_weight(reports, draw.private, draw.public))),
            "k_private": float(kx), "k_public": float(ky),
            "herding": float(np.nanmean(herding_index(reports, draw.views, anchor=draw.public))),
            "exact_gain": exact, "search_gain": float(search.gain.mean()),
            "pay": float(np.nanmean(rule.pay(reports, ctx)))}


@dataclass(frozen=True)
class Trained:
    """A trained policy, its learning curve (one row per evaluation) and the wall time of training."""

    rule: str
    seed: int
    model: Any
    curve: pd.DataFrame
    wall_s: float
    closed_form: float

    @property
    def final(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.curve.iloc[-1].items() if k not in ("rule", "seed")}


def train(rule: str | PaymentRule, market: InformationMarket | None = None, timesteps: int = 320_000, *,
          seed: int = 0, evaluations: int = 10, settings: PPOSettings | None = None, threads: int = 1,
          say: Callable[[str], None] | None = None) -> Trained:
    """Train one shared PPO policy for every follower and stock; measure it ``evaluations`` times (and before).

    ``timesteps`` counts (follower, stock) reports: one market day is F x S of them. ``say`` hears each
    measurement (progress).
    """
    require_sb3()
    from stable_baselines3.common.callbacks import BaseCallback

    from mass_env.sb3 import make_market_vec_env

    market = market or default_market()
    rule = made = make_rule(rule)
    ps = settings or PPOSettings()
    venv = make_market_vec_env(MarketFollowersEnv(market, rule))
    venv.seed(seed)
    judge = MarketFollowersEnv(market, rule)
    model = make_ppo(venv, ps, seed=seed, threads=threads)

    def predict(rows: np.ndarray) -> np.ndarray:
        return model.predict(rows.astype(np.float32), deterministic=True)[0][:, 0]

    rows: list[dict[str, float]] = []
    per_rollout = ps.n_steps * venv.num_envs
    every = max(1, timesteps // per_rollout // max(evaluations, 1))
    spent = [0.0]

    class Curve(BaseCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.rollouts = 0

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            self.rollouts += 1
            if self.rollouts % every == 0:
                t0 = time.perf_counter()
                rows.append({"steps": float(self.num_timesteps), **measure(predict, judge, EVAL_SEED + seed)})
                spent[0] += time.perf_counter() - t0
                if say is not None:
                    say(f"  {made.option_string()} seed {seed}: {self.num_timesteps:,}/{timesteps:,} reports, "
                        f"private weight {rows[-1]['private_weight']:.4f}")

    rows.append({"steps": 0.0, **measure(predict, judge, EVAL_SEED + seed)})
    t0 = time.perf_counter()
    model.learn(total_timesteps=timesteps, callback=Curve())
    wall = time.perf_counter() - t0 - spent[0]
    if rows[-1]["steps"] != model.num_timesteps:
        rows.append({"steps": float(model.num_timesteps), **measure(predict, judge, EVAL_SEED + seed)})
    curve = pd.DataFrame(rows)
    curve.insert(0, "seed", seed)
    curve.insert(0, "rule", rule.option_string())
    venv.close()
    return Trained(rule.option_string(), seed, model, curve, wall, closed_form_weight(rule, market))


def compare(rules: Sequence[str], seeds: Sequence[int] = (0,), timesteps: int = 320_000,
            market: InformationMarket | None = None, say: Callable[[str], None] = lambda _: None,
            **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every rule x seed; the table (learned vs closed-form weight, gains, time) and all curves."""
    market = market or default_market()
    table, curves = [], []
    for spec in rules:
        for seed in seeds:
            res = train(spec, market, timesteps, seed=seed, **kwargs)
            fin = res.final
            table.append({"rule": res.rule, "seed": seed, "steps": int(fin["steps"]),
                          "private_weight": fin["private_weight"], "closed_form": res.closed_form,
                          "abs_error": abs(fin["private_weight"] - res.closed_form), "herding": fin["herding"],
                          "exact_gain": fin["exact_gain"], "search_gain": fin["search_gain"], "wall_s": res.wall_s})
            curves.append(res.curve)
            say(f"{res.rule} seed {seed}: private weight {fin['private_weight']:.4f} (closed form "
                f"{res.closed_form:.4f}), exact gain {fin['exact_gain']:.2e}, {res.wall_s:.0f}s")
    return pd.DataFrame(table), pd.concat(curves, ignore_index=True)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule: mean learned weight over seeds, its closed form, mean and max |error|, gains, time."""
    g = table.groupby("rule", sort=False)
    return pd.DataFrame({"seeds": g.size(), "private_weight": g["private_weight"].mean(),
                         "seed_sd": g["private_weight"].std(ddof=1), "closed_form": g["closed_form"].first(),
                         "mean_abs_error": g["abs_error"].mean(), "max_abs_error": g["abs_error"].max(),
                         "exact_gain": g["exact_gain"].mean(), "search_gain": g["search_gain"].mean(),
                         "wall_s": g["wall_s"].mean()}).reset_index()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rules", default="proper,consensus:r=0.5", help="payment rules, separated by ';' or ','")
    p.add_argument("--seeds", default="0", help="training seeds, comma separated (default 0)")
    p.add_argument("--timesteps", type=int, default=320_000, help="(follower, stock) reports trained on")
    p.add_argument("--followers", type=int, default=8)
    p.add_argument("--stocks", type=int, default=100)
    p.add_argument("--n-steps", type=int, default=PPOSettings.n_steps,
                   help=f"PPO steps (market days) per rollout; each is F x S reports (default {PPOSettings.n_steps})")
    p.add_argument("--learning-rate", type=float, default=PPOSettings.learning_rate,
                   help=f"PPO's initial learning rate, decaying linearly to 0 (default {PPOSettings.learning_rate:g})")
    p.add_argument("--out", type=Path, default=None, help="folder for table.csv, curves.csv and the plot")
    args = p.parse_args(argv)
    rules = _join_options(args.rules)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    market = default_market(args.followers, args.stocks)
    ps = PPOSettings(n_steps=args.n_steps, learning_rate=args.learning_rate,
                     batch_size=min(PPOSettings.batch_size, args.n_steps * market.n_followers * market.n_stocks))
    table, curves = compare(rules, seeds, args.timesteps, market, say=lambda m: print(m, file=sys.stderr), settings=ps)
    print(summary(table).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "table.csv", index=False)
        curves.to_csv(args.out / "curves.csv", index=False)
        from experiments.stats.learning_plot import plot_training_curves

        closed = dict(zip(table["rule"], table["closed_form"]))
        fig = plot_training_curves(curves, args.out / "learning_curves.png", closed)
        (args.out / "summary.json").write_text(json.dumps(summary(table).to_dict("records"), indent=1))
        print(f"wrote {args.out}" + (f" and {fig.name}" if fig else " (no matplotlib: no plot)"))
    return 0


def _join_options(spec: str) -> list[str]:
    """``"proper,consensus:r=0.5,dpm"`` -> the rule specs (a ``key=value`` part belongs to the rule before it)."""
    out: list[str] = []
    for part in filter(None, (p.strip() for p in spec.replace(";", ",").split(","))):
        if "=" in part and ":" not in part and out:
            out[-1] += "," + part
        else:
            out.append(part)
    return out


if __name__ == "__main__":
    sys.exit(main())
