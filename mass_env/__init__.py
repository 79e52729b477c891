"""mass_env: the repeated Stackelberg aggregation game over heterogeneous investor types.

A leader (the principal) commits every day to how it will aggregate the signals of K investor
types (the followers) and is paid the Rank IC of the aggregate. The names below are the public API;
everything else is reached through the namespaces:

* ``mass_env.data``: market panels, point-in-time views, forward returns, the synthetic market, vendor
  adapters and named datasets;
* ``mass_env.game``: the game core (``StackelbergGame``, aggregation, the mechanism and its
  ``ActionCodec``, Rank IC metrics, components, scoring windows);
* ``mass_env.testing``: conformance checks for a user's leader or followers, look-ahead proofs,
  planted (known-answer) followers;
* ``mass_env.registry``: the one ``Registry`` shape behind every name-chosen part;
* ``mass_env.removed``: where each name removed or renamed in 0.3 went.

Layers (each imports only those before it; nothing here imports ``agents``, ``principals`` or
``experiments``): ``data`` -> ``game`` -> ``roles`` -> ``observation`` / ``scripted`` / ``rollout``
-> ``env`` / ``gym_env`` / ``followers_env`` -> ``testing``.

Gymnasium: ``gymnasium.make("mass_env:mass_env/Principal-v0")`` (the ``mass_env:`` prefix makes
Gymnasium import this package first, so the form works in a fresh process and in ``SubprocVecEnv``
workers); ``gymnasium.make_vec("mass_env/Principal-v0", num_envs=N, vectorization_mode="vector_entry_point")``
is ``PrincipalVectorEnv``, N games stepped together (``mass_env.sb3.make_vec_env``: the same as an SB3 ``VecEnv``).
"""
# ruff: noqa: I001  (imports grouped by topic, as __all__)

from gymnasium.envs import registration as _gym

from . import removed as _removed  # noqa: F401  (old import paths raise an ImportError naming the new one)

# environments: PettingZoo (parallel and AEC), the Gymnasium leader env, the followers-only env
from .env import MassStackelbergEnv, parallel_env
from .aec import env, raw_env
from .followers_env import followers_env
from .gym_env import PrincipalEnv
from .vector import PrincipalVectorEnv
from .followers_vector import FollowersVectorEnv

# the game: its configuration, the leader's action, the investor types
from .game import GameConfig
from .game.investors import InvestorType, build_types
from .game.mechanism import PrincipalAction

# roles and the episode loop
from .roles import PRINCIPAL, DecisionContext, Follower, Principal
from .rollout import follower_actions, rollout
from .scripted import scripted_followers

# markets
from .data.datasets import load_panel
from .data.panel import MarketPanel
from .data.synthetic import SyntheticConfig, synthetic_market

# errors
from .errors import ActionError, DataError, LookAheadError, MassError

__version__ = "0.3.0"

__all__ = [
    # environments
    "MassStackelbergEnv", "parallel_env", "env", "raw_env", "PrincipalEnv", "PrincipalVectorEnv",
    "followers_env", "FollowersVectorEnv",
    # the game
    "GameConfig", "PrincipalAction", "build_types", "InvestorType",
    # roles and the episode loop
    "PRINCIPAL", "Principal", "Follower", "DecisionContext", "rollout", "follower_actions", "scripted_followers",
    # markets
    "MarketPanel", "synthetic_market", "SyntheticConfig", "load_panel",
    # errors
    "MassError", "ActionError", "DataError", "LookAheadError",
]

if "mass_env/Principal-v0" not in _gym.registry:
    _gym.register(id="mass_env/Principal-v0", entry_point="mass_env.gym_env:PrincipalEnv",
                  vector_entry_point="mass_env.vector:PrincipalVectorEnv")
