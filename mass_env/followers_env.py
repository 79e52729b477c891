"""The PettingZoo environment of the followers alone, a leader embedded (``mass_followers_v0``); the
class docstring is its doc page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pettingzoo import ParallelEnv

from .env import MassStackelbergEnv
from .errors import MassError
from .roles import PRINCIPAL, DecisionContext, Principal
from .rollout import paid_of
from .scripted import FixedCommitment


class FollowersEnv(ParallelEnv):
    """The followers alone as a PettingZoo ``ParallelEnv``, a leader embedded (``mass_followers_v0``).

    The mirror of ``mass_env/Principal-v0``: there the followers are part of the environment and an RL
    library trains the leader; here a ``Principal`` (equal weights by default, or any leader from
    ``principals``) is part of the environment and an RL library trains the followers, paid by the
    mechanism (``GameConfig(follower_reward="weighted_skill")``: a type's Rank IC x K x its weight share).

    ====================  =========================================================================
    Import                ``from mass_env import followers_env`` (the class: ``mass_env.followers_env.FollowersEnv``)
    Agents                ``investor_0`` ... ``investor_{K-1}`` (the leader ``principal_0`` is embedded)
    Action space          ``SignalBox``: ``Box(-1, 1, (n_agents, N))``, NaN = did not look
    Observation space     one flat ``Box(-5, 5)``, the same for every type (``FollowerObsLayout``: features,
                          mask, universe, the type's view, commitment)
    Reward                ``follower_reward``: the type's realised Rank IC (``"skill"``) or that x K x
                          its weight share (``"weighted_skill"``)
    Termination           never; truncated after the episode's last day
    State                 ``state()``: the game's global state (``MassStackelbergEnv.state``)
    ====================  =========================================================================

    With ``follower_obs="box"`` (the default here) every agent has the same observation space
    (features of every modality, 0 where the type does not see them, a mask of the columns it sees,
    the universe and the applied commitment) and, when all types have the same number of agents, the
    same action space, so SuperSuit's parameter-sharing recipe works as is::

        import supersuit as ss
        env = mass_env.followers_env(config=GameConfig(follower_reward="weighted_skill"))
        venv = ss.pettingzoo_env_to_vec_env_v1(env)
        venv = ss.concat_vec_envs_v1(venv, 2, base_class="stable_baselines3")
        PPO("MlpPolicy", venv).learn(10_000)

    Each step the embedded leader commits from a ``DecisionContext`` built at today's close and
    observes the payoffs that realised (the same order as ``mass_env.rollout``); acting for
    ``principal_0`` is an error. Episodes, reset options and infos are ``MassStackelbergEnv``'s.

    Arguments:
        principal: the embedded leader (default: equal weights, alpha 0.5, ``FixedCommitment``).
        follower_obs: ``"box"`` (default) or ``"dict"``.
        **env_kwargs: ``MassStackelbergEnv``'s arguments (``panel``, ``types``, ``config``, ...).

    Version history:
        * 0.3: the embedded leader's keyword is ``principal=`` (was ``leader=``).
        * before 0.3: as ``MassStackelbergEnv``'s history.
    """

    metadata = {"name": "mass_followers_v0", "render_modes": list(MassStackelbergEnv.RENDER_MODES), "render_fps": 4,
                "is_parallelizable": True}

    def __init__(self, principal: Principal | None = None, *, follower_obs: str = "box", **env_kwargs: Any) -> None:
        self.game_env = MassStackelbergEnv(follower_obs=follower_obs, **env_kwargs)
        self.principal: Principal = principal if principal is not None else FixedCommitment(name="equal")
        self.render_mode = self.game_env.render_mode
        self.possible_agents = [a for a in self.game_env.possible_agents if a != PRINCIPAL]
        self.agents: list[str] = []
        self.state_space = self.game_env.state_space
        self._lead_obs: Any = None
        self._lead_info: Mapping[str, Any] = {}

    def observation_space(self, agent: str) -> Any:
        return self.game_env.observation_space(agent)

    def action_space(self, agent: str) -> Any:
        return self.game_env.action_space(agent)

    @property
    def game(self):
        return self.game_env.game

    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None):
        obs, infos = self.game_env.reset(seed=seed, options=options)
        self.principal.reset(self.game_env.game.K, seed=seed)
        self.agents = list(self.possible_agents)
        return self._split(obs, infos)

    def step(self, actions: Mapping[str, Any]):
        if self._lead_obs is None:
            raise MassError("step() called before reset(): call env.reset(seed=...) first")
        if PRINCIPAL in actions:
            raise MassError(f"{PRINCIPAL} is embedded in this env (the leader {self.principal!r}); "
                            "act for the followers")
        ctx = DecisionContext.from_game(self.game_env.game, self._lead_obs, self._lead_info)
        obs, rewards, terms, truncs, infos = self.game_env.step({**actions, PRINCIPAL: self.principal.act(ctx)})
        self.principal.observe(paid_of(infos))
        o, i = self._split(obs, infos)
        self.agents = [a for a in self.game_env.agents if a != PRINCIPAL]
        drop = lambda d: {a: v for a, v in d.items() if a != PRINCIPAL}
        return o, drop(rewards), drop(terms), drop(truncs), i

    def state(self) -> Any:
        return self.game_env.state()

    def render(self) -> Any:
        return self.game_env.render()

    def close(self) -> None:
        self.game_env.close()

    def _split(self, obs: Mapping[str, Any], infos: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        self._lead_obs, self._lead_info = obs[PRINCIPAL], infos[PRINCIPAL]
        return ({a: v for a, v in obs.items() if a != PRINCIPAL}, {a: v for a, v in infos.items() if a != PRINCIPAL})


def followers_env(principal: Principal | None = None, **kwargs: Any) -> FollowersEnv:
    """The followers-only ParallelEnv (keyword arguments as ``MassStackelbergEnv``; see the module doc)."""
    return FollowersEnv(principal, **kwargs)
