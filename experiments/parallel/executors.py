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
  (measured: ``benchmarks/README.md``, "Threads").
* ``RayExecutor(address=None)``: Ray, an optional extra (``pip install ray``), imported only when the
  executor is used. Without ``address`` a local Ray is started (``ray.init(num_cpus=workers)``);
  with one (``"auto"``, ``"ray://host:10001"``) it joins that cluster, whose nodes need this project
  installed.

Executors know nothing about sweeps: ``experiments.sweep.engine.run_ablation(spec, out, executor=...)``
runs a sweep's (config, seed) episodes on one (``experiments.sweep.workers.ablation_job`` in each worker).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol

OnResult = Callable[[int, Any], None]

EXECUTORS = ("serial", "process", "ray")


class Executor(Protocol):
    """Maps a picklable function over argument tuples; results in input order."""

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
    exception is re-raised here (the other calls are cancelled). Workers exit when this process dies,
    even by SIGKILL (``experiments.parallel.lifeline``), instead of waiting on their queue forever. Workers get
    ``threads_per_worker`` BLAS/OpenMP threads (1 by default; ``None`` leaves the environment as it is).
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
        pool = ProcessPoolExecutor(max_workers=min(self.workers, len(args)), mp_context=ctx,
                                   initializer=_worker_start, initargs=(os.getpid(),))
        try:
            with _child_thread_env(self.threads_per_worker):  # workers are started by the submits
                futures = {pool.submit(fn, *a): i for i, a in enumerate(args)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=futures.__getitem__):
                    i = futures[f]
                    out[i] = f.result()
                    if on_result is not None:
                        on_result(i, out[i])
        except BaseException:  # Ctrl-C (once or twice) or a worker's error: stop every worker now
            with _sigint_ignored():
                stop_pool(pool)
            raise
        pool.shutdown(wait=True)
        return out

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers})"


def _worker_start(parent: int) -> None:
    """A pool worker's start: Ctrl-C is the parent's to handle (it stops the pool at once; a worker
    taking the terminal's SIGINT itself would break the pool mid-run), and it dies with its parent."""
    import signal

    from experiments.parallel.lifeline import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Let a second Ctrl-C not interrupt the stopping of the pool (which would leave workers that the
    interpreter then waits for at exit: the hang). Main thread only; elsewhere a no-op."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def stop_pool(pool: ProcessPoolExecutor, grace_s: float = 2.0) -> None:
    """End the pool's workers now (terminate, then kill after ``grace_s``), without waiting for the
    runs they are playing: finished runs are already stored and every LLM answer is committed as it
    arrives, so nothing finished is lost. Futures are not cancelled one by one: the pool fails the
    unfinished ones itself once its workers are gone (cancelling them first makes Python 3.11's pool
    thread raise ``InvalidStateError``)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    end = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)
    pool.shutdown(wait=False)


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

