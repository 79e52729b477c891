"""Principal benchmark: the optimiser's own overhead per ask/tell generation (CMA-ES via pycma, MASS
simulated annealing) against the cost of the fitness call it makes (aggregation + Rank IC scorer, one
call per generation), on recorded windows of a real episode (scripted followers, synthetic market).

For each optimiser, population size (8 x 8 = 64 agents, 32 x 16 = 512) and fitness window length
(5 days is the MASS setting; longer windows make the fitness dearer), a full day's search (the ABL
configs' settings: ``principals.make("sa" | "cmaes", ...)``) is repeated on several days and the time
is split into ``start`` + ``ask`` + ``tell`` + ``recommend`` (the optimiser) and the objective (the fitness).
"overhead %" is the optimiser's share of a day's search.

    python benchmarks/bench_principals.py            # 64 and 512 agents, windows 5/20/60
    python benchmarks/bench_principals.py --quick    # 64 agents, window 5
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (this checkout on sys.path)
import numpy as np

import principals
from experiments.sweep.workers import run_episode
from mass_env import GameConfig, MassStackelbergEnv, SyntheticConfig, build_types, scripted_followers, synthetic_market
from principals import EqualWeights
from principals.blackbox import Objective


def recorded_game(n_types: int, per_type: int, days: int, symbols: int):
    panel, _ = synthetic_market(SyntheticConfig(n_days=days, n_symbols=symbols), seed=0)
    env = MassStackelbergEnv(panel, build_types(n_types, per_type), GameConfig(horizon=10))
    run_episode(env, EqualWeights(), scripted_followers(env, seed=0), seed=0)
    return env.game


def profile(name: str, options: dict, game, lookback: int, n_windows: int) -> dict[str, float]:
    leader = principals.make(name, **options)
    leader.reset(game.K, seed=0)
    space, opt = leader.space, leader.optimizer
    t_opt = t_fit = 0.0
    gens = evals = 0
    asofs = np.linspace(game.start + lookback + 10, game.end, n_windows).astype(int)
    rng = np.random.default_rng(0)
    leader.search(game.scoring_window(lookback, horizon=5, asof=int(asofs[0])))  # warm-up: imports, caches
    for asof in asofs:
        window = game.scoring_window(lookback, horizon=5, asof=int(asof))
        obj = Objective(window, space, leader.component)
        t0 = time.perf_counter()
        opt.start(leader._x.copy(), space, rng)
        t_opt += time.perf_counter() - t0
        while not opt.stop():
            t0 = time.perf_counter()
            X = np.atleast_2d(opt.ask())
            t1 = time.perf_counter()
            f = obj(X)
            t2 = time.perf_counter()
            opt.tell(X, f)
            t3 = time.perf_counter()
            t_opt += (t1 - t0) + (t3 - t2)
            t_fit += t2 - t1
            gens += 1
            evals += X.shape[0]
        t0 = time.perf_counter()
        x = opt.recommend()
        t_opt += time.perf_counter() - t0
        leader._x = np.asarray(x, dtype=np.float64)  # warm start, as the principal does
    days = len(asofs)
    return {"gens_per_day": gens / days, "evals_per_gen": evals / gens,
            "opt_us_per_gen": t_opt / gens * 1e6, "fit_us_per_gen": t_fit / gens * 1e6,
            "day_ms": (t_opt + t_fit) / days * 1e3, "overhead": t_opt / (t_opt + t_fit)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--days", type=int, default=160)
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--windows", type=int, default=40, help="search days per cell")
    args = ap.parse_args()
    pops = [(8, 8)] if args.quick else [(8, 8), (32, 16)]
    lookbacks = [5] if args.quick else [5, 20, 60]
    leaders = [("SA (A)", "sa", {"component": "disagreement"}),
               ("SA (C)", "sa", {"component": "signal", "learn_alpha": True}),
               ("CMA-ES (D)", "cmaes", {})]
    print(f"{'leader':<11} {'agents':>6} {'window':>6} {'gens/day':>8} {'cand/gen':>8} "
          f"{'optimiser us':>12} {'fitness us':>10} {'day ms':>7} {'overhead':>8}")
    for K, M in pops:
        game = recorded_game(K, M, args.days, args.symbols)
        for L in lookbacks:
            for label, name, opts in leaders:
                r = profile(name, opts, game, L, 10 if args.quick else args.windows)
                print(f"{label:<11} {K * M:>6} {L:>6} {r['gens_per_day']:>8.1f} {r['evals_per_gen']:>8.1f} "
                      f"{r['opt_us_per_gen']:>12.0f} {r['fit_us_per_gen']:>10.0f} {r['day_ms']:>7.2f} "
                      f"{r['overhead']:>7.0%}", flush=True)


if __name__ == "__main__":
    main()
