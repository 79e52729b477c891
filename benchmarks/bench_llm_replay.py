"""Replaying LLM followers from the response cache: what every run of a warmed study costs.

    python benchmarks/bench_llm_replay.py --data ../shared/data [--days 3] [--profile]

The paper's study (A-F x 3 seeds, 64 agents x 20 candidates, SSE50) replays the followers of 18
runs from one cache; a sweep process shares one cached backend across its runs
(``agents.llm.follower.shared_backend``), as here. The cache is filled for ``--days`` days by a
stand-in per-stock model that carries the local model's identity but computes nothing (so this
measures the framework, not the model), then 18 runs replay those days in ``replay`` mode. The
total is projected to the episode's days. ``--profile`` prints cProfile's top entries of the replay.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.llm import CachedBackend, llm_followers  # noqa: E402
from mass_env import FixedCommitment, GameConfig, MassStackelbergEnv, build_types, rollout  # noqa: E402


class _Identity:
    """A per-stock 'model' with a fixed identity that rates everything uniformly (fills the cache)."""

    per_stock = True
    fingerprint = {"backend": "bench-replay", "model": "stand-in"}

    def rate_items(self, pairs):
        return np.tile([0.1, 0.2, 0.4, 0.2, 0.1, 1.0], (len(pairs), 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--runs", type=int, default=18, help="replayed runs (A-F x 3 seeds)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    from mass_env.data.datasets import load_panel

    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    panel = load_panel(args.data)
    env = MassStackelbergEnv(panel, build_types(8, 8), GameConfig())
    env.reset(seed=0)
    episode_days = env.game.n_steps
    start = int(panel.day_index("2023-01-03"))
    opts = {"start": start, "end": start + args.days - 1}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "replay.sqlite"
        model = _Identity()
        for seed in range(3):
            rollout(env, FixedCommitment(alpha=0.5), llm_followers(env, CachedBackend(model, db), seed=seed),
                    seed=seed, options=opts)
        be = CachedBackend(model, db, mode="replay")  # one per process, as the sweep's shared_backend
        prof = cProfile.Profile() if args.profile else None
        follower_s = follower_cpu = 0.0
        t0 = time.perf_counter()
        for run in range(args.runs):
            fol = llm_followers(env, be, seed=run % 3)
            timed = {a: _Timed(f) for a, f in fol.items()}
            if prof:
                prof.enable()
            rollout(env, FixedCommitment(alpha=0.5), timed, seed=run % 3, options=opts)
            if prof:
                prof.disable()
            follower_s += sum(t.s for t in timed.values())
            follower_cpu += sum(t.cpu for t in timed.values())
        wall = time.perf_counter() - t0
    per_day = follower_s / (args.runs * args.days)
    print(f"followers replayed: {per_day * 1000:.1f} ms per run-day ({args.runs} runs x {args.days} days, "
          f"rollout wall {wall:.2f}s)")
    print(f"projected: followers of {args.runs} runs x {episode_days} episode days from the cache: "
          f"{per_day * args.runs * episode_days:.1f} s")
    cpu_day = follower_cpu / (args.runs * args.days)
    print(f"  in CPU time (robust to a loaded machine): {cpu_day * 1000:.1f} ms per run-day, projected "
          f"{cpu_day * args.runs * episode_days:.1f} CPU-s")
    print(f"load average after: {os.getloadavg()}")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


class _Timed:
    def __init__(self, inner) -> None:
        self.inner, self.s, self.cpu = inner, 0.0, 0.0

    def reset(self, seed=None) -> None:
        self.inner.reset(seed)

    def act(self, obs, info):
        t0, c0 = time.perf_counter(), time.process_time()
        out = self.inner.act(obs, info)
        self.s += time.perf_counter() - t0
        self.cpu += time.process_time() - c0
        return out


if __name__ == "__main__":
    main()
