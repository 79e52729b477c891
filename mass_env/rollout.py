"""The one episode loop of the game: every runner, env wrapper, harness, benchmark and example
plays through ``rollout`` (whole episodes) or ``follower_actions`` (one step of the followers).

Each step: the followers act on their observations; the leader commits for tomorrow from a
``DecisionContext`` built at today's close; the env steps; the payoffs that realised this step
reach the leader through ``observe`` (taken from the step's ``infos``, never from env internals);
then the optional hook sees the whole transition (the place for followers that learn online).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .follower_chunks import SignalsAhead
from .game.infos import payoffs_from_info
from .game.stackelberg import Payoff
from .roles import PRINCIPAL, DecisionContext, Follower, Principal

if TYPE_CHECKING:  # pragma: no cover
    from .env import MassStackelbergEnv

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Transition:
    """One step as the env returned it, with the actions that produced it and what it paid."""

    day: int
    actions: dict[str, Any]
    obs: dict[str, Any]
    rewards: dict[str, float]
    terminations: dict[str, bool]
    truncations: dict[str, bool]
    infos: dict[str, Any]
    paid: tuple[Payoff, ...]


StepHook = Callable[[Transition], None]


@dataclass
class Rollout:
    """What an episode produced: steps played, every realised payoff, summed rewards per agent and
    (with ``record=True``) every transition. The per-day record is ``env.game.history()``."""

    steps: int = 0
    paid: list[Payoff] = field(default_factory=list)
    returns: dict[str, float] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)


def follower_actions(followers: Mapping[str, Follower], obs: Mapping[str, Any], infos: Mapping[str, Any],
                     agents: Any = None) -> dict[str, Any]:
    """Every follower's action for the current observations (the only follower loop there is).

    ``agents``: the live agent names (default: every follower in ``followers``); the leader is skipped.
    A followers mapping with ``act_many(obs, infos, names)`` answers them all in one call (LLM
    followers send the day's requests of every type together, so a server sees them concurrently).
    """
    names = followers.keys() if agents is None else [a for a in agents if a != PRINCIPAL]
    missing = [a for a in names if a not in followers]
    if missing:
        raise ValueError(f"no follower policy for {missing}")
    act_many = getattr(followers, "act_many", None)
    if callable(act_many):
        return dict(act_many(obs, infos, list(names)))
    return {a: followers[a].act(obs[a], infos[a]) for a in names}


def follower_views(followers: Mapping[str, Any], actions: Mapping[str, Any]) -> dict[str, Any]:
    """The views of the followers that report something other than what they believe: those exposing
    ``last_views`` (set by their latest ``act``; None = reported the view). The env records them beside
    the reports (``MassStackelbergEnv.set_views``)."""
    out = {}
    for a in actions:
        v = getattr(followers.get(a), "last_views", None)
        if v is not None:
            out[a] = v
    return out


def reset_followers(followers: Mapping[str, Any], seed: int | None) -> None:
    """Start an episode for every follower that has a ``reset`` (the same seed for all)."""
    for pol in followers.values():
        reset = getattr(pol, "reset", None)
        if callable(reset):
            reset(seed)


def paid_of(infos: Mapping[str, Any]) -> tuple[Payoff, ...]:
    """The payoffs realised at this step, rebuilt from the leader's numeric info (``n_paid``, ``paid_*``)."""
    return payoffs_from_info(infos[PRINCIPAL]) if PRINCIPAL in infos else ()


def rollout(env: MassStackelbergEnv, principal: Principal, followers: Mapping[str, Follower], *,
            seed: int | None = 0, options: Mapping[str, Any] | None = None,
            on_step: StepHook | None = None, progress: Progress | None = None, label: str = "episode",
            record: bool = False, keep_follower_state: bool = False) -> Rollout:
    """Play one whole episode of ``env`` with ``principal`` and ``followers`` (see the module docstring).

    ``seed`` seeds the env, the principal's ``reset`` and every follower's ``reset`` (unless
    ``keep_follower_state``: followers then play on as they are); ``options`` go to ``env.reset``
    (``start``, ``end``, ``initial_action``). ``progress(done, total, label)`` is called after every step.
    """
    obs, infos = env.reset(seed=seed, options=dict(options or {}))
    game = env.game
    principal.reset(game.K, seed=seed)
    if not keep_follower_state:
        reset_followers(followers, seed)
    out = Rollout()
    total = game.n_steps
    ahead = SignalsAhead(env)  # plain scripted followers: drawn a block of days at once, the same draws
    while env.agents:
        day = game.t
        ctx = DecisionContext.from_game(game, obs[PRINCIPAL], infos.get(PRINCIPAL))
        actions = ahead.actions(followers)
        if actions is None:
            actions = follower_actions(followers, obs, infos, env.agents)
            views = follower_views(followers, actions)
            if views and hasattr(env, "set_views"):
                env.set_views(views)
        actions[PRINCIPAL] = principal.act(ctx)
        obs, rewards, terms, truncs, infos = env.step(actions)
        paid = paid_of(infos)
        principal.observe(paid)
        out.steps += 1
        out.paid.extend(paid)
        for a, r in rewards.items():
            out.returns[a] = out.returns.get(a, 0.0) + float(r)
        if on_step is not None or record:
            tr = Transition(day, actions, obs, rewards, terms, truncs, infos, paid)
            if record:
                out.transitions.append(tr)
            if on_step is not None:
                on_step(tr)
        if progress is not None:
            progress(out.steps, total, label)
    return out
