"""What a whole LLM study costs with per-stock answers shared by agents, seeds and configs.

    python benchmarks/bench_llm_study.py --data ../shared/data            # 2 measured days, 3 seeds
    python benchmarks/bench_llm_study.py --data ../shared/data --days 4 --threads 2
    python benchmarks/bench_llm_study.py --small --every 5     # the README's small example: prefetch passes

The paper's study is configs A-F x 3 seeds at 64 agents (8 types x 8) x 20 candidates on the SSE50
window. Follower answers do not depend on the leader, the agent or the seed (only on the model,
the prompt template, the type, the stock and the day), so the response cache
(``agents.llm.cache.branches``) stores one rating per (day, type, persona, stock) and the study needs one
model pass over the episode's days: the first seed pays for it, the other seeds pay only for the
few stocks none of the first seed's agents drew, and the other configs read everything.

Measured on ``--days`` consecutive days of the episode, local model (SmolLM2-135M), ``--threads``:

* **cold**: seed 0, empty cache (s/day, branches/day, computed tokens/s);
* **seeds 1, 2**: the same days with the warm cache (s/day, branch misses);
* **replay**: every seed on those days in ``replay`` mode (zero model calls; s/day).

Projection to the study: episode days x (cold + seed 1 + seed 2) for the model pass, plus
(6 configs x 3 seeds) x episode days x replay for the followers' share of every run. The environment
and leaders are not included (see ``bench_ablation.py``: a scripted A-F x 3 sweep). The load average
is printed: on a shared machine every number is slower.

``--small``: the README's small example (``mass ablation --followers llm --agents 2 --llm-candidates 5
--days 45 --configs A,B,D --baselines equal --seeds 1``: 8 types x 2 agents x 5 candidates on the embedded
market) prefetched by the whole-universe pass (before) and by the exact pass (the runs' own draws, after),
each into a fresh cache, on every ``--every``-th episode day (the same days for both), ``--rounds`` times
alternating: ratings, wall and CPU seconds and their ratio, plus both passes' rating counts over the
whole episode (counted from the seeded draws, no model call).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import SHARED_DATA

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agents.llm import CachedBackend, llm_followers
from mass_env import GameConfig, MassStackelbergEnv, build_types, rollout
from mass_env.scripted import FixedCommitment


class _Timed:
    def __init__(self, inner, total: list[float]) -> None:
        self.inner, self.total = inner, total

    def reset(self, seed=None) -> None:
        self.inner.reset(seed)

    def act(self, obs, info):
        t0 = time.perf_counter()
        out = self.inner.act(obs, info)
        self.total[0] += time.perf_counter() - t0
        return out


def follower_seconds(env, followers, seed: int, start: int, days: int) -> float:
    total = [0.0]
    timed = {a: _Timed(f, total) for a, f in followers.items()}
    rollout(env, FixedCommitment(alpha=0.5), timed, seed=seed, options={"start": start, "end": start + days - 1})
    return total[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA), help="shared data folder (SSE50)")
    ap.add_argument("--days", type=int, default=2, help="measured days")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--agents", type=int, default=8, help="agents per type")
    ap.add_argument("--types", type=int, default=8, help="investor types (32 with --agents 16: the 512-agent setting)")
    ap.add_argument("--personas", type=int, default=1)
    ap.add_argument("--cache", default=None, help="keep the cache here (default: a temporary file)")
    ap.add_argument("--prefetch-parts", type=int, default=0,
                    help="instead: warm the cache for the measured days with this many processes (one thread "
                         "each, agents.llm.cache.prefetch) and report the wall time against one process")
    ap.add_argument("--part", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--small", action="store_true",
                    help="instead: the README's small example, whole-universe against exact prefetch")
    ap.add_argument("--every", type=int, default=5, help="--small: measure every EVERY-th episode day")
    ap.add_argument("--rounds", type=int, default=1, help="--small: alternate the two passes this many times")
    args = ap.parse_args()
    if args.small:
        return small(args)
    if args.prefetch_parts or args.part >= 0:
        return warm(args)
    from mass_env.data.datasets import load_panel

    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    panel = load_panel(args.data)
    env = MassStackelbergEnv(panel, build_types(args.types, args.agents), GameConfig())
    env.reset(seed=0)
    episode_days = env.game.n_steps
    start = int(panel.day_index("2023-01-03"))
    from agents.llm.backends.local import TransformersBackend

    t0 = time.perf_counter()
    model = TransformersBackend(threads=args.threads)
    load_s = time.perf_counter() - t0
    tmp = tempfile.TemporaryDirectory()
    db = Path(args.cache) if args.cache else Path(tmp.name) / "study.sqlite"
    opts = {"n_candidates": args.candidates, "personas": args.personas}
    res: dict[str, object] = {"episode_days": episode_days, "agents": args.types * args.agents, "days": args.days,
                              "threads": model.threads, "dtype": model.dtype, "load_s": round(load_s, 1)}
    per_seed = []
    for seed in (0, 1, 2):
        be = CachedBackend(model, db)
        s0 = model.scoring.as_dict()
        c0 = time.process_time()
        wall = follower_seconds(env, llm_followers(env, be, seed=seed, **opts), seed, start, args.days)
        s1 = model.scoring.as_dict()
        row = {"seed": seed, "s_per_day": round(wall / args.days, 2),
               "cpu_s_per_day": round((time.process_time() - c0) / args.days, 2),
               "branch_misses_per_day": round(be.cache_stats.branch_misses / args.days, 1),
               "branch_hits_per_day": round(be.cache_stats.branch_hits / args.days, 1),
               "computed_tokens_per_s": round((s1["computed_tokens"] - s0["computed_tokens"]) / max(wall, 1e-9))}
        per_seed.append(row)
        print(f"seed {seed}: {row}", flush=True)
    res["seeds"] = per_seed
    replay = 0.0
    c0 = time.process_time()
    for seed in (0, 1, 2):
        be = CachedBackend(model, db, mode="replay")
        replay += follower_seconds(env, llm_followers(env, be, seed=seed, **opts), seed, start, args.days)
    replay_day = replay / (3 * args.days)
    replay_cpu_day = (time.process_time() - c0) / (3 * args.days)
    res["replay_s_per_day"] = round(replay_day, 4)
    res["replay_cpu_s_per_day"] = round(replay_cpu_day, 4)
    cpu_pass = episode_days * sum(r["cpu_s_per_day"] for r in per_seed)
    res["projected_model_pass_cpu_min"] = round(cpu_pass / 60, 1)
    res["projected_replay_all_runs_cpu_s"] = round(6 * 3 * episode_days * replay_cpu_day, 1)
    res["before_per_seed_projection_cpu_min"] = round(3 * episode_days * per_seed[0]["cpu_s_per_day"] / 60, 1)
    model_pass_s = episode_days * sum(r["s_per_day"] for r in per_seed)
    runs = 6 * 3
    res["projected_model_pass_min"] = round(model_pass_s / 60, 1)
    res["projected_replay_all_runs_s"] = round(runs * episode_days * replay_day, 1)
    res["projected_study_llm_min"] = round((model_pass_s + (runs - 3) * episode_days * replay_day) / 60, 1)
    res["before_per_seed_projection_min"] = round(3 * episode_days * per_seed[0]["s_per_day"] / 60, 1)
    print(f"\nreplay: {replay_day * 1000:.0f} ms per day per seed")
    print(f"projected A-F x 3 seeds, {args.types * args.agents} agents x {args.candidates} candidates, "
          f"{episode_days} days:")
    print(f"  model pass (shared by every seed and config): {res['projected_model_pass_min']} min")
    print(f"  followers of all {runs} runs replayed from the cache: {res['projected_replay_all_runs_s']} s")
    print(f"  without sharing across seeds (one pass per seed): {res['before_per_seed_projection_min']} min")
    print(f"  in CPU seconds (robust to a shared machine): model pass {res['projected_model_pass_cpu_min']} CPU-min "
          f"(one pass per seed: {res['before_per_seed_projection_cpu_min']}), replay of all runs "
          f"{res['projected_replay_all_runs_cpu_s']} CPU-s")
    print(f"load average after: {os.getloadavg()}")
    print(json.dumps(res))


def small(args: argparse.Namespace) -> None:
    """``--small``: the whole-universe prefetch (before) against the exact one (after) on the small example."""
    from agents.llm.follower import shared_backend
    from experiments.sweep.prefetch import prefetch_part, study_draws
    from experiments.sweep.spec import SweepSpec

    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    tmp = tempfile.TemporaryDirectory()

    def spec(cache: Path) -> SweepSpec:
        return SweepSpec.build("A,B,D", baselines=("equal",), agents=2, seeds=(0,), n_days=45, followers="llm",
                               follower_options={"backend": "local",
                                                 "backend_options": {"model_dir": None, "threads": args.threads,
                                                                     "dtype": "auto"},
                                                 "cache": str(cache), "n_candidates": 5})

    markets: dict = {}
    draws = study_draws(spec(Path(tmp.name) / "count.sqlite"), markets)
    res: dict[str, object] = {"episode_ratings": {"universe": draws.whole, "exact": draws.exact,
                                                  "ratio": round(draws.whole / max(draws.exact, 1), 2)}}
    print(f"whole episode: universe pass {draws.whole} ratings, exact pass {draws.exact} "
          f"({draws.whole / max(draws.exact, 1):.2f}x fewer)", flush=True)
    rows: dict[str, list[dict[str, float]]] = {"universe": [], "exact": []}
    for r in range(args.rounds):
        for mode in (("universe", "exact") if r % 2 == 0 else ("exact", "universe")):
            s_ = spec(Path(tmp.name) / f"{mode}-{r}.sqlite")
            opts = s_.follower_options
            shared_backend("local", backend_options=opts["backend_options"], cache=opts["cache"])  # model loaded
            t0, c0 = time.perf_counter(), time.process_time()
            out = prefetch_part(s_, 0, args.every, lambda msg: None, markets, mode) or {}
            row = {"ratings": out.get("computed", 0), "days": out.get("days", 0),
                   "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1)}
            rows[mode].append(row)
            print(f"round {r}: {mode}: {row}", flush=True)
    for key in ("ratings", "wall_s", "cpu_s"):
        u, e = (sum(x[key] for x in rows[m]) for m in ("universe", "exact"))
        res[f"{key}_ratio"] = round(u / max(e, 1e-9), 2)
    res["rows"] = rows
    print(f"before/after (universe/exact) on the measured days: ratings {res['ratings_ratio']}x, "
          f"wall {res['wall_s_ratio']}x, CPU {res['cpu_s_ratio']}x")
    print(f"load average after: {os.getloadavg()}")
    print(json.dumps(res))


def warm(args: argparse.Namespace) -> None:
    """``--prefetch-parts N``: N processes warm the measured days of one cache (or, with the hidden
    ``--part k``, be one of them)."""
    import subprocess

    from mass_env.data.datasets import load_panel

    if args.part >= 0:
        from agents.llm.backends.local import TransformersBackend
        from agents.llm.cache.prefetch import prefetch

        panel = load_panel(args.data)
        env = MassStackelbergEnv(panel, build_types(args.types, args.agents), GameConfig())
        start = int(panel.day_index("2023-01-03"))
        be = CachedBackend(TransformersBackend(threads=1), args.cache)
        t0, c0 = time.perf_counter(), time.process_time()
        out = prefetch(env, be, start=start, end=start + args.days - 1, part=args.part, parts=args.prefetch_parts,
                       personas=args.personas)
        print(json.dumps({**out, "wall_s": round(time.perf_counter() - t0, 1),
                          "cpu_s": round(time.process_time() - c0, 1)}), flush=True)
        return
    print(f"load average before: {os.getloadavg()}; cpus: {os.cpu_count()}")
    tmp = tempfile.TemporaryDirectory()
    rows = {}
    for parts in sorted({1, args.prefetch_parts}):
        db = Path(tmp.name) / f"warm{parts}.sqlite"
        cmd = [sys.executable, __file__, "--data", args.data, "--days", str(args.days), "--agents", str(args.agents),
               "--types", str(args.types), "--personas", str(args.personas), "--cache", str(db),
               "--prefetch-parts", str(parts)]
        t0 = time.perf_counter()
        procs = [subprocess.Popen([*cmd, "--part", str(k)], stdout=subprocess.PIPE, text=True) for k in range(parts)]
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        rows[parts] = {"wall_s": round(time.perf_counter() - t0, 1), "processes": outs}
        print(f"{parts} process(es), {args.days} days: {rows[parts]}", flush=True)
    print(f"load average after: {os.getloadavg()}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
