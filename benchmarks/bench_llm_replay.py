"""Replaying LLM followers from the response cache: what every run of a warmed study costs.

    python benchmarks/bench_llm_replay.py --data ../shared/data [--days 3] [--profile]
    python benchmarks/bench_llm_replay.py --data ../shared/data --days 6 --compare main --pairs 4

The paper's study (A-F x 3 seeds, 64 agents x 20 candidates, SSE50) replays the followers of 18
runs from one cache; a sweep process shares one cached backend across its runs
(``agents.llm.follower.shared_backend``), as here. The cache is filled for ``--days`` days by a
stand-in per-stock model that carries the local model's identity but computes nothing (so this
measures the framework, not the model), then 18 runs replay those days in ``replay`` mode. The
total is projected to the episode's days. The followers are timed as a sweep calls them (one
``act_many`` per day for all types); the rest of each rollout (environment and leader) is reported
too. ``--profile`` prints cProfile's top entries of the replay. ``--compare REV`` runs the same
measurement on the code of git revision ``REV`` (exported to a temporary folder) and on this tree,
alternating old and new in fresh processes ``--pairs`` times, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, SHARED_DATA

from agents.llm import CachedBackend, llm_followers
from mass_env import GameConfig, MassStackelbergEnv, build_types, rollout
from mass_env.scripted import FixedCommitment


class _Identity:
    """A per-stock 'model' with a fixed identity that rates everything uniformly (fills the cache)."""

    per_stock = True
    fingerprint = {"backend": "bench-replay", "model": "stand-in"}

    def rate_items(self, pairs):
        return np.tile([0.1, 0.2, 0.4, 0.2, 0.1, 1.0], (len(pairs), 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA))
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--runs", type=int, default=18, help="replayed runs (A-F x 3 seeds)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--compare", metavar="REV", help="alternate with the code of this git revision")
    ap.add_argument("--pairs", type=int, default=3, help="--compare: old/new pairs")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.compare:
        return compare(args)
    from mass_env.data.datasets import load_panel

    if not args.json:
        print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    load0 = os.getloadavg()[0]
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
        t0, c0 = time.perf_counter(), time.process_time()
        for run in range(args.runs):
            timed = _Timed(llm_followers(env, be, seed=run % 3))
            if prof:
                prof.enable()
            rollout(env, FixedCommitment(alpha=0.5), timed, seed=run % 3, options=opts)
            if prof:
                prof.disable()
            follower_s += timed.s
            follower_cpu += timed.cpu
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    run_days = args.runs * args.days
    per_day, cpu_day = follower_s / run_days, follower_cpu / run_days
    res = {"follower_ms": per_day * 1000, "follower_cpu_ms": cpu_day * 1000,
           "rollout_ms": wall / run_days * 1000, "rollout_cpu_ms": cpu / run_days * 1000,
           "projected_s": per_day * args.runs * episode_days, "projected_cpu_s": cpu_day * args.runs * episode_days,
           "projected_rollouts_s": wall / run_days * args.runs * episode_days,
           "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    if args.json:
        print(json.dumps(res))
        return
    print(f"followers replayed: {per_day * 1000:.1f} ms per run-day ({args.runs} runs x {args.days} days, "
          f"rollout wall {wall:.2f}s)")
    print(f"projected: followers of {args.runs} runs x {episode_days} episode days from the cache: "
          f"{res['projected_s']:.1f} s")
    print(f"  in CPU time (robust to a loaded machine): {cpu_day * 1000:.1f} ms per run-day, projected "
          f"{res['projected_cpu_s']:.1f} CPU-s")
    print(f"whole rollouts (environment, leader and followers): {res['rollout_ms']:.1f} ms per run-day, projected "
          f"{res['projected_rollouts_s']:.1f} s")
    print(f"load average after: {os.getloadavg()}")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


def compare(args: argparse.Namespace) -> None:
    """Old (``--compare REV``) and new code alternated in fresh processes; one row per run."""
    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}; old = {args.compare}, new = this tree")
    cmd = [sys.executable, __file__, "--data", args.data, "--days", str(args.days), "--runs", str(args.runs), "--json"]
    rows: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.compare], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", old], input=archive.stdout, check=True)
        for pair in range(args.pairs):
            for which, code in (("old", old), ("new", str(ROOT))):
                out = subprocess.run(cmd, env={**os.environ, "MASS_BENCH_CODE": code}, check=True,
                                     capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                rows[which].append(r)
                print(f"pair {pair} {which}: followers {r['follower_ms']:.1f} ms/run-day "
                      f"({r['follower_cpu_ms']:.1f} CPU-ms), projected {r['projected_s']:.1f} s "
                      f"({r['projected_cpu_s']:.1f} CPU-s); whole rollouts {r['rollout_ms']:.1f} ms/run-day, "
                      f"projected {r['projected_rollouts_s']:.1f} s; load {r['load']}", flush=True)
    for which, rs in rows.items():
        p = sorted(r["projected_s"] for r in rs)
        w = sorted(r["projected_rollouts_s"] for r in rs)
        print(f"{which}: followers of {args.runs} runs projected {p[0]:.1f}-{p[-1]:.1f} s "
              f"(median {p[len(p) // 2]:.1f}); whole rollouts {w[0]:.1f}-{w[-1]:.1f} s")
    print(f"load average after: {os.getloadavg()}")


class _Timed(dict):
    """The followers as the rollout calls them (``act_many`` for all types of a day), timed."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.inner, self.s, self.cpu = inner, 0.0, 0.0

    def act_many(self, obs, infos, names=None):
        t0, c0 = time.perf_counter(), time.process_time()
        out = self.inner.act_many(obs, infos, names)
        self.s += time.perf_counter() - t0
        self.cpu += time.process_time() - c0
        return out


if __name__ == "__main__":
    main()
