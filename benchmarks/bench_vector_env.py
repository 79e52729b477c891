"""Leader-env throughput as an RL loop sees it: steps/s of ``mass_env/Principal-v0`` (64 agents = 8 types x 8,
the embedded synthetic market, random actions) alone, in SB3's ``DummyVecEnv`` / ``SubprocVecEnv`` of 4, as
the native batched env at N = 1..256 in both follower draw modes (``follower_draws="stream"``, the default,
and ``"block"``), its memory per env, and the share of SB3 PPO's training time spent inside the env.

The single env and SB3's vec envs are measured cold (the first steps after construction, while each env's
per-day caches of features and follower views fill) and warm (after ``WARM_STEPS`` steps per env: what an RL
run of any length sees after its first episodes); PPO's split likewise.

Every measurement runs in a fresh child process. With ``--baseline TREE`` (a checkout of older code) the
same measurements run on that tree too, old and new alternating round by round (the machine may be shared:
the best round of each counts, and the load average is printed), and each line prints new/old; the
batched curve prints its ratio against the single env of the same code and of the *old* code, both measured
in the same run. ``--before TREE`` adds an intermediate checkout that has the batched env (its curve and
PPO split beside the new ones, and new/before).

    python benchmarks/bench_vector_env.py --baseline ../old-checkout
    python benchmarks/bench_vector_env.py --baseline ../old-checkout --before ../previous-checkout
    python benchmarks/bench_vector_env.py --quick                  # fewer points, one round
"""

from __future__ import annotations

import argparse
import json
import os
import time

import common

STEPS = 1500  # env steps per single-env measurement
#: steps per env played before a "warm" measurement: enough episodes of the embedded market's 160 days that
#: every day's features and follower views are in the env's per-day caches, as in an RL run of any length
WARM_STEPS = 1000


def _random_actions(space, n: int, seed: int = 0):
    space.seed(seed)
    return [space.sample() for _ in range(n)]


def child_single(steps: int, warm: int) -> dict:
    import gymnasium

    import mass_env  # noqa: F401  (registers the id)

    env = gymnasium.make("mass_env/Principal-v0")
    env.reset(seed=0)
    acts = _random_actions(env.action_space, steps + warm)
    for a in acts[:warm]:  # cold: a few steps; warm: the per-day caches full
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    t0, c0 = time.perf_counter(), time.process_time()
    for a in acts[warm:]:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return {"steps_per_s": steps / (time.perf_counter() - t0), "cpu_steps_per_s": steps / (time.process_time() - c0)}


def _sb3_steps(venv, steps: int, warm: int) -> dict:
    import numpy as np

    venv.seed(0)
    venv.reset()
    rng = np.random.default_rng(0)
    low, high = venv.action_space.low, venv.action_space.high
    acts = rng.uniform(low, high, size=(steps // venv.num_envs + warm, venv.num_envs) + low.shape).astype(np.float32)
    for a in acts[:warm]:
        venv.step(a)
    t0, c0 = time.perf_counter(), time.process_time()
    for a in acts[warm:]:
        venv.step(a)
    n = (len(acts) - warm) * venv.num_envs
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    venv.close()
    return {"steps_per_s": n / wall, "cpu_steps_per_s": n / cpu}  # cpu: this process only (not Subproc workers)


def child_sb3(kind: str, n_envs: int, steps: int, warm: int) -> dict:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    cls = DummyVecEnv if kind == "dummy" else SubprocVecEnv
    return _sb3_steps(make_vec_env("mass_env:mass_env/Principal-v0", n_envs=n_envs, vec_env_cls=cls), steps, warm)


def _draws(draws: str) -> dict:
    """The env's keyword for a draw mode (none for the default, so older code without it runs too)."""
    return {} if draws == "stream" else {"follower_draws": draws}


def child_batched(n_envs: int, steps: int, draws: str = "stream", warm: int = 10) -> dict:
    import gymnasium
    import numpy as np

    import mass_env  # noqa: F401

    env = gymnasium.make_vec("mass_env/Principal-v0", num_envs=n_envs, vectorization_mode="vector_entry_point",
                             **_draws(draws))
    env.reset(seed=0)
    rounds = max(steps // n_envs, 30)
    rng = np.random.default_rng(0)
    acts = rng.uniform(-1, 1, size=(rounds + warm,) + env.action_space.shape).astype(np.float32)
    for a in acts[:warm]:
        env.step(a)
    t0, c0 = time.perf_counter(), time.process_time()
    for a in acts[warm:]:
        env.step(a)
    out = {"steps_per_s": rounds * n_envs / (time.perf_counter() - t0),
           "cpu_steps_per_s": rounds * n_envs / (time.process_time() - c0)}
    env.close()
    return out


def child_memory(n_envs: int, draws: str = "stream") -> dict:
    """Traced bytes held by a batched env of ``n_envs`` after reset and 20 steps, per env (a separate run:
    tracemalloc slows numpy down)."""
    import tracemalloc

    import gymnasium
    import numpy as np

    import mass_env  # noqa: F401

    tracemalloc.start()
    env = gymnasium.make_vec("mass_env/Principal-v0", num_envs=n_envs, vectorization_mode="vector_entry_point",
                             **_draws(draws))
    env.reset(seed=0)
    for _ in range(20):
        env.step(np.zeros(env.action_space.shape, np.float32))
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"held_mib": held / 2**20, "peak_mib": peak / 2**20}


def child_ppo(kind: str, n_envs: int, timesteps: int, draws: str = "stream", warm: int = 0) -> dict:
    """Wall time of ``PPO("MlpPolicy", venv).learn(timesteps)`` (SB3 defaults, n_steps scaled so one
    rollout holds 2048 steps) and the part of it spent in ``venv.reset``/``venv.step``; with ``warm``, the
    env first plays that many steps per env untimed (its per-day caches full, as later in a long run)."""
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)

    if kind == "batched":
        from mass_env.sb3 import make_vec_env as make_batched

        venv = make_batched(n_envs, seed=0, **_draws(draws))
    else:
        venv = make_vec_env("mass_env:mass_env/Principal-v0", n_envs=n_envs, vec_env_cls=DummyVecEnv, seed=0)
    if warm:
        venv.seed(0)
        venv.reset()
        for _ in range(max(warm // n_envs, 1) if kind == "batched" else warm):
            venv.step(np.stack([venv.action_space.sample() for _ in range(n_envs)]))
    timed = common.timed_vec_env(venv)
    model = PPO("MlpPolicy", timed, n_steps=max(2048 // n_envs, 8), seed=0, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(timesteps)
    wall = time.perf_counter() - t0
    return {"steps_per_s": timesteps / wall, "env_share": timed.spent / wall, "wall_s": wall}


def child(args: argparse.Namespace) -> None:
    mode, n = args.child, args.n
    if mode == "single":
        out = child_single(args.steps, args.warm if args.warm is not None else 50)
    elif mode in ("dummy", "subproc"):
        out = child_sb3(mode, n, args.steps, args.warm if args.warm is not None else 20)
    elif mode == "batched":
        out = child_batched(n, args.steps, args.draws, args.warm if args.warm is not None else 10)
    elif mode == "memory":
        out = child_memory(n, args.draws)
    else:
        out = child_ppo(mode.split("-")[1], n, args.steps, args.draws, args.warm or 0)
    print(json.dumps(out))


def measure(tree: str, mode: str, n: int, steps: int, draws: str = "stream", warm: int | None = None) -> dict:
    return common.run_child(__file__, tree, ["--child", mode, "--n", str(n), "--steps", str(steps), "--draws", draws]
                            + ([] if warm is None else ["--warm", str(warm)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default=os.environ.get("MASS_BENCH_BASELINE"),
                    help="a checkout of the older code to measure in the same run (old/new alternating)")
    ap.add_argument("--before", help="a checkout of intermediate code with the batched env (its single env, "
                                     "batched curve and PPO split measured in the same run too)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per measurement (the best counts)")
    ap.add_argument("--curve", help="batched env sizes N (default 1,4,16,64,256; --quick: 1,64)")
    ap.add_argument("--ppo-steps", type=int, default=8192)
    ap.add_argument("--quick", action="store_true", help="one round, N in 1,64 (unless --curve), 4096 PPO steps")
    common.child_options(ap, STEPS)
    ap.add_argument("--draws", default="stream", help=argparse.SUPPRESS)
    ap.add_argument("--warm", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.rounds, args.ppo_steps = 1, 4096
    args.curve = args.curve or ("1,64" if args.quick else "1,4,16,64,256")
    trees = {name: tree for name, tree in (("old", args.baseline), ("before", args.before), ("new", common.CODE))
             if tree}
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()}; 64 agents (8 types x 8), "
          "embedded synthetic market (50 stocks), random actions; trees: "
          + ", ".join(f"{k} = {v}" for k, v in trees.items()))

    def measured(mode: str, n: int, steps: int, names: tuple[str, ...], warm: int | None = None) -> dict[str, dict]:
        got: dict[str, list[dict]] = {k: [] for k in names if k in trees}
        for _ in range(args.rounds):  # alternate the trees, so all see the same load
            for k in got:
                got[k].append(measure(trees[k], mode, n, steps, warm=warm))

        def pick(rs: list[dict]) -> dict:
            ok = [r for r in rs if "error" not in r]
            return max(ok, key=lambda r: r["steps_per_s"]) if ok else rs[0]

        return {k: pick(v) for k, v in got.items()}

    def rate(r: dict | None, key: str = "steps_per_s") -> float | None:
        return None if r is None or "error" in r else float(r[key])

    def cpu(r: dict | None) -> float | None:
        return rate(r, "cpu_steps_per_s")

    def cell(x: float | None, width: int = 10, fmt: str = ".0f", suffix: str = "") -> str:
        return f"{'-':>{width}}" if x is None else f"{format(x, fmt) + suffix:>{width}}"

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a / b

    names = tuple(trees)
    print(f"\n{'env':<28}" + "".join(f" {k + ' st/s':>11}" for k in names) + f" {'new/old':>8} {'new/before':>10}")
    singles: dict[str, float | None] = {}
    # cold: the first steps after construction (the per-day caches filling); warm: after WARM_STEPS steps per env
    for label, mode, n, warm in (("single, cold", "single", 1, None), ("single, warm", "single", 1, WARM_STEPS),
                                 ("DummyVecEnv x4, cold", "dummy", 4, None),
                                 ("DummyVecEnv x4, warm", "dummy", 4, WARM_STEPS),
                                 ("SubprocVecEnv x4, cold", "subproc", 4, None),
                                 ("SubprocVecEnv x4, warm", "subproc", 4, WARM_STEPS)):
        got = measured(mode, n, STEPS, names, warm)
        if mode == "single" and warm:
            singles = {k: cpu(r) for k, r in got.items()}
        lines = [(label, rate)] + ([(label + ", CPU", cpu)] if mode != "subproc" else [])
        for text, how in lines:  # wall steps/s, then per CPU second of this process (less sensitive to load)
            print(f"{text:<28}" + "".join(f" {cell(how(got[k]), 11)}" for k in names)
                  + f" {cell(ratio(how(got['new']), how(got.get('old'))), 8, '.2f', 'x')}"
                  + f" {cell(ratio(how(got['new']), how(got.get('before'))), 10, '.2f', 'x')}", flush=True)
    # the old code has no batched env; the new code's in both draw modes ("new" = stream, "new block")
    batched = tuple(k for k in names if k != "old") + (("new block",) if "new" in trees else ())
    print("\nbatched env (gymnasium.make_vec(..., vectorization_mode='vector_entry_point')): wall steps/s, steps per "
          "CPU second, and (CPU) x against the warm single env of the same code / of the old code, same run\n"
          f"{'N':>5}" + "".join(f" {k + ' st/s':>15} {'CPU st/s':>9} {'x single':>8} {'x old':>7}" for k in batched)
          + f" {'new/before':>10}")
    for n in (int(x) for x in args.curve.split(",")):
        got = measured("batched", n, max(STEPS * 2, 30 * n), tuple(k for k in batched if k != "new block"))
        got["new block"] = max((measure(trees["new"], "batched", n, max(STEPS * 2, 30 * n), "block")
                                for _ in range(args.rounds)), key=lambda r: r.get("steps_per_s", 0.0))
        row = f"{n:>5}"
        for k in batched:
            c = cpu(got[k])
            row += f" {cell(rate(got[k]), 15)} {cell(c, 9)} {cell(ratio(c, singles.get(k.split()[0])), 8, '.1f', 'x')}"
            row += f" {cell(ratio(c, singles.get('old')), 7, '.1f', 'x')}"
        print(row + f" {cell(ratio(cpu(got['new']), cpu(got.get('before'))), 10, '.2f', 'x')}", flush=True)
    for draws in ("stream", "block"):
        mem1, mem64 = measure(common.CODE, "memory", 1, 0, draws), measure(common.CODE, "memory", 64, 0, draws)
        if "error" not in mem1 and "error" not in mem64:
            per = (mem64["held_mib"] - mem1["held_mib"]) / 63
            print(f"memory (new, {draws}): N=1 holds {mem1['held_mib']:.1f} MiB, N=64 {mem64['held_mib']:.1f} MiB "
                  f"(traced): {per * 1024:.0f} KiB per extra env")
    print(f"\nSB3 PPO (defaults, n_steps = 2048 / n_envs), {args.ppo_steps} steps; cold: learning from the env "
          f"just built, warm: after {WARM_STEPS} steps per env untimed\n"
          f"{'venv':<28} {'cold st/s':>10} {'in env':>8} {'warm st/s':>10} {'in env':>8}")
    for label, name, mode, n, draws in (("old DummyVecEnv x4", "old", "ppo-dummy", 4, "stream"),
                                        ("new DummyVecEnv x4", "new", "ppo-dummy", 4, "stream"),
                                        ("before batched x64", "before", "ppo-batched", 64, "stream"),
                                        ("new batched x64", "new", "ppo-batched", 64, "stream"),
                                        ("new batched x64, block", "new", "ppo-batched", 64, "block"),
                                        ("new batched x256", "new", "ppo-batched", 256, "stream"),
                                        ("new batched x256, block", "new", "ppo-batched", 256, "block")):
        if name not in trees:
            continue
        row = f"{label:<28}"
        for warm in (None, WARM_STEPS):
            r = measure(trees[name], mode, n, args.ppo_steps, draws, warm=warm)
            row += f" {cell(rate(r))} " + (f"{r['env_share']:>8.0%}" if "error" not in r else r["error"][:60])
        print(row, flush=True)
    print(f"\nload average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
