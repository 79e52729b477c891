"""Environment benchmark: steps/s and peak traced memory (a second, traced run) of the PettingZoo env with
scripted followers at 64, 512 and 4096 agents on the embedded synthetic market, plus the cost per agent-day, so that the
growth in agents is visible.

``--curve`` prints the scaling curves instead: episode wall time against the number of agents (days
fixed) and against the number of days (agents fixed), each with a least-squares line
``time = a + b * x``, its R^2 and every point's deviation from the line, so "linear" is a measured
claim, not a stated one.

    python benchmarks/bench_env.py [--days 160] [--symbols 50]
    python benchmarks/bench_env.py --curve [--symbols 50] [--trace]
    python benchmarks/bench_env.py --csi300 ../shared/data
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import common  # noqa: F401  (this checkout on sys.path)
import numpy as np

from mass_env import MassStackelbergEnv, SyntheticConfig, build_types, rollout, scripted_followers, synthetic_market
from mass_env.scripted import FixedCommitment


def market(days: int, symbols: int, csi300: str | None):
    if csi300:  # the CSI300 universe (300 stocks) over 2023, from the shared research data
        from mass_env.data.datasets import load_csi300

        return load_csi300(csi300, start="2023-01-01", end="2023-12-31")
    return synthetic_market(SyntheticConfig(n_days=days, n_symbols=symbols), seed=0)[0]


def run(n_types: int, per_type: int, days: int, symbols: int, trace: bool = False,
        csi300: str | None = None) -> dict[str, float]:
    panel = market(days, symbols, csi300)
    if trace:
        tracemalloc.start()
    env = MassStackelbergEnv(panel, build_types(n_types, per_type))
    followers = scripted_followers(env, seed=0)
    leader = FixedCommitment(np.ones(n_types), alpha=1.0, inertia=1.0)
    t0 = time.perf_counter()
    steps = rollout(env, leader, followers, seed=0).steps
    dt = time.perf_counter() - t0
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    agents = n_types * per_type
    return {"agents": agents, "seconds": dt, "steps_per_s": steps / dt, "us_per_agent_day": dt / steps / agents * 1e6,
            "peak_mib": peak / 2**20}


def _fit_line(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """Least-squares ``y = a + b x``: (a, b, R^2)."""
    b, a = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    pred = a + b * np.asarray(x, float)
    ss_res = float(((np.asarray(y) - pred) ** 2).sum())
    ss_tot = float(((np.asarray(y) - np.mean(y)) ** 2).sum())
    return float(a), float(b), 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0


def curve(symbols: int, repeat: int, trace: bool = False) -> None:
    """Print wall time against agents (days fixed) and against days (agents fixed), with line fits."""
    sections = [
        ("agents", 160, [(64, m) for m in (1, 2, 4, 8, 16, 32, 64)]),  # 64 types, more agents each
        ("days", None, [40, 80, 160, 320, 640]),
    ]
    for axis, days_fixed, points in sections:
        xs, ys = [], []
        if axis == "agents":
            print(f"\nwall time vs agents (64 types x 1..64 agents, {days_fixed} days x {symbols} stocks, "
                  "scripted followers)")
            cases = [(K, M, days_fixed, K * M) for K, M in points]
        else:
            print(f"\nwall time vs days (512 agents = 32 x 16, {symbols} stocks)")
            cases = [(32, 16, d, d) for d in points]
        print(f"{'x':>6} {'wall s':>8} {'fit s':>8} {'dev':>7} {'us/agent-day':>13}"
              + (f" {'peak MiB':>9}" if trace else ""))
        rows = []
        for K, M, days, x in cases:
            r = min((run(K, M, days, symbols) for _ in range(repeat)), key=lambda r: r["seconds"])
            if trace:  # a separate, untimed run: tracemalloc slows numpy down
                r["peak_mib"] = run(K, M, days, symbols, trace=True)["peak_mib"]
            xs.append(float(x))
            ys.append(r["seconds"])
            rows.append((x, r))
        a, b, r2 = _fit_line(xs, ys)
        for (x, r), y in zip(rows, ys):
            fit = a + b * x
            print(f"{x:>6} {y:>8.2f} {fit:>8.2f} {(y - fit) / fit:>+6.1%} {r['us_per_agent_day']:>13.2f}"
                  + (f" {r['peak_mib']:>9.1f}" if trace else ""), flush=True)
        unit = "agent" if axis == "agents" else "day"
        print(f"fit: time = {a:.3f} s + {b * 1e3:.4f} ms per {unit}   R^2 = {r2:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=160)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--csi300", default=None, metavar="SHARED_DATA",
                    help="run on the CSI300 universe over 2023 from this shared-data root instead")
    ap.add_argument("--curve", action="store_true", help="print the scaling curves in agents and in days")
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs per curve point")
    ap.add_argument("--trace", action="store_true", help="with --curve: add each point's traced peak memory")
    args = ap.parse_args()
    if args.curve:
        curve(args.symbols, args.repeat, args.trace)
        return
    base = None
    print(f"{'agents':>7} {'steps/s':>9} {'us/agent-day':>13} {'peak MiB':>9} {'time vs 64':>11}")
    for K, M in ((8, 8), (32, 16), (64, 64)):
        r = run(K, M, args.days, args.symbols, csi300=args.csi300)  # timed untraced (tracemalloc slows numpy)
        r["peak_mib"] = run(K, M, args.days, args.symbols, trace=True, csi300=args.csi300)["peak_mib"]
        base = base or r
        ratio = base["steps_per_s"] / r["steps_per_s"]
        print(f"{r['agents']:>7} {r['steps_per_s']:>9.1f} {r['us_per_agent_day']:>13.2f} {r['peak_mib']:>9.1f} "
              f"{ratio:>10.1f}x", flush=True)


if __name__ == "__main__":
    main()
