"""``mass ablation --followers llm --llm-prefetch``: one model pass over the study before its runs.

Why: a per-stock answer depends on (model, prompt, type, persona, stock, day) only, so every run of
the sweep could replay it; but the runs ask as they go, and runs started together on a pool all miss
the same ratings. Rating them first (``agents.llm.cache.prefetch``) makes the model work once per study
and every run a cache replay. Two passes, chosen by cost (``auto``, the default):

* ``universe``: every type's whole universe on every episode day. At the paper's 8 agents x 20 of ~50
  candidates per type the runs draw ~98% of it anyway, and this is the pass its published tables used.
* ``exact``: the ratings the runs will ask for and no other: every distinct run's followers (seeded as
  the run will be) play its days in sweep order, so each asks what it would ask, in its own batches, and
  the ratings are those the runs would compute themselves (``--llm-prefetch off``, serially). At 8 types
  x 2 agents x 5 candidates that is a fifth of the universe.

``auto`` first counts both without a model call (the draws are seeded: ``record_draws``) and takes
``exact`` when it needs less than ``EXACT_SHARE`` of the universe's ratings. Only per-stock backends (the
local model) share answers this way; for others, and in ``--llm-replay``, there is nothing to prefetch.

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
from experiments.sweep.configs import AblationConfig
from experiments.sweep.markets import market_for
from experiments.sweep.spec import SweepSpec
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig

#: ``--llm-prefetch`` passes (``on``, the former default, is ``universe``)
MODES = ("auto", "exact", "universe")
#: ``auto`` takes the exact ratings when they are fewer than this share of the whole universe's: below it the
#: saving is worth the smaller batches; above it (dense studies) the one universe pass is kept as it was
EXACT_SHARE = 0.9
#: the options that only say how answers are fetched, not what a follower draws
_FETCH = ("backend", "backend_options", "cache", "cache_mode", "retry_failed")


def prefetch_study(spec: SweepSpec, say: Callable[[str], None], markets: dict[Any, Any] | None = None,
                   executor: Any = None, mode: str = "auto") -> dict[str, Any] | None:
    """Warm ``spec``'s LLM cache with the ``mode`` pass (``MODES``); None when nothing to do.
    ``executor`` (``experiments.parallel.executors``): split the days over its workers."""
    if mode not in MODES:
        raise ValueError(f"prefetch mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not _wanted(spec):
        return None
    markets = {} if markets is None else markets
    if mode == "auto":
        draws = study_draws(spec, markets)
        mode = choose(draws.exact, draws.whole)
        say(f"LLM prefetch plan: the runs draw {draws.exact} rating(s), the whole universe is {draws.whole} "
            f"({draws.exact / max(draws.whole, 1):.0%}): {mode} pass")
    parts = int(getattr(executor, "workers", None) or 1) if executor is not None else 1
    if parts <= 1:
        return prefetch_part(spec, 0, 1, say, markets, mode)
    t0 = time.perf_counter()
    say(f"LLM prefetch split by day over {parts} workers ({executor!r})")
    outs = executor.map(prefetch_part, [(spec, k, parts, None, None, mode) for k in range(parts)])
    outs = [o for o in outs if o is not None]
    if not outs:
        return None
    total: dict[str, Any] = {k: sum(o[k] for o in outs) for k in ("days", "computed", "reused")}
    total["passes"], total["mode"] = outs[0]["passes"], mode
    say(f"LLM prefetch done: {total['computed']} rating(s) computed, {total['reused']} already cached, "
        f"{total['passes']} pass(es) over {total['days']} day(s) in {parts} workers, "
        f"{time.perf_counter() - t0:.0f}s")
    return total


def _wanted(spec: SweepSpec) -> bool:
    opts = spec.follower_options
    return (spec.followers == "llm" and opts.get("cache") is not None and opts.get("cache_mode") != "replay"
            and opts.get("told") is None)  # told followers' prompts depend on the game: nothing to rate before it


def _say_part(part: int, parts: int) -> Callable[[str], None]:
    return lambda msg: print(f"[prefetch {part + 1}/{parts}] {msg.strip()}", file=sys.stderr, flush=True)


def choose(exact: int, whole: int) -> str:
    """``exact`` when the runs' own ratings are under ``EXACT_SHARE`` of the whole universe's, else ``universe``."""
    return "exact" if exact < EXACT_SHARE * whole else "universe"


def _runs(spec: SweepSpec, markets: dict[Any, Any]) -> list[tuple[AblationConfig, int, Any, tuple[Any, ...]]]:
    """The study's runs in sweep order (configs, then seeds), one per distinct (market, types, seed): runs
    that share these draw the same stocks (their followers never depend on the leader)."""
    done: set[Any] = set()
    out = []
    for cfg in spec.configs:
        for seed in spec.seeds:
            panel = market_for(spec, seed, markets)
            types = types_for(cfg, spec.fidelity, seed)
            what = (id(panel), types, seed)
            if what not in done:
                done.add(what)
                out.append((cfg, seed, panel, types))
    return out


def _env(spec: SweepSpec, cfg: AblationConfig, panel: Any, types: tuple[Any, ...]) -> MassStackelbergEnv:
    return MassStackelbergEnv(panel, types, GameConfig(horizon=spec.horizon, turnover_penalty=cfg.turnover_penalty,
                                                       report_horizons=spec.report_horizons,
                                                       rule=game_rule(spec.fidelity)))  # type: ignore[arg-type]


def study_draws(spec: SweepSpec, markets: dict[Any, Any] | None = None) -> Any:
    """Every rating ``spec``'s runs will ask for, and the whole universe's on the same days
    (``agents.llm.cache.prefetch.Draws``), from the seeded draws alone: no backend, no model call."""
    from agents.llm.backends.base import ScriptedBackend
    from agents.llm.cache.prefetch import Draws, record_draws
    from agents.llm.follower import llm_followers

    markets = {} if markets is None else markets
    opts = {k: v for k, v in spec.follower_options.items() if k not in _FETCH}
    draws = Draws()
    stand_in = ScriptedBackend()
    for cfg, seed, panel, types in _runs(spec, markets):
        env = _env(spec, cfg, panel, types)
        window = episode_window(panel, spec.fidelity, spec.eval_skip) or {}
        record_draws(env, llm_followers(env, stand_in, seed=seed, **opts), draws, seed=seed, market=id(panel),
                     start=window.get("start"), end=window.get("end"))
    return draws


def prefetch_part(spec: SweepSpec, part: int, parts: int, say: Callable[[str], None] | None = None,
                  markets: dict[Any, Any] | None = None, mode: str = "universe") -> dict[str, Any] | None:
    """The days ``d % parts == part`` of every pass of ``mode`` (``exact`` or ``universe``; module level:
    executors send it to workers)."""
    from agents.llm.follower import shared_backend

    if mode not in ("exact", "universe"):
        raise ValueError(f"a prefetch part plays the exact or the universe pass, got {mode!r}")
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
    if mode == "exact":
        total = _exact(spec, part, parts, say, markets)
    else:
        total = _universe(spec, part, parts, say, markets, be, opts)
    if parts == 1:
        say(f"LLM prefetch done: {total['computed']} rating(s) computed, {total['reused']} already cached, "
            f"{total['passes']} {mode} pass(es) over {total['days']} day(s)")
    return total


def _exact(spec: SweepSpec, part: int, parts: int, say: Callable[[str], None],
           markets: dict[Any, Any]) -> dict[str, Any]:
    """Every distinct run's own followers ask for their days, in sweep order (``prefetch_run``)."""
    from agents.llm.cache.prefetch import prefetch_run
    from agents.populations import make_followers

    total: dict[str, Any] = {"mode": "exact", "passes": 0, "days": 0, "computed": 0, "reused": 0}
    for cfg, seed, panel, types in _runs(spec, markets):
        env = _env(spec, cfg, panel, types)
        window = episode_window(panel, spec.fidelity, spec.eval_skip) or {}
        total["passes"] += 1
        say(f"LLM prefetch {total['passes']}: the runs' draws of {len(types)} types on {panel.name} "
            f"(seed {seed}, config {cfg.name})")
        followers = make_followers(spec.followers, env, seed, **spec.follower_options)
        stats = followers.backend.cache_stats  # type: ignore[attr-defined]  # the process's shared backend
        before = (stats.branch_misses, stats.branch_hits)
        res = prefetch_run(env, followers, seed=seed, start=window.get("start"), end=window.get("end"), part=part,
                           parts=parts, progress=say)
        total["days"] += res["days"]
        total["computed"] += stats.branch_misses - before[0]
        total["reused"] += stats.branch_hits - before[1]
    return total


def _universe(spec: SweepSpec, part: int, parts: int, say: Callable[[str], None], markets: dict[Any, Any],
              be: Any, opts: dict[str, Any]) -> dict[str, Any]:
    """Every type's whole universe once per distinct (market, types) (``agents.llm.cache.prefetch.prefetch``)."""
    from agents.llm.cache.prefetch import prefetch

    done: set[Any] = set()
    total: dict[str, Any] = {"mode": "universe", "passes": 0, "days": 0, "computed": 0, "reused": 0}
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
    return total
