"""Does stock SB3 PPO, with its *default* hyper-parameters, learn a leader that beats equal weights?

The value-only synthetic market (``experiments.sweep.markets.VALUE_ONLY``: only valuations carry signal, so
the best weights favour the types that see them) at 8 and 32 investor types x 8 agents. PPO trains on
``mass_env/Principal-v0`` over the first 60% of the days (``experiments.train_rl.train``) with
``stable_baselines3.PPO``'s own defaults (n_steps 2048, batch 64, 10 epochs, lr 3e-4, one env), and
is judged on the held-out 40% against equal weights on the same days and follower seeds. The same
architecture *untrained* is scored too: its deterministic action is ~0, which the symmetric action
space decodes to equal weights, alpha 0.5, no inertia, so it must land within noise of equal weights.

Prints, per population: the learning curve (mean reward per step in bins of 2048 training steps, with
equal weights' reward on the training days for reference) and the held-out table (mean daily payoff =
paid Rank IC at the 10-day horizon, per follower seed). The numbers in the README come from

    python benchmarks/bench_rl_ppo.py                      # 8 and 32 types, 20480 steps each
    python benchmarks/bench_rl_ppo.py --types 8 --timesteps 8192   # quicker
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

import common  # noqa: F401  (this checkout on sys.path)
import pandas as pd

from experiments.sweep.markets import VALUE_ONLY, training_market
from experiments.train_rl import TrainSpec, equal_weights_return, evaluate_heldout, split_day, train
from principals.rl import RLPrincipal, algorithm_class, save_policy

#: stable_baselines3.PPO's defaults, spelled out so TrainSpec's small-budget settings do not apply
PPO_DEFAULTS = {"n_steps": 2048, "batch_size": 64, "n_epochs": 10, "learning_rate": 3e-4}


def run(n_types: int, timesteps: int, seeds: tuple[int, ...], out: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = TrainSpec(timesteps=timesteps, n_envs=1, seed=0, n_types=n_types, agents_per_type=8, n_days=260,
                     strength=dict(VALUE_ONLY), train_frac=0.6, eval_seeds=seeds, threads=1,
                     algo_kwargs=PPO_DEFAULTS)
    t0 = time.perf_counter()
    res = train(spec, os.path.join(out, f"k{n_types}"), plot=False, progress_every=10**9)
    wall = time.perf_counter() - t0
    panel = training_market(spec)
    split = split_day(panel, spec)
    train_panel = panel.slice_days(0, split)
    steps_per_ep = max(int(res.curve["episode_length"].median()), 1)
    ref = equal_weights_return(train_panel, replace(spec, n_envs=1)) / steps_per_ep
    curve = res.curve.assign(bin=(res.curve["timesteps"] - 1) // 2048).groupby("bin").agg(
        steps=("timesteps", "max"), reward_per_step=("reward_per_step", "mean"), episodes=("episode", "size"))
    curve["equal_weights"] = ref
    # the same architecture, untrained (its deterministic action decodes to the neutral commitment)
    from experiments.train_rl import make_training_env

    untrained = algorithm_class("ppo")("MlpPolicy", make_training_env(train_panel, spec), seed=spec.seed,
                                       device="cpu", **spec.hyperparameters())
    upath = save_policy(untrained, os.path.join(out, f"k{n_types}", "untrained"), {"algo": "ppo"})
    before = evaluate_heldout(lambda: RLPrincipal(upath), panel, spec, split, label="untrained")
    table = pd.concat([res.heldout, before[before["principal"] == "untrained"]])
    table = table.pivot(index="seed", columns="principal", values="mean_payoff")[["rl", "untrained", "equal"]]
    table.loc["mean"] = table.mean()
    table.attrs.update(wall=wall, split=split, days=panel.n_days)
    return curve, table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--types", default="8,32", help="comma list of populations (types x 8 agents)")
    p.add_argument("--timesteps", type=int, default=20480)
    p.add_argument("--seeds", default="0,1,2", help="follower seeds of the held-out evaluation")
    args = p.parse_args()
    seeds = tuple(int(s) for s in args.seeds.split(","))
    print(f"machine: {os.cpu_count()} cpus, load average before {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as out:
        for k in (int(x) for x in args.types.split(",")):
            curve, table = run(k, args.timesteps, seeds, out)
            print(f"\n=== {k} types x 8 agents: PPO (SB3 defaults), {args.timesteps} steps, "
                  f"{table.attrs['wall']:.0f}s; held-out days {table.attrs['split']}..{table.attrs['days'] - 2}")
            print("learning curve (training days; mean reward per step = paid Rank IC):")
            print(curve.to_string(float_format=lambda x: f"{x:+.4f}"))
            print("held-out mean daily payoff per follower seed:")
            print(table.to_string(float_format=lambda x: f"{x:+.4f}"))
            diff = table.loc[table.index != "mean", "rl"] - table.loc[table.index != "mean", "equal"]
            print(f"PPO - equal: {diff.mean():+.4f} (better on {(diff > 0).sum()}/{diff.size} seeds); "
                  f"untrained - equal: {table.loc['mean', 'untrained'] - table.loc['mean', 'equal']:+.4f}")
    print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
