"""mass_env: the repeated Stackelberg aggregation game over heterogeneous investor types.

Entry points: ``parallel_env`` / ``env`` (PettingZoo), ``gymnasium.make("mass_env/Principal-v0")``
(the leader alone), ``StackelbergGame`` (the game core), ``MarketPanel`` and its loaders,
``synthetic_market`` (the embedded default market).
"""

# gymnasium's registry under another name: importing ``mass_env.registry`` (below, via data.datasets)
# binds that submodule as ``mass_env.registry``
from gymnasium.envs.registration import register
from gymnasium.envs.registration import registry as _gym_registry

from .game.aggregation import Aggregate, TypeMoments, aggregate, type_moments
from .env import PRINCIPAL, MassStackelbergEnv, PrincipalObsLayout, default_market, env, parallel_env, raw_env
from .errors import ActionError, DataError, LookAheadError, MassError
from .game import GameConfig, Payoff, StackelbergGame
from .gym_env import PrincipalEnv
from .game.investors import InvestorType, build_types
from .data.datasets import load_panel
from .data.frame import from_long_frame, read_table
from .data.macro import align_by_release
from .game.mechanism import ActionCodec, PrincipalAction, apply_inertia, turnover
from .game.metrics import RankICScorer, ic, rank_ic, summarize
from .data.modalities import Modality
from .data.panel import MarketPanel
from .data.returns import ReturnSpec, forward_returns
from .game.scoring import ScoringWindow
from .data.synthetic import SyntheticConfig, SyntheticTruth, synthetic_market
from .data.view import PointInTimeView

if "mass_env/Principal-v0" not in _gym_registry:
    register(id="mass_env/Principal-v0", entry_point="mass_env.gym_env:PrincipalEnv")

__all__ = [
    "PRINCIPAL", "ActionCodec", "align_by_release", "from_long_frame", "load_panel", "read_table", "ActionError", "Aggregate", "DataError", "GameConfig", "InvestorType",
    "LookAheadError", "MarketPanel", "MassError", "MassStackelbergEnv", "Modality", "Payoff",
    "PointInTimeView", "PrincipalAction", "PrincipalEnv", "PrincipalObsLayout", "RankICScorer",
    "ReturnSpec", "ScoringWindow", "StackelbergGame", "SyntheticConfig", "SyntheticTruth",
    "TypeMoments", "aggregate", "apply_inertia", "build_types", "default_market", "env",
    "forward_returns", "ic", "parallel_env", "rank_ic", "raw_env", "summarize", "synthetic_market",
    "turnover", "type_moments",
]
