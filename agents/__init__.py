"""Followers by name: the population registry (what a sweep's ``followers=`` means).

The scripted investors, the game's reference followers, are ``mass_env.scripted_followers``; the LLM
investors are in ``agents.llm``. This package is the registry that names populations of them:
``make_followers(name, env, seed=..., **options)`` builds one, ``register_population`` adds one.
"""

import mass_env.removed  # noqa: F401  (old import paths raise an ImportError naming the new one)

from .populations import POPULATIONS, make_followers, population_identity, population_sources, register_population

__all__ = ["POPULATIONS", "make_followers", "population_identity", "population_sources", "register_population"]
