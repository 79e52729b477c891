"""mass_env: the repeated Stackelberg aggregation game over heterogeneous investor types.

Layers (each imports only those before it; nothing here imports ``agents``, ``principals`` or
``experiments``): ``data`` (panels, point-in-time views, returns, features, loaders) -> ``game``
(investor types, aggregation, the mechanism, Rank IC, scoring windows, the game) -> ``roles``
(``Principal`` / ``Follower`` protocols, ``DecisionContext``) -> ``observation`` / ``scripted`` /
``rollout`` (the one episode loop) -> ``env`` / ``gym_env`` (PettingZoo and Gymnasium shells) ->
``testing`` (public conformance harnesses).

Entry points: ``parallel_env`` / ``env`` / ``raw_env`` (PettingZoo), ``gymnasium.make("mass_env/Principal-v0")``
(the leader alone), ``rollout`` (play an episode), ``StackelbergGame`` (the game core),
``MarketPanel`` and its loaders, ``synthetic_market`` (the embedded default market), ``followers_env``
(the followers alone, a leader embedded: multi-agent RL on the followers).
"""

from gymnasium.envs import registration as _gym

from .data.datasets import load_panel
from .data.frame import from_long_frame, read_table
from .data.macro import align_by_release
from .data.modalities import Modality
from .data.panel import MarketPanel
from .data.returns import ReturnSpec, forward_returns
from .data.synthetic import SyntheticConfig, SyntheticTruth, synthetic_market
from .data.view import PointInTimeView
from .env import MassStackelbergEnv, default_market, env, parallel_env, raw_env
from .errors import ActionError, DataError, LookAheadError, MassError
from .followers_env import FollowersEnv, followers_env
from .game import GameConfig, Payoff, StackelbergGame
from .game.aggregation import Aggregate, TypeMoments, aggregate, type_moments
from .game.components import Component, ric_column
from .game.investors import InvestorType, build_types
from .game.mechanism import ActionCodec, PrincipalAction, apply_inertia, turnover
from .game.metrics import RankICScorer, ic, rank_ic, summarize
from .game.scoring import ScoringWindow
from .gym_env import PrincipalEnv
from .observation import FollowerObsLayout, ObservationLayout, PrincipalObsLayout
from .registry import Registry
from .roles import PRINCIPAL, DecisionContext, Follower, Principal, investor_agent
from .rollout import Rollout, Transition, follower_actions, rollout
from .scripted import FixedCommitment, ScriptedInvestor, scripted_followers

if "mass_env/Principal-v0" not in _gym.registry:
    _gym.register(id="mass_env/Principal-v0", entry_point="mass_env.gym_env:PrincipalEnv")

__all__ = [
    "PRINCIPAL", "ActionCodec", "ActionError", "Aggregate", "Component", "DataError", "DecisionContext",
    "FixedCommitment", "Follower", "GameConfig", "InvestorType", "LookAheadError", "MarketPanel", "MassError",
    "MassStackelbergEnv", "Modality", "ObservationLayout", "Payoff", "PointInTimeView", "Principal",
    "PrincipalAction", "PrincipalEnv", "PrincipalObsLayout", "RankICScorer", "Registry", "ReturnSpec", "Rollout",
    "ScoringWindow", "ScriptedInvestor", "StackelbergGame", "SyntheticConfig", "SyntheticTruth", "Transition",
    "TypeMoments", "aggregate", "align_by_release", "apply_inertia", "build_types", "default_market", "env",
    "follower_actions", "forward_returns", "from_long_frame", "ic", "investor_agent", "load_panel",
    "parallel_env", "rank_ic", "raw_env", "read_table", "ric_column", "rollout", "scripted_followers",
    "summarize", "synthetic_market", "turnover", "type_moments",
]
__all__ += ["FollowerObsLayout", "FollowersEnv", "followers_env"]
