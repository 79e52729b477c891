"""Environment benchmark: steps/s and peak traced memory (a second, traced run) of the PettingZoo env with scripted followers at
64, 512 and 4096 agents on the embedded synthetic market, plus the cost per agent-day, so that the
growth in agents is visible (it should be ~linear).

    python benchmarks/bench_env.py [--days 160] [--symbols 50]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from agents import scripted_followers
from mass_env import PRINCIPAL, MassStackelbergEnv, SyntheticConfig, build_types, synthetic_market


def market(days: int, symbols: int, csi300: str | None):
    if csi300:  # the CSI300 universe (300 stocks) over 2023, from the shared research data
        from mass_env.loaders import load_csi300

        return load_csi300(csi300, start="2023-01-01", end="2023-12-31")
    return synthetic_market(SyntheticConfig(n_days=days, n_symbols=symbols), seed=0)[0]


def run(n_types: int, per_type: int, days: int, symbols: int, trace: bool = False,
        csi300: str | None = None) -> dict[str, float]:
    panel = market(days, symbols, csi300)
    if trace:
        tracemalloc.start()
    env = MassStackelbergEnv(panel, build_types(n_types, per_type))
    followers = scripted_followers(env, seed=0)
    obs, infos = env.reset(seed=0)
    action = np.ones(n_types + 2, np.float32)
    t0 = time.perf_counter()
    steps = 0
    while env.agents:
        acts = {a: followers[a].act(obs[a], infos[a]) for a in env.agents if a != PRINCIPAL}
        acts[PRINCIPAL] = action
        obs, *_, infos = env.step(acts)
        steps += 1
    dt = time.perf_counter() - t0
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    agents = n_types * per_type
    return {"agents": agents, "steps_per_s": steps / dt, "us_per_agent_day": dt / steps / agents * 1e6,
            "peak_mib": peak / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=160)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--csi300", default=None, metavar="SHARED_DATA",
                    help="run on the CSI300 universe over 2023 from this shared-data root instead")
    args = ap.parse_args()
    base = None
    print(f"{'agents':>7} {'steps/s':>9} {'us/agent-day':>13} {'peak MiB':>9} {'time vs 64':>11}")
    for K, M in ((8, 8), (32, 16), (64, 64)):
        r = run(K, M, args.days, args.symbols, csi300=args.csi300)  # timed untraced (tracemalloc slows numpy)
        r["peak_mib"] = run(K, M, args.days, args.symbols, trace=True, csi300=args.csi300)["peak_mib"]
        base = base or r
        ratio = base["steps_per_s"] / r["steps_per_s"]
        print(f"{r['agents']:>7} {r['steps_per_s']:>9.1f} {r['us_per_agent_day']:>13.2f} {r['peak_mib']:>9.1f} {ratio:>10.1f}x", flush=True)


if __name__ == "__main__":
    main()
