"""Scripted investors, re-exported from ``mass_env.scripted`` (the game ships its reference followers,
so the Gymnasium leader env and the conformance harnesses need nothing from ``agents``)."""

from mass_env.rollout import follower_actions
from mass_env.scripted import CHANNELS, STYLE_CHANNELS, ScriptedInvestor, scripted_followers

__all__ = ["CHANNELS", "STYLE_CHANNELS", "ScriptedInvestor", "follower_actions", "scripted_followers"]
