"""Followers-env throughput as an RL loop sees it: follower-steps/s (one investor type acting for one day) of
``FollowersEnv`` in a loop (the baseline, measured in the same run), SuperSuit's parameter-sharing recipe over
it (``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1`` of 4), and the batched ``FollowersVectorEnv`` at
N = 1, 4, 16, 64 games (ratios against the baseline); then the share of SB3 PPO's training time spent inside
the env, SuperSuit's recipe against ``mass_env.sb3.make_followers_vec_env(N)`` (one policy over N x K
sub-envs). 64 agents (8 types x 8) on the embedded synthetic market (50 stocks), weighted_skill pay, random
actions, the equal-weights leader embedded.

Every measurement runs in a fresh child process, each the best of ``--rounds``; rates are per CPU second of
that process (the machine may be shared) beside wall-clock ones.

    python benchmarks/bench_followers_vec_env.py
    python benchmarks/bench_followers_vec_env.py --quick            # one round, N in 1,64, fewer PPO steps
"""

from __future__ import annotations

import argparse
import json
import os
import time

import common

STEPS = 300  # FollowersEnv steps (x 8 follower-steps) per baseline measurement


def _config():
    from mass_env import GameConfig

    return GameConfig(follower_reward="weighted_skill")


def _rates(n: int, wall: float, cpu: float) -> dict:
    return {"steps_per_s": n / wall, "cpu_steps_per_s": n / cpu}


def child_single(steps: int) -> dict:
    import numpy as np

    from mass_env.followers_env import FollowersEnv

    env = FollowersEnv(config=_config())
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = [{a: rng.uniform(-1, 1, env.action_space(a).shape) for a in env.possible_agents} for _ in range(steps + 20)]
    for i, a in enumerate(acts):
        if i == 20:  # the first days warm the day caches
            t0, c0 = time.perf_counter(), time.process_time()
        env.step(a)
        if not env.agents:
            env.reset()
    return _rates(steps * len(env.possible_agents), time.perf_counter() - t0, time.process_time() - c0)


def _supersuit(n_copies: int):
    import supersuit as ss

    import mass_env

    venv = ss.pettingzoo_env_to_vec_env_v1(mass_env.followers_env(config=_config()))
    return ss.concat_vec_envs_v1(venv, n_copies, base_class="stable_baselines3")


def _vec_rates(venv, steps: int) -> dict:
    import numpy as np

    venv.reset()
    shape = (steps // venv.num_envs + 10, venv.num_envs) + venv.action_space.shape
    acts = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    for i, a in enumerate(acts):
        if i == 10:
            t0, c0 = time.perf_counter(), time.process_time()
        venv.step(a)
    out = _rates((len(acts) - 10) * venv.num_envs, time.perf_counter() - t0, time.process_time() - c0)
    venv.close()
    return out


def child_batched(n_games: int, steps: int) -> dict:
    import numpy as np

    from mass_env import FollowersVectorEnv

    env = FollowersVectorEnv(n_games, config=_config())
    env.reset(seed=0)
    rounds = max(steps // (n_games * env.n_types), 30)
    acts = np.random.default_rng(0).uniform(-1, 1, (rounds + 10, n_games, env.n_agents, 50)).astype(np.float32)
    for i, a in enumerate(acts):
        if i == 10:
            t0, c0 = time.perf_counter(), time.process_time()
        env.step(a)
    return _rates(rounds * n_games * env.n_types, time.perf_counter() - t0, time.process_time() - c0)


def child_ppo(kind: str, n: int, timesteps: int) -> dict:
    """Wall and CPU time of ``PPO("MlpPolicy", venv).learn(timesteps)`` (SB3 defaults, n_steps so that one
    rollout holds about 2048 follower-steps) and the part of it spent in ``venv.reset``/``venv.step``."""
    import torch
    from stable_baselines3 import PPO
    torch.set_num_threads(1)

    if kind == "batched":
        from mass_env.sb3 import make_followers_vec_env

        venv = make_followers_vec_env(n, seed=0, config=_config())
    else:
        venv = _supersuit(n)
    timed = common.timed_vec_env(venv, time.process_time)
    model = PPO("MlpPolicy", timed, n_steps=max(2048 // venv.num_envs, 8), batch_size=256, seed=0,
                device="cpu", verbose=0)
    t0, c0 = time.perf_counter(), time.process_time()
    model.learn(timesteps)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"steps_per_s": model.num_timesteps / wall, "cpu_steps_per_s": model.num_timesteps / cpu,
            "env_share": timed.spent / cpu, "sub_envs": venv.num_envs}


def child(args: argparse.Namespace) -> None:
    mode, n = args.child, args.n
    if mode == "single":
        out = child_single(args.steps)
    elif mode == "supersuit":
        out = _vec_rates(_supersuit(n), args.steps)
    elif mode == "batched":
        out = child_batched(n, args.steps)
    else:
        out = child_ppo(mode.split("-")[1], n, args.steps)
    print(json.dumps(out))


def measure(mode: str, n: int, steps: int, rounds: int) -> dict:
    best: dict = {}
    for _ in range(rounds):
        got = common.run_child(__file__, common.CODE, ["--child", mode, "--n", str(n), "--steps", str(steps)])
        if "error" in got:
            return got
        if not best or got["cpu_steps_per_s"] > best["cpu_steps_per_s"]:
            best = got
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="rounds per measurement (the best counts)")
    ap.add_argument("--curve", help="batched env sizes N in games (default 1,4,16,64; --quick: 1,64)")
    ap.add_argument("--ppo-games", type=int, default=16, help="games of the batched env under PPO (default 16)")
    ap.add_argument("--ppo-steps", type=int, default=16384, help="PPO follower-steps per run (default 16384)")
    ap.add_argument("--quick", action="store_true", help="one round, N in 1,64 (unless --curve), 4096 PPO steps")
    common.child_options(ap, STEPS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.rounds, args.ppo_steps = 1, 4096
    curve = [int(x) for x in (args.curve or ("1,64" if args.quick else "1,4,16,64")).split(",")]
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()}; 64 agents (8 types x 8), embedded "
          f"synthetic market (50 stocks), weighted_skill, random actions; code: {common.CODE}")

    def row(label: str, r: dict, base: float | None) -> None:
        if "error" in r:
            print(f"{label:<28} error: {r['error']}")
            return
        x = "" if base is None else f" {r['cpu_steps_per_s'] / base:>9.1f}x"
        print(f"{label:<28} {r['steps_per_s']:>11.0f} {r['cpu_steps_per_s']:>11.0f}{x}", flush=True)

    print(f"\n{'follower-steps/s':<28} {'wall':>11} {'per CPU s':>11} {'x single':>10}")
    single = measure("single", 1, STEPS, args.rounds)
    base = None if "error" in single else float(single["cpu_steps_per_s"])
    row("FollowersEnv (loop)", single, base)
    row("SuperSuit concat x4", measure("supersuit", 4, STEPS * 8, args.rounds), base)
    for n in curve:
        row(f"FollowersVectorEnv N={n}", measure("batched", n, max(STEPS * 8, 30 * 8 * n), args.rounds), base)
    print(f"\nSB3 PPO (defaults but batch_size 256, n_steps = 2048 / sub-envs), {args.ppo_steps} follower-steps; "
          "times per CPU second\n" f"{'venv':<36} {'sub-envs':>8} {'steps/s':>9} {'CPU st/s':>9} {'in env':>7}")
    for label, mode, n in (("SuperSuit concat x4", "ppo-supersuit", 4),
                           (f"make_followers_vec_env({args.ppo_games})", "ppo-batched", args.ppo_games)):
        r = measure(mode, n, args.ppo_steps, 1)
        if "error" in r:
            print(f"{label:<36} error: {r['error']}")
            continue
        print(f"{label:<36} {r['sub_envs']:>8} {r['steps_per_s']:>9.0f} {r['cpu_steps_per_s']:>9.0f} "
              f"{r['env_share']:>7.0%}", flush=True)
    print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
