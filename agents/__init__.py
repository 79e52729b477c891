"""Followers: investor types and their behaviour (scripted now; LLM-backed in ``agents.llm``)."""

from mass_env.game.investors import ALL_STYLES, STYLES, InvestorType, build_types

from .scripted import ScriptedInvestor, follower_actions, scripted_followers

__all__ = ["ALL_STYLES", "STYLES", "InvestorType", "ScriptedInvestor", "build_types",
           "follower_actions", "scripted_followers"]
