"""Asynchronous request plumbing for network backends: a private event loop, retry timing, a circuit breaker.

Why asyncio and not a thread per request: a request must have a *total* deadline (an HTTP client's
timeout is per read, so a server trickling one byte a second holds a thread forever), ``concurrency``
must mean that many requests in flight whatever the batch size, and Ctrl-C must stop everything at
once. Cancelling a coroutine does all three; a blocked thread can do none.

``EventLoopThread`` runs one event loop in a daemon thread per backend (re-created after a fork) and
``run_all`` hands each finished result to the calling thread as it arrives, so the caller commits it
(the response cache) before the next one. On ``KeyboardInterrupt`` (or any error in the caller) the
coroutines still running are cancelled, which closes their connections, and the interrupt propagates:
what was answered is kept, nothing waits for a dead server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class EventLoopThread:
    """One asyncio loop in a daemon thread, started on first use (and again in a forked child)."""

    def __init__(self, name: str = "mass-llm-loop") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = -1
        self._guard = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=self.name, daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run one coroutine on the loop and wait for its result (``timeout``: seconds, then cancel)."""
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except BaseException:
            fut.cancel()
            raise

    def run_all(self, coros: Sequence[Coroutine[Any, Any, T]], emit: Callable[[int, T], None],
                poll_s: float = 0.1) -> None:
        """Run ``coros`` concurrently; ``emit(i, result)`` in this thread as each one finishes.

        A coroutine that raises is a bug in the caller's coroutine: its exception is re-raised here
        after the others are cancelled. So are ``KeyboardInterrupt`` and anything ``emit`` raises.
        """
        if not coros:
            return
        done: queue.SimpleQueue[tuple[int, Any, BaseException | None]] = queue.SimpleQueue()

        async def one(i: int, coro: Coroutine[Any, Any, T]) -> None:
            try:
                done.put((i, await coro, None))
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 (handed to the calling thread)
                done.put((i, None, exc))

        loop = self.loop
        futures = [asyncio.run_coroutine_threadsafe(one(i, c), loop) for i, c in enumerate(coros)]
        pending = len(futures)
        try:
            while pending:
                try:
                    i, result, exc = done.get(timeout=poll_s)  # wakes for Ctrl-C at least every poll_s
                except queue.Empty:
                    continue
                pending -= 1
                if exc is not None:
                    raise exc
                emit(i, result)
        except BaseException:
            for f in futures:
                f.cancel()
            concurrent.futures.wait(futures, timeout=2.0)  # let cancelled requests close their sockets
            raise

    def close(self) -> None:
        with self._guard:
            loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed() and self._pid == os.getpid():
            loop.call_soon_threadsafe(loop.stop)


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The server's requested wait from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``."""
    if not headers:
        return None
    low = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = low.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = low.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random, retry_after: float | None = None) -> float:
    """Wait before retry ``attempt`` (1 = the first retry): exponential ``base * 2**(attempt-1)`` capped at
    ``cap``, with equal jitter (half fixed, half uniform) so clients that failed together do not retry
    in lockstep; at least the server's ``Retry-After`` (plus up to ``base`` of jitter) when it sent one."""
    exp = min(cap, base * 2 ** max(0, attempt - 1))
    delay = exp / 2 + rng.uniform(0.0, exp / 2)
    if retry_after is not None:
        delay = max(delay, retry_after + rng.uniform(0.0, base))
    return delay


class CircuitBreaker:
    """Stops sending to a server that keeps failing: after ``after`` failures in a row (final, after
    retries) the circuit opens and requests fail at once ("not sent") instead of each waiting out its
    deadline; every ``cooldown`` seconds one request is let through as a probe, and a success closes it.
    Without it a dead server costs every batch of a run its full deadline times its retries."""

    def __init__(self, after: int, cooldown: float) -> None:
        self.after = int(after)
        self.cooldown = float(cooldown)
        self.failures = 0
        self.opened_at: float | None = None
        self.last_error = ""
        self._probing = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """May a request be sent now? (``False``: the circuit is open and a probe is out or not yet due.)"""
        if self.after <= 0:
            return True
        with self._lock:
            if self.opened_at is None:
                return True
            if not self._probing and time.monotonic() - self.opened_at >= self.cooldown:
                self._probing = True
                return True
            return False

    def record(self, ok: bool, error: str = "") -> None:
        with self._lock:
            self._probing = False
            if ok:
                self.failures, self.opened_at = 0, None
                return
            self.failures += 1
            self.last_error = error
            if self.after > 0 and self.failures >= self.after:
                self.opened_at = time.monotonic()

    @property
    def reason(self) -> str:
        return f"the last {self.failures} requests failed (last: {self.last_error}); the server looks down"
