"""Executors for independent runs: serial, a local process pool, or Ray.

An executor maps a *picklable, module-level* function over a list of argument tuples and returns
the results **in input order**, whatever order they finish in::

    ex = make_executor("process", workers=4)
    results = ex.map(fn, [(a1, b1), (a2, b2)])          # == [fn(a1, b1), fn(a2, b2)]
    ex.map(fn, args, on_result=lambda i, r: ...)         # also called as each one finishes

* ``SerialExecutor``: in this process, one after another (the reference).
* ``ProcessExecutor(workers)``: ``concurrent.futures.ProcessPoolExecutor`` with the *spawn* start
  method (safe with threads, BLAS pools and macOS/Windows; each worker imports the function's module
  afresh, so the function must live in an importable module, not in ``__main__`` or a closure).
  Workers start with one BLAS/OpenMP thread each (``threads_per_worker``): the pool is the
  parallelism, and ``workers`` processes each spinning a full BLAS pool oversubscribe the cores
  (measured: a 2-worker E/A-512 sweep on 2 cores took 9.3 s with default BLAS threads, 5.7 s with
  one, 8.5 s serially).
* ``RayExecutor(address=None)``: Ray, an optional extra (``pip install ray``), imported only when the
  executor is used. Without ``address`` a local Ray is started (``ray.init(num_cpus=workers)``);
  with one (``"auto"``, ``"ray://host:10001"``) it joins that cluster, whose nodes need this project
  installed.

``run_ablation_parallel`` runs an ablation sweep (``experiments.ablation``) on an executor: each
(config, seed) episode is ``ablation.run_one`` in a worker; the parent writes every finished run to
the sweep's run store as soon as it arrives (so an interrupted parallel sweep resumes like a serial
one), then lets ``ablation.run_ablation`` assemble the daily frames, the table, the plot and
``ablation.json`` from the stored runs. All randomness flows from the seeds, so the result is the
serial sweep's, number for number.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

OnResult = Callable[[int, Any], None]

EXECUTORS = ("serial", "process", "ray")


class Executor(Protocol):
    name: str

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], *,
            on_result: OnResult | None = None) -> list[Any]: ...


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined]
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class SerialExecutor:
    """Runs every call in this process, in order."""

    name = "serial"
    workers = 1

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], *,
            on_result: OnResult | None = None) -> list[Any]:
        out = []
        for i, a in enumerate(args):
            r = fn(*a)
            if on_result is not None:
                on_result(i, r)
            out.append(r)
        return out

    def __repr__(self) -> str:
        return "SerialExecutor()"


THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextmanager
def _child_thread_env(threads: int | None) -> Iterator[None]:
    """Set the BLAS/OpenMP thread variables that processes started inside the block inherit.

    The parent's own libraries read them at import, long before, so only the children see them.
    """
    if threads is None:
        yield
        return
    saved = {k: os.environ.get(k) for k in THREAD_ENV_VARS}
    os.environ.update({k: str(threads) for k in THREAD_ENV_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class ProcessExecutor:
    """A local pool of ``workers`` processes (default: the usable CPUs), spawn start method.

    The pool lives for one ``map`` call. The function and its arguments are pickled; a worker's
    exception is re-raised here (the other calls are cancelled). Workers get ``threads_per_worker``
    BLAS/OpenMP threads (1 by default; ``None`` leaves the environment as it is).
    """

    name = "process"

    def __init__(self, workers: int | None = None, *, start_method: str = "spawn",
                 threads_per_worker: int | None = 1) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be >= 1 or None, got {threads_per_worker}")
        self.workers = int(workers or _default_workers())
        self.start_method = start_method
        self.threads_per_worker = threads_per_worker

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], *,
            on_result: OnResult | None = None) -> list[Any]:
        import multiprocessing as mp

        args = list(args)
        if not args:
            return []
        out: list[Any] = [None] * len(args)
        ctx = mp.get_context(self.start_method)
        with ProcessPoolExecutor(max_workers=min(self.workers, len(args)), mp_context=ctx) as pool:
            with _child_thread_env(self.threads_per_worker):  # workers are started by the submits
                futures = {pool.submit(fn, *a): i for i, a in enumerate(args)}
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in sorted(done, key=futures.__getitem__):
                        i = futures[f]
                        out[i] = f.result()
                        if on_result is not None:
                            on_result(i, out[i])
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
        return out

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers})"


class RayExecutor:
    """Ray tasks, one per call. Ray is imported lazily (``pip install ray``).

    Without ``address``, a local Ray instance with ``workers`` CPUs (default: the usable CPUs) is
    started on first use, unless Ray is already initialised; with ``address`` this process joins
    that cluster. ``shutdown()`` stops a Ray instance this executor started.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, **init_kwargs: Any) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.address = address
        self.workers = workers
        self.init_kwargs = init_kwargs
        self._started = False

    @staticmethod
    def _ray() -> Any:
        try:
            import ray
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("the ray executor needs Ray: pip install ray") from e
        return ray

    def _init(self) -> Any:
        ray = self._ray()
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            if self.address:
                ray.init(address=self.address, **kw)
            else:
                ray.init(num_cpus=self.workers or _default_workers(), **kw)
            self._started = True
        return ray

    def map(self, fn: Callable[..., Any], args: Sequence[tuple], *,
            on_result: OnResult | None = None) -> list[Any]:
        args = list(args)
        if not args:
            return []
        ray = self._init()
        remote = ray.remote(num_cpus=1)(_call)  # a trampoline: fn may be any picklable callable
        refs = [remote.remote(fn, *a) for a in args]
        index = {r.hex(): i for i, r in enumerate(refs)}
        out: list[Any] = [None] * len(args)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    i = index[ref.hex()]
                    out[i] = ray.get(ref)
                    if on_result is not None:
                        on_result(i, out[i])
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise
        return out

    def shutdown(self) -> None:
        if self._started:
            self._ray().shutdown()
            self._started = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers={self.workers})"


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def make_executor(name: str = "serial", workers: int | None = None, address: str | None = None) -> Executor:
    """``serial`` | ``process`` | ``ray`` (``address``: a Ray cluster; default a local one)."""
    if name == "serial":
        return SerialExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers)
    raise ValueError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")


# ---------------------------------------------------------------------------------------------- ablation
# Configs hold their options in a MappingProxyType, which does not pickle: workers get plain dicts.
def _config_state(cfg: Any) -> dict[str, Any]:
    return {f.name: (dict(getattr(cfg, f.name)) if f.name == "options" else getattr(cfg, f.name))
            for f in fields(cfg)}


def _spec_state(spec: Any) -> dict[str, Any]:
    return {f.name: ([_config_state(c) for c in spec.configs] if f.name == "configs" else getattr(spec, f.name))
            for f in fields(spec)}


def _config_from(state: dict[str, Any]) -> Any:
    from .configs import AblationConfig

    return AblationConfig(**state)


def _spec_from(state: dict[str, Any]) -> Any:
    from .ablation import SweepSpec

    return SweepSpec(**{**state, "configs": tuple(_config_from(c) for c in state["configs"])})


_WORKER_MARKETS: dict[Any, Any] = {}


def ablation_job(cfg_state: dict[str, Any], seed: int, spec_state: dict[str, Any]) -> tuple[Any, str]:
    """One (config, seed) episode of a sweep, in a worker: ``(RunResult, market fingerprint)``.

    The worker builds the market itself (cached per process) rather than receiving it pickled;
    the parent checks its fingerprint against its own, so a nondeterministic loader cannot go
    unnoticed.
    """
    from . import ablation as abl

    if spec_state["followers"] not in abl.FOLLOWERS:
        raise ValueError(f"followers {spec_state['followers']!r} are not registered in the worker process: "
                         "register them at import time of a module the worker imports, or run serially")
    spec = _spec_from(spec_state)
    cfg = _config_from(cfg_state)
    panel = abl.market_for(spec, seed, _WORKER_MARKETS)
    return abl.run_one(cfg, seed, panel, spec), abl.market_fingerprint(panel)


def run_ablation_parallel(spec: Any, out: str | Path, executor: Executor | None = None, *, resume: bool = True,
                          plot: bool = True, progress: Callable[[str], None] | None = None) -> Any:
    """``ablation.run_ablation`` with the (config, seed) episodes run on ``executor``.

    Same files and same numbers as the serial sweep. Runs already in the store (same key) are
    reused when ``resume``; every computed run is stored as soon as it arrives. Returns the
    ``AblationResult``, with ``computed`` / ``reused`` / ``wall_s`` of this call (also in
    ``ablation.json``).
    """
    import json

    from . import ablation as abl

    executor = executor or SerialExecutor()
    t_start = time.perf_counter()
    out = Path(out)
    store = abl.RunStore(out)
    say = progress or (lambda msg: None)
    code_fps = {c.name: abl.code_fingerprint(abl.run_sources(c, spec.followers)) for c in spec.configs}
    markets: dict[Any, Any] = {}
    fps: dict[int, str] = {}
    jobs = [(cfg, s) for cfg in spec.configs for s in spec.seeds]
    todo: list[tuple[Any, int, str, bool]] = []  # (cfg, seed, key, stale)
    reused: list[tuple[str, int]] = []
    for cfg, seed in jobs:
        panel = abl.market_for(spec, seed, markets)
        if id(panel) not in fps:
            fps[id(panel)] = abl.market_fingerprint(panel)
        key = abl.run_key(cfg, seed, spec, fps[id(panel)], code_fps[cfg.name])
        if resume and store.load(cfg.name, seed, key) is not None:
            reused.append((cfg.name, seed))
        else:
            todo.append((cfg, seed, key, resume and store.exists(cfg.name, seed)))
    say(f"{len(jobs)} runs: {len(reused)} reused, {len(todo)} to compute on {executor!r}")
    names = {(cfg.name, seed): (fps[id(abl.market_for(spec, seed, markets))],
                                abl.market_for(spec, seed, markets).name) for cfg, seed, _, _ in todo}
    head = abl.metric("signal", spec.horizon)
    done_count = [0]

    def on_result(i: int, res: tuple[Any, str]) -> None:
        run, worker_fp = res
        cfg, seed, key, stale = todo[i]
        fp, market_name = names[(cfg.name, seed)]
        if worker_fp != fp:
            raise RuntimeError(f"{cfg.name} seed {seed}: the worker built a different market "
                               f"(fingerprint {worker_fp} != {fp}); the market loader is not deterministic")
        run.meta["market"] = {"fingerprint": fp, "name": market_name}
        store.save(run, key)
        done_count[0] += 1
        ev = run.history[run.history["eval"]]
        val = float(ev[head].mean()) if head in ev else float("nan")
        n = len(todo)
        say(f"[{done_count[0]:>{len(str(n))}}/{n}] {cfg.name} seed {seed}: {run.meta['wall_s']:.1f}s"
            + (" (stored run was stale: settings or code changed)" if stale else "") + f", {head} {val:+.4f}")

    spec_state = _spec_state(spec)
    executor.map(ablation_job, [(_config_state(c), s, spec_state) for c, s, _, _ in todo], on_result=on_result)

    # every run is now in the store under its key: the serial sweep assembles the outputs. If source
    # files changed while the workers ran, the keys no longer match and run_ablation recomputes
    # the affected runs here, serially, with the current code (what a serial sweep rerun would do).
    if {c.name: abl.code_fingerprint(abl.run_sources(c, spec.followers)) for c in spec.configs} != code_fps:
        say("source files changed during the sweep: runs of the changed code are recomputed serially")
    result = abl.run_ablation(spec, out, resume=True, plot=plot,
                              progress=lambda msg: None if ": reused," in msg else say(msg))
    order = {(c.name, s): i for i, (c, s) in enumerate(jobs)}
    again = set(result.computed)
    computed = sorted({(c.name, s) for c, s, _, _ in todo} | again, key=order.__getitem__)
    reused = [r for r in reused if r not in again]
    result = replace(result, computed=computed, reused=reused, wall_s=time.perf_counter() - t_start)
    js = Path(result.files["json"])
    summary = json.loads(js.read_text())
    summary.update(computed=[list(x) for x in computed], reused=[list(x) for x in reused], wall_s=result.wall_s,
                   executor={"name": executor.name, "workers": getattr(executor, "workers", None)})
    abl._atomic(js, lambda p: p.write_text(json.dumps(summary, indent=2, default=abl._jsonable)))
    return result
