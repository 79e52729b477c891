"""``mass ablation --followers llm --llm-prefetch``: one model pass over the study before its runs.

Why: a per-stock answer depends on (model, prompt, type, persona, stock, day) only, so every run of
the sweep could replay it; but the runs ask as they go, and runs started together on a pool all miss
the same ratings. Rating every type's whole universe on every episode day first
(``agents.llm.cache.prefetch``) makes the model work once per study and every run a cache replay. At the
paper's 8 agents x 20 of ~50 candidates per type the runs draw ~98% of the universe anyway, so the pass
costs about what the first run would; with very few agents per type it rates more stocks than the
runs draw (``--llm-prefetch off``). Only per-stock backends (the local model) share answers this way;
for others, and in ``--llm-replay``, there is nothing to prefetch.

With a process or Ray executor the pass is split by day over its workers (day ``d`` goes to worker
``d % parts``; every worker plays the same passes in the same order, one torch thread each, into the
one SQLite cache): the model pass is the study's cost, so it is what the cores are for.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from experiments.paper.fidelity import episode_window, game_rule, types_for
from experiments.sweep.markets import market_for
from experiments.sweep.spec import SweepSpec
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig


def prefetch_study(spec: SweepSpec, say: Callable[[str], None], markets: dict[Any, Any] | None = None,
                   executor: Any = None) -> dict[str, int] | None:
    """Warm ``spec``'s LLM cache for every distinct (market, types) of its runs; None when nothing to do.
    ``executor`` (``experiments.parallel.executors``): split the days over its workers."""
    parts = int(getattr(executor, "workers", None) or 1) if executor is not None else 1
    if parts <= 1 or not _wanted(spec):
        return prefetch_part(spec, 0, 1, say, markets)
    t0 = time.perf_counter()
    say(f"LLM prefetch split by day over {parts} workers ({executor!r})")
    outs = executor.map(prefetch_part, [(spec, k, parts) for k in range(parts)])
    outs = [o for o in outs if o is not None]
    if not outs:
        return None
    total = {k: sum(o[k] for o in outs) for k in ("days", "computed", "reused")}
    total["passes"] = outs[0]["passes"]
    say(f"LLM prefetch done: {total['computed']} rating(s) computed, {total['reused']} already cached, "
        f"{total['passes']} pass(es) over {total['days']} day(s) in {parts} workers, "
        f"{time.perf_counter() - t0:.0f}s")
    return total


def _wanted(spec: SweepSpec) -> bool:
    opts = spec.follower_options
    return spec.followers == "llm" and opts.get("cache") is not None and opts.get("cache_mode") != "replay"


def _say_part(part: int, parts: int) -> Callable[[str], None]:
    return lambda msg: print(f"[prefetch {part + 1}/{parts}] {msg.strip()}", file=sys.stderr, flush=True)


def prefetch_part(spec: SweepSpec, part: int, parts: int, say: Callable[[str], None] | None = None,
                  markets: dict[Any, Any] | None = None) -> dict[str, int] | None:
    """The days ``d % parts == part`` of every pass (module level: executors send it to workers)."""
    from agents.llm.cache.prefetch import prefetch
    from agents.llm.follower import shared_backend

    if say is None:
        say = _say_part(part, parts)
    opts = dict(spec.follower_options)
    if not _wanted(spec):
        return None
    be = shared_backend(opts.get("backend", "local"), backend_options=opts.get("backend_options"),
                        cache=opts["cache"], cache_mode=opts.get("cache_mode", "readwrite"),
                        retry_failed=bool(opts.get("retry_failed", False)))
    if not getattr(getattr(be, "inner", be), "per_stock", False):
        say("  prefetch skipped: the backend answers whole requests (only per-stock backends share answers)")
        return None
    markets = {} if markets is None else markets
    done: set[Any] = set()
    total = {"passes": 0, "days": 0, "computed": 0, "reused": 0}
    for seed in spec.seeds:
        panel = market_for(spec, seed, markets)
        for cfg in spec.configs:
            types = types_for(cfg, spec.fidelity, seed)
            what = (id(panel), tuple((t.type_id, t.style, int(t.modalities)) for t in types))
            if what in done:
                continue
            done.add(what)
            env = MassStackelbergEnv(panel, types, GameConfig(horizon=spec.horizon, rule=game_rule(spec.fidelity)))  # type: ignore[arg-type]
            window = episode_window(panel, spec.fidelity, spec.eval_skip) or {}
            say(f"LLM prefetch {len(done)}: {len(types)} types on {panel.name} (seed {seed}, config {cfg.name})")
            before = (be.cache_stats.branch_misses, be.cache_stats.branch_hits)
            res = prefetch(env, be, start=window.get("start"), end=window.get("end"), part=part, parts=parts,
                           personas=int(opts.get("personas", 1)), anonymize=opts.get("anonymize"), progress=say)
            total["passes"] += 1
            total["days"] += res["days"]
            total["computed"] += be.cache_stats.branch_misses - before[0]
            total["reused"] += be.cache_stats.branch_hits - before[1]
    if parts == 1:
        say(f"LLM prefetch done: {total['computed']} rating(s) computed, {total['reused']} already cached, "
            f"{total['passes']} pass(es) over {total['days']} day(s)")
    return total
