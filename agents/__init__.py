"""Followers by name: the population registry (what a sweep's ``followers=`` means).

The scripted investors, the game's reference followers, are ``mass_env.scripted_followers``; the LLM
investors are in ``agents.llm``. This package is the registry that names populations of them:
``make_followers(name, env, seed=..., **options)`` builds one, ``register_population`` adds one.
The Hedge followers (``agents.hedge``: scripted views, reports learned against the payment rule) are
the population ``hedge``.
"""

import mass_env.removed  # noqa: F401  (old import paths raise an ImportError naming the new one)

from .populations import (
    POPULATIONS,
    make_followers,
    parse_population,
    population_identity,
    population_sources,
    register_population,
)

__all__ = [
    # the registry of follower populations
    "POPULATIONS", "make_followers", "parse_population", "population_identity", "population_sources",
    "register_population",
]
