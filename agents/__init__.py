"""Followers: investor types and their behaviour. The scripted investors are the game's reference
followers (``mass_env.scripted``, re-exported here); LLM investors are in ``agents.llm``; follower
populations by name (what a sweep's ``followers=`` means) are in ``agents.populations``."""

from mass_env.game.investors import ALL_STYLES, STYLES, InvestorType, build_types

from .populations import POPULATIONS, make_followers, population_identity, population_sources, register_population
from .scripted import ScriptedInvestor, follower_actions, scripted_followers

__all__ = ["ALL_STYLES", "POPULATIONS", "STYLES", "InvestorType", "ScriptedInvestor", "build_types",
           "follower_actions", "make_followers", "population_identity", "population_sources",
           "register_population", "scripted_followers"]
