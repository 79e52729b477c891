"""Multi-agent RL with stock tools: SB3 PPO trains *all* follower types at once (parameter sharing).

``mass_env.followers_env`` is the game with the leader embedded (equal weights here, or any leader
from ``principals``) and one agent per investor type; ``follower_obs="box"`` gives every type the same
fixed-width observation (all modalities' features, 0 where the type cannot see, plus the mask of
what it sees), so SuperSuit's standard recipe turns it into an SB3 vector env and one PPO policy
plays every type, conditioning on the mask. Each type is paid by the mechanism
(``follower_reward="weighted_skill"``: its realised Rank IC x K x the weight the leader applied to
it), so the followers learn what the leader pays for.

    pip install supersuit            # or the project's `marl` extra
    python examples/ppo_followers.py                      # 4 types x 4 agents, 20k steps
    python examples/ppo_followers.py --timesteps 2000     # a smoke run

It prints the followers' mean reward per step before and after training (same days, same seeds).
PPO collects whole rollouts of ``n_steps`` per sub-env (one sub-env per type), so ``--timesteps`` is
met exactly by choosing ``n_steps`` (``rollout_sizes``): a total that is not a multiple of the number
of types is rounded up to the next one, and the script says so.
Per-type parameter sharing is the only SuperSuit-specific step; everything else is stock SB3.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import mass_env
from mass_env import GameConfig, SyntheticConfig, build_types, synthetic_market
from mass_env.followers_env import FollowersEnv


def make_env(n_types: int = 4, agents_per_type: int = 4, n_days: int = 120, n_symbols: int = 30,
             market_seed: int = 0, principal: Any = None) -> FollowersEnv:
    """The followers-only env on a small synthetic market, paid by the mechanism."""
    panel, _ = synthetic_market(SyntheticConfig(n_days=n_days, n_symbols=n_symbols, n_industries=5), seed=market_seed)
    return mass_env.followers_env(principal, panel=panel, types=build_types(n_types, agents_per_type),
                                  config=GameConfig(follower_reward="weighted_skill", horizon=5, obs_window=10))


def vector_env(env: FollowersEnv, copies: int = 1) -> Any:
    """SuperSuit's parameter-sharing recipe: every (copy, type) pair is one sub-env of an SB3 VecEnv."""
    import supersuit as ss

    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    return ss.concat_vec_envs_v1(venv, copies, num_cpus=0, base_class="stable_baselines3")


def mean_reward(model: Any, env: FollowersEnv, seed: int = 0) -> float:
    """Followers' mean reward per step over one episode, acting with ``model`` deterministically."""
    obs, _ = env.reset(seed=seed)
    total, n = 0.0, 0
    while env.agents:
        acts = {a: model.predict(obs[a], deterministic=True)[0] for a in env.agents}
        obs, rew, *_ = env.step(acts)
        total += float(np.mean(list(rew.values())))
        n += 1
    return total / max(n, 1)


def rollout_sizes(timesteps: int, n_envs: int, max_steps: int = 2048, max_batch: int = 64) -> dict[str, int]:
    """PPO's ``n_steps`` and ``batch_size`` that make ``learn(total_timesteps=timesteps)`` train exactly
    ``timesteps`` steps (rounded up to a multiple of ``n_envs``, or by a few more steps per env when
    ``timesteps / n_envs`` has no divisor near ``max_steps``). SB3 collects whole rollouts of
    ``n_steps * n_envs`` steps, so with the default ``n_steps=2048`` and 4 types, 2,000 steps would train
    8,192. ``n_steps``: the largest divisor of ``timesteps / n_envs`` up to ``max_steps``; ``batch_size``: the
    largest divisor of the rollout up to ``max_batch`` (no truncated mini-batch)."""
    per_env = max(1, -(-timesteps // n_envs))
    n_steps = max(d for d in range(1, min(per_env, max_steps) + 1) if per_env % d == 0)
    if per_env > max_steps and n_steps < max_steps // 8:  # too few divisors: a few steps more, not tiny rollouts
        rollouts = -(-per_env // max_steps)
        n_steps = -(-per_env // rollouts)
        per_env = n_steps * rollouts
    rollout = n_steps * n_envs
    batch = max((d for d in range(2, min(rollout, max_batch) + 1) if rollout % d == 0), default=rollout)
    if batch < max_batch // 4 < rollout:  # no divisor near max_batch: accept one truncated mini-batch
        batch = max_batch
    return {"n_steps": n_steps, "batch_size": batch, "total": per_env * n_envs}


def train(timesteps: int = 20_000, *, n_types: int = 4, agents_per_type: int = 4, n_days: int = 120,
          n_symbols: int = 30, seed: int = 0, ppo_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train one shared PPO policy for every follower type; returns the model and before/after rewards."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.utils import set_random_seed

    kw = {"n_types": n_types, "agents_per_type": agents_per_type, "n_days": n_days, "n_symbols": n_symbols}
    venv = vector_env(make_env(**kw))
    set_random_seed(seed)  # SuperSuit's vector env has no seed(): seed torch and numpy here, not via PPO(seed=)
    sizes = rollout_sizes(timesteps, venv.num_envs)
    if sizes["total"] != timesteps:
        print(f"note: PPO trains whole rollouts of {sizes['n_steps']} steps x {venv.num_envs} follower types: "
              f"training {sizes['total']} steps for the {timesteps} asked", file=sys.stderr)
    kwargs = {"n_steps": sizes["n_steps"], "batch_size": sizes["batch_size"], **(ppo_kwargs or {})}
    model = PPO("MlpPolicy", venv, device="cpu", verbose=0, **kwargs)
    judge = make_env(**kw)
    before = mean_reward(model, judge, seed)
    t0 = time.perf_counter()
    model.learn(total_timesteps=sizes["total"])
    wall = time.perf_counter() - t0
    after = mean_reward(model, judge, seed)
    venv.close()
    return {"model": model, "before": before, "after": after, "wall_s": wall, "timesteps": model.num_timesteps}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--timesteps", type=int, default=20_000,
                   help="training steps, summed over the follower types (trained exactly; default 20000)")
    p.add_argument("--types", type=int, default=4, help="investor types, one shared-policy agent each (default 4)")
    p.add_argument("--agents", type=int, default=4, help="agents per type (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of torch, numpy and the judged episode (default 0)")
    args = p.parse_args(argv)
    res = train(args.timesteps, n_types=args.types, agents_per_type=args.agents, seed=args.seed)
    print(f"PPO (shared by {args.types} follower types) trained {res['timesteps']} steps in {res['wall_s']:.0f}s: "
          f"mean reward per step {res['before']:+.4f} before, {res['after']:+.4f} after (same episode, seed "
          f"{args.seed}; reward = Rank IC x K x applied weight)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
