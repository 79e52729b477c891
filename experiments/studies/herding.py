"""Does a payment rule make herding profitable *in the game*, with the leader responding?

A unilateral deviation measured by replaying the whole episode: one investor type reports
``(1 - b) * view + b * yesterday's published consensus`` (shading toward the consensus; b = 0 is the
truthful run), every other type reports its view, and the leader plays on as it does (the MASS optimiser
re-weights the types from the reports it sees, so a type's weight share, and hence its ``weighted_skill``
pay, can respond to its herding). The deviation gain of type k is its mean pay per paid day under the
deviation minus under truth, same seed, same market. The gain is a ``lower bound`` on what a best response
would earn (one point of the deviation family); the game records the herding type's views beside its
reports, so the run itself shows the misreport.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import principals
from mass_env import MassStackelbergEnv, rollout, scripted_followers
from mass_env.data.panel import MarketPanel
from mass_env.game import GameConfig
from mass_env.game.investors import InvestorType

Say = Callable[[str], None]


class Herding:
    """A follower that shades its agents' views toward yesterday's published consensus by ``b``.

    Yesterday's consensus is public at the close of yesterday (``game.records[-1]``), so this is point in
    time; on the first day (no consensus yet) and on stocks without one it reports the view.
    """

    def __init__(self, inner: Any, env: MassStackelbergEnv, b: float) -> None:
        self.inner, self.env, self.b = inner, env, float(b)
        self.last_views: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> None:
        self.inner.reset(seed)

    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> np.ndarray:
        view = np.asarray(self.inner.act(obs, info), dtype=np.float64)
        self.last_views = view
        recs = self.env.game.records
        if not recs:
            return view
        cons = np.asarray(recs[-1].consensus, dtype=np.float64)
        anchor = np.where(np.isfinite(cons), cons, np.nan)[None, :]
        out = (1.0 - self.b) * view + self.b * anchor
        return np.where(np.isfinite(anchor), out, view)


@dataclass(frozen=True)
class HerdingResult:
    """Per (principal, seed): the truthful pay per type and, per b, the deviating type's pay and misreport."""

    principal: str
    seed: int
    b: float
    gain: np.ndarray          # (K,) pay(herd by type k) - pay(truth) of type k
    truth_pay: np.ndarray     # (K,)
    principal_ic: float          # the leader's mean Rank IC payoff in the truthful run
    principal_ic_dev: np.ndarray  # (K,) the same with type k herding
    misreport: np.ndarray     # (K,) mean |report - view| of type k's agents in its deviation run


def _pay_per_day(env: MassStackelbergEnv, res: Any) -> tuple[np.ndarray, float]:
    n_paid = max(sum(1 for p in res.paid), 1)
    pay = np.array([res.returns[f"investor_{k}"] for k in range(env.game.K)]) / n_paid
    return pay, float(np.mean([p.payoff for p in res.paid])) if res.paid else float("nan")


def play(panel: MarketPanel, types: Sequence[InvestorType], config: GameConfig, principal: str, seed: int,
         herd: int | None = None, b: float = 0.0) -> tuple[np.ndarray, float, float]:
    """One episode; type ``herd`` (None: nobody) herds by ``b``. (pay per type, leader payoff, misreport)."""
    env = MassStackelbergEnv(panel, types, config)
    pols: dict[str, Any] = dict(scripted_followers(env, seed=seed))
    if herd is not None:
        pols[f"investor_{herd}"] = Herding(pols[f"investor_{herd}"], env, b)
    res = rollout(env, principals.make(principal), pols, seed=seed)
    pay, lead = _pay_per_day(env, res)
    mis = env.game.history()["misreport"].to_numpy()
    return pay, lead, float(np.mean(mis)) if mis.size else 0.0


def herding_gains(panel: MarketPanel, types: Sequence[InvestorType], config: GameConfig, principal: str, seed: int,
                  bs: Sequence[float], say: Say = lambda m: None) -> list[HerdingResult]:
    """Truthful run + one run per (type, b): each type's gain from herding alone (see the module docstring)."""
    truth, lead, _ = play(panel, types, config, principal, seed)
    out = []
    for b in bs:
        gain, lead_dev, mis = (np.empty(len(types)) for _ in range(3))
        for k in range(len(types)):  # one episode per deviating type: the leader responds to each
            pay, lead_dev[k], mis[k] = play(panel, types, config, principal, seed, k, b)
            gain[k] = pay[k] - truth[k]
        say(f"  herding {principal} seed {seed} b={b:g}: mean gain {gain.mean():+.4f}, "
            f"{int((gain > 0).sum())}/{len(types)} types gain")
        out.append(HerdingResult(principal, seed, float(b), gain, truth, lead, lead_dev, mis))
    return out
