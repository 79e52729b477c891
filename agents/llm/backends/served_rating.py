"""Log-probability rating over an OpenAI-compatible server: the local backend's per-stock rating, served.

Why ``/v1/completions`` with ``logprobs``: the rating is the distribution of the *next token after*
``{"rating": `` in the assistant's answer, so the client must write the start of that answer itself.
The chat endpoint cannot portably continue an assistant message begun by the client (vLLM needs
``continue_final_message``, llama.cpp's C++ server guesses from a trailing assistant turn,
llama-cpp-python's server cannot), while ``/v1/completions`` with a raw prompt and an integer
``logprobs`` (top-N log-probabilities per generated token) is implemented alike by vLLM, llama.cpp's
``llama-server`` and llama-cpp-python's server (the ``llamacpp`` extra). So the prompt is rendered here,
with the model's chat template, exactly as the local backend lays it out (``PER_STOCK_SYSTEM``, the
shared segments first so a server with prefix caching reuses them, ``PER_STOCK_TAIL`` + the stock,
the assistant header, ``PER_STOCK_PROBE``); one token is generated at temperature 0 and P(1..5) is read
from the top ``top_logprobs`` log-probabilities of that position, renormalised, with the raw mass kept.

A rating digit missing from the top N has a probability below the smallest one listed and is counted
as 0 (N = 20, the most vLLM allows by default, leaves a tiny model's mass on its digits nearly
complete; the mass records what was seen). A response without log-probabilities (``transformers
serve``, OpenAI's chat-only models) is a counted ``malformed`` answer saying so (``NO_LOGPROBS``), and
one whose top tokens hold no rating digit is ``malformed`` too: never a NaN row.

Chat templates: ``"chatml"`` (built in: SmolLM2, Qwen and most small instruct models) or a local Hugging
Face model or tokenizer folder, rendered by its own template through ``transformers`` (imported then).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache.branches import BranchScores
from ..prompts.templates import PER_STOCK_PROBE, PER_STOCK_SYSTEM, PER_STOCK_TAIL, RATING_TEXTS
from .base import ERROR, MALFORMED, OK, REFUSED, Answer, BackendStats, OnAnswer, Request

#: The served log-prob rating's format (part of the backend's identity, so of every cache key).
LOGPROB_FORMAT_VERSION = "served-rating-logprob-per-stock/1"
RATING_MODES = ("list", "logprobs")
NO_LOGPROBS = "this server returns no token log-probabilities; use --llm-rating list"
CHATML_VERSION = "chatml/1"
_MARK = "\x00USER\x00"


@dataclass(frozen=True)
class PromptTemplate:
    """The chat template around the per-stock user message: ``head + user + tail`` (``tail`` ends with
    the assistant header and ``PER_STOCK_PROBE``); ``ident`` names it in the backend's identity."""

    head: str
    tail: str
    ident: str

    def render(self, segments: Sequence[str], item_text: str) -> str:
        """The full prompt of one (shared context, stock) branch, shared context first."""
        return self.head + "".join(segments) + PER_STOCK_TAIL + item_text + self.tail


def chatml_template() -> PromptTemplate:
    head = f"<|im_start|>system\n{PER_STOCK_SYSTEM}<|im_end|>\n<|im_start|>user\n"
    return PromptTemplate(head, "<|im_end|>\n<|im_start|>assistant\n" + PER_STOCK_PROBE, CHATML_VERSION)


def template_identity(spec: str) -> str:
    """What names a template without rendering it (``identity`` runs before any backend is built):
    ``chatml/1``, or a sha256 of the folder's tokenizer files (the same template on another path is the
    same identity, an edited one another)."""
    if spec == "chatml":
        return CHATML_VERSION
    folder = Path(spec)
    if not folder.is_dir():
        raise ValueError(f"chat_template is 'chatml' or a local model/tokenizer folder, got {spec!r} (not a folder)")
    h = hashlib.sha256()
    names = ("tokenizer_config.json", "chat_template.jinja", "chat_template.json", "special_tokens_map.json")
    found = [n for n in names if (folder / n).is_file()]
    if not found:
        raise ValueError(f"{folder} holds no tokenizer_config.json or chat_template.jinja (no chat template)")
    for n in found:
        h.update(n.encode() + b"\0" + (folder / n).read_bytes())
    return "folder-sha256:" + h.hexdigest()[:16]


def load_template(spec: str) -> PromptTemplate:
    """``"chatml"`` or a local folder whose tokenizer's chat template places the user message verbatim.

    A BOS written by the template is dropped when the tokenizer adds BOS by itself (servers tokenize
    a raw prompt the same way and would double it); SmolLM2's ``<|im_start|>`` is kept (its tokenizer
    adds none)."""
    if spec == "chatml":
        return chatml_template()
    ident = template_identity(spec)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(spec, local_files_only=True)
    text = tok.apply_chat_template([{"role": "system", "content": PER_STOCK_SYSTEM},
                                    {"role": "user", "content": _MARK}], add_generation_prompt=True, tokenize=False)
    if not isinstance(text, str) or text.count(_MARK) != 1:
        raise ValueError(f"the chat template of {spec} does not place the user message verbatim")
    head, tail = text.split(_MARK)
    bos = tok.bos_token
    ids = tok("x")["input_ids"]
    if bos and head.startswith(bos) and ids and ids[0] == tok.bos_token_id:
        head = head[len(bos):]
    return PromptTemplate(head, tail + PER_STOCK_PROBE, ident)


def completion_body(model: str, prompt: str, top_logprobs: int, seed: int | None = None) -> dict[str, Any]:
    """The ``/v1/completions`` request of one branch: one token, greedy, top-N log-probabilities."""
    body: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                            "logprobs": int(top_logprobs), "echo": False}
    if seed is not None:
        body["seed"] = seed
    return body


def _plain(obj: Any) -> Any:
    """A response part as plain dicts and lists (the client's pydantic objects keep unknown fields)."""
    dump = getattr(obj, "model_dump", None)
    return dump() if callable(dump) else obj


def top_logprobs_of(logprobs: Any) -> dict[str, float] | None:
    """The first generated token's top log-probabilities ``{token text: logprob}``, from either form
    servers use: the completions form (``top_logprobs: [{token: logprob}]``: vLLM, llama-cpp-python) or the
    chat form (``content: [{top_logprobs: [{token, logprob}]}]``: llama.cpp's C++ server). ``None``: none."""
    lp = _plain(logprobs)
    if not isinstance(lp, Mapping):
        return None
    tops = lp.get("top_logprobs")
    if isinstance(tops, list) and tops and isinstance(tops[0], Mapping):
        return {str(k): float(v) for k, v in tops[0].items() if isinstance(v, (int, float))}
    content = lp.get("content")
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        entries = content[0].get("top_logprobs") or []
        out: dict[str, float] = {}
        for e in entries:
            e = _plain(e)
            if isinstance(e, Mapping) and isinstance(e.get("logprob"), (int, float)):
                out.setdefault(str(e.get("token", "")), float(e["logprob"]))
        return out or None
    return None


def rating_distribution(top: Mapping[str, float] | None) -> tuple[np.ndarray | None, float, str]:
    """``(P(1..5) renormalised, raw mass on the digits, why not)`` from a token's top log-probabilities."""
    if not top:
        return None, 0.0, NO_LOGPROBS
    p = np.array([math.exp(top[r]) if r in top and math.isfinite(top[r]) else 0.0 for r in RATING_TEXTS])
    mass = float(p.sum())
    if not mass > 0.0:
        shown = ", ".join(repr(t) for t in list(top)[:5])
        return None, 0.0, f"no rating digit 1..5 among the server's top {len(top)} next tokens (top: {shown})"
    return p / mass, mass, ""



def read_logprobs(choice: Any, pt: int, ct: int) -> Answer:
    """One stock's answer from a completion choice: its rating distribution (probs and mass of one
    item), or ``malformed`` saying why there is none (``NO_LOGPROBS``: the server sends none)."""
    if getattr(choice, "finish_reason", None) == "content_filter":
        return Answer(REFUSED, detail="content_filter", prompt_tokens=pt, completion_tokens=ct)
    probs, mass, why = rating_distribution(top_logprobs_of(getattr(choice, "logprobs", None)))
    if probs is None:
        return Answer(MALFORMED, detail=why, prompt_tokens=pt, completion_tokens=ct)
    return Answer(OK, (tuple(float(x) for x in probs),), (mass,), prompt_tokens=pt, completion_tokens=ct)


def branch_scores(prompts: Sequence[str], got: Mapping[str, Answer], stats: BackendStats) -> BranchScores:
    """The per-branch result of one-stock answers by prompt (a prompt asked once serves its repeats);
    the tokens the server reports are added to ``stats``."""
    scores = np.full((len(prompts), 6), np.nan)
    status, detail = [], []
    for i, p in enumerate(prompts):
        a = got.get(p) or Answer.failure(ERROR, "no answer")
        if a.ok and a.probs and a.mass:
            scores[i, :5], scores[i, 5] = a.probs[0], a.mass[0]
        status.append(a.status)
        detail.append(a.detail)
    for a in got.values():
        stats.prompt_tokens += a.prompt_tokens
        stats.completion_tokens += a.completion_tokens
    return BranchScores(scores, tuple(status), tuple(detail))


def all_or_nothing(res: BranchScores) -> np.ndarray:
    """``rate_items``'s ``(B, 6)`` scores, raising when any branch failed (its first failure named)."""
    bad = [i for i, st in enumerate(res.status) if st != OK]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(res.status)} stock rating(s) failed ({res.status[bad[0]]}: "
                           f"{res.detail[bad[0]]})")
    return res.scores


def emit_per_request(requests: Sequence[Request], res: BranchScores, emit: OnAnswer) -> None:
    """Per-request answers from the branches of all requests' items in order (no response cache): a
    request with a failed stock fails with that stock's status, as a cached per-stock one does."""
    k = 0
    for i, req in enumerate(requests):
        n = len(req.items)
        bad = [j for j in range(k, k + n) if res.status[j] != OK]
        rows = res.scores[k:k + n]
        k += n
        if bad:
            emit(i, Answer.failure(res.status[bad[0]], f"{len(bad)} of {n} stock(s) failed: {res.detail[bad[0]]}"))
        else:
            emit(i, Answer(OK, tuple(tuple(float(x) for x in r[:5]) for r in rows), tuple(float(r[5]) for r in rows)))
