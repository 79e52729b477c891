"""Multi-agent training on the PettingZoo env: a follower type that *learns*, paid by the mechanism.

What it shows: ``mass_env.parallel_env`` is a real multi-agent environment, not only a leader's
simulator. Here the followers' rewards are the mechanism's payment rule,
``GameConfig(follower_reward="weighted_skill")``: on the day a decision's return realises, follower
type k is paid

    reward_k = RankIC(type k's mean signal, realised returns) x K x (weight the mechanism applied to k)

i.e. its own skill times its share of the aggregate relative to an equal share. A type gains by
being right *and* by being weighted, so the leader's weighting is the incentive the followers respond
to. The leader is a ``principals`` leader (CMA-ES by default, or equal weights); each episode is
``mass_env.rollout`` (the one game loop every experiment plays), whose ``on_step`` hook
pays the learners.

The learning follower (``BanditFollower``, numpy only): each day the type picks one of its visible
features and a sign ("arm": e.g. ``+bp`` = buy cheap, ``-ret_5d`` = short-term reversal) from a softmax
policy over preferences ``H``, and its agents submit ``tanh(+-zscore(feature) / 2)`` plus their own
noise on their own random subsets of the universe (like the scripted investors). Payoffs are
delayed (a decision of day s is paid ``h + 1`` steps later), so the follower remembers which arm it
played on which day and updates when that day is paid, with the gradient-bandit rule (Sutton & Barto
2018, sec. 2.8): ``H += lr * (reward - baseline) * (onehot(arm) - softmax(H))``, baseline = running
mean reward. Preferences persist across episodes (that is the training); the environment and the
other followers (scripted) are reset each episode with a new follower seed.

Run::

    python examples/multiagent_followers.py                 # 6 episodes, CMA-ES leader, learner = type 2
    python examples/multiagent_followers.py --principal equal --episodes 10 --learners 2,4

It prints, per episode, the learner's mean reward, the scripted types' mean reward, its most
preferred arm and that arm's probability, and the leader's mean payoff. On the embedded synthetic
market the valuation and reversal features carry the signal (``SyntheticConfig.strength``), so a
learner seeing OHLCV + valuations should come to prefer ``+ep``/``+bp``/``+sp`` or ``-ret_5d``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import mass_env
from mass_env import PRINCIPAL, GameConfig, SyntheticConfig, build_types, synthetic_market
from mass_env.game.investors import InvestorType


def _softmax(h: np.ndarray) -> np.ndarray:
    e = np.exp(h - h.max())
    return e / e.sum()


@dataclass
class BanditFollower:
    """A follower type that learns which feature (and sign) to follow from its delayed payments."""

    itype: InvestorType
    feature_names: tuple[str, ...]
    lr: float = 1.0
    noise: float = 0.5
    n_candidates: int = 20
    seed: int = 0
    arms: list[tuple[int, float]] = field(init=False)
    H: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.arms = [(j, s) for j in range(len(self.feature_names)) for s in (1.0, -1.0)]
        self.H = np.zeros(len(self.arms))
        self.baseline = 0.0
        self.updates = 0
        self._pending: dict[int, int] = {}
        self._rng = np.random.default_rng([self.seed, self.itype.type_id])

    # the follower API used by the env loop (same as the scripted investors)
    def reset(self, seed: int | None = None) -> None:
        """New episode: new randomness, forget unpaid days; keep what was learned (``H``)."""
        if seed is not None:
            self.seed = int(seed)
        self._rng = np.random.default_rng([self.seed, self.itype.type_id, 0xBA4D])
        self._pending.clear()

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> np.ndarray:
        day = int(info["day"])
        arm = int(self._rng.choice(len(self.arms), p=self.policy()))
        self._pending[day] = arm
        j, sign = self.arms[arm]
        universe = np.asarray(obs["universe"]) > 0.5
        f = np.asarray(obs["features"], dtype=np.float64)[:, j]
        mu, sd = f[universe].mean() if universe.any() else 0.0, f[universe].std() if universe.any() else 0.0
        z = sign * (f - mu) / sd if sd > 1e-12 else np.zeros_like(f)
        M, N = self.itype.n_agents, f.size
        raw = np.tanh(z[None, :] / 2.0 + self.noise * self._rng.standard_normal((M, N)))
        keys = self._rng.random((M, N))
        keys[:, ~universe] = np.inf
        k = min(self.n_candidates, int(universe.sum()))
        seen = np.zeros((M, N), dtype=bool)
        if k > 0:
            np.put_along_axis(seen, np.argpartition(keys, k - 1, axis=1)[:, :k], True, axis=1)
        return np.where(seen, np.clip(raw, -1.0, 1.0), np.nan).astype(np.float32)

    # learning
    def policy(self) -> np.ndarray:
        return _softmax(self.H)

    def learn(self, day: int, reward: float) -> None:
        """Credit the payment for decision day ``day`` to the arm played that day."""
        arm = self._pending.pop(int(day), None)
        if arm is None:
            return
        self.updates += 1
        grad = -self.policy()
        grad[arm] += 1.0
        self.H += self.lr * (reward - self.baseline) * grad
        self.baseline += (reward - self.baseline) / min(self.updates, 100)

    def best_arm(self) -> tuple[str, float]:
        p = self.policy()
        i = int(np.argmax(p))
        j, s = self.arms[i]
        return f"{'+' if s > 0 else '-'}{self.feature_names[j]}", float(p[i])


def _leader(name: str) -> Any:
    import principals

    return principals.make(name, **({"evals": 20} if name in ("cmaes", "cma") else {}))


@dataclass
class FollowerTraining:
    """What ``train_followers`` returns: per-episode summary, the learners, the per-step payment log
    (one row per paid decision day: episode, day, every agent's reward) and the env (last episode)."""

    summary: pd.DataFrame
    learners: dict[int, BanditFollower]
    log: pd.DataFrame
    env: Any


def train_followers(*, episodes: int = 6, principal: str = "cmaes", learners: Sequence[int] = (2,),
                    n_types: int = 8, agents_per_type: int = 8, n_days: int = 160, market_seed: int = 0,
                    seed: int = 0, lr: float = 1.0, say: Callable[[str], None] | None = None,
                    ) -> FollowerTraining:
    """Play ``episodes`` episodes of the game with learning followers ``learners``; see the module doc."""
    from mass_env import scripted_followers
    from mass_env.rollout import Transition, rollout

    say = say or (lambda msg: None)
    panel, _ = synthetic_market(SyntheticConfig(n_days=n_days), seed=market_seed)
    env = mass_env.parallel_env(panel=panel, types=build_types(n_types, agents_per_type),
                                config=GameConfig(follower_reward="weighted_skill"))
    policies: dict[str, Any] = dict(scripted_followers(env, seed=seed))
    bandits: dict[int, BanditFollower] = {}
    for k in learners:
        agent = f"investor_{k}"
        bandits[k] = BanditFollower(env.types[k], env.feature_names[agent], lr=lr, seed=seed)
        policies[agent] = bandits[k]
    rows, log = [], []
    for ep in range(episodes):
        t0 = time.perf_counter()

        def learn(tr: Transition, ep: int = ep) -> None:
            rewards = tr.rewards
            for p in tr.paid:  # one decision day realises per step; its payment is the reward
                for k, b in bandits.items():
                    b.learn(p.day, rewards[f"investor_{k}"])
                log.append({"episode": ep, "day": p.day, "principal_payoff": rewards[PRINCIPAL],
                            **{f"reward_{a}": rewards[a] for a in policies}})

        rollout(env, _leader(principal), policies, seed=seed + 1000 * ep, on_step=learn)
        ep_log = pd.DataFrame([r for r in log if r["episode"] == ep])
        scripted_cols = [f"reward_investor_{k}" for k in range(n_types) if k not in bandits]
        row: dict[str, Any] = {"episode": ep, "principal_payoff": float(ep_log["principal_payoff"].mean()),
                               "scripted_reward": float(ep_log[scripted_cols].to_numpy().mean()),
                               "wall_s": time.perf_counter() - t0}
        for k, b in bandits.items():
            arm, prob = b.best_arm()
            row[f"learner{k}_reward"] = float(ep_log[f"reward_investor_{k}"].mean())
            row[f"learner{k}_best_arm"] = arm
            row[f"learner{k}_best_prob"] = prob
        rows.append(row)
        say(f"episode {ep:>2}: " + ", ".join(
            f"learner {k} reward {row[f'learner{k}_reward']:+.4f} (prefers {row[f'learner{k}_best_arm']} "
            f"p={row[f'learner{k}_best_prob']:.2f})" for k in bandits)
            + f"; scripted types {row['scripted_reward']:+.4f}; leader payoff {row['principal_payoff']:+.4f} "
              f"({row['wall_s']:.1f}s)")
    return FollowerTraining(pd.DataFrame(rows), bandits, pd.DataFrame(log), env)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=6)
    p.add_argument("--principal", default="cmaes", help="leader: cmaes (default), equal, sa, ...")
    p.add_argument("--learners", default="2", help="comma list of learning follower types")
    p.add_argument("--types", type=int, default=8)
    p.add_argument("--agents", type=int, default=8)
    p.add_argument("--days", type=int, default=160)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    learners = tuple(int(x) for x in args.learners.split(",") if x.strip())
    t0 = time.perf_counter()
    res = train_followers(episodes=args.episodes, principal=args.principal, learners=learners,
                                          n_types=args.types, agents_per_type=args.agents, n_days=args.days,
                                          seed=args.seed, lr=args.lr, say=print)
    for k, b in res.learners.items():
        top = np.argsort(-b.policy())[:5]
        arms = ", ".join(f"{'+' if b.arms[i][1] > 0 else '-'}{b.feature_names[b.arms[i][0]]} {b.policy()[i]:.2f}"
                         for i in top)
        print(f"learner {k} ({b.itype.name}): top arms {arms}")
    print(f"done in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
