"""PPO for parameter-shared followers: the settings and the model, in one place.

Why: followers that learn by being paid are trained the same way wherever they play (the information market's
``mass_env.sb3.make_market_vec_env``, the game's ``agents.rl``): one small SB3 PPO policy maps a per-stock row to
a report and is shared by every follower and every stock, with ``gamma = 0`` (each day's report is paid once,
so a day is a contextual bandit). Seeded: ``PPO(seed=...)`` seeds torch, and ``threads`` fixes torch's
thread count, so a run repeats exactly on one machine.

stable-baselines3 and torch are optional (the ``rl`` extra): ``require_sb3`` names it when they are missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: the message when the extra is missing
MISSING = ("PPO followers need stable-baselines3 and torch, the optional 'rl' extra: "
           "pip install 'mass-mechanism[rl]'  (or: pip install torch stable-baselines3)")


def require_sb3() -> Any:
    """The ``stable_baselines3`` module, or an ImportError naming the ``rl`` extra."""
    try:
        import stable_baselines3
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(MISSING) from exc
    return stable_baselines3


@dataclass(frozen=True)
class PPOSettings:
    """PPO's settings for the per-stock policy (small: a linear policy, a 16-unit value net)."""

    policy_layers: tuple[int, ...] = ()
    value_layers: tuple[int, ...] = (16,)
    n_steps: int = 4
    batch_size: int = 400
    n_epochs: int = 5
    learning_rate: float = 3e-3
    log_std_init: float = -1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (a stored row's key)."""
        return {"policy_layers": list(self.policy_layers), "value_layers": list(self.value_layers),
                "n_steps": self.n_steps, "batch_size": self.batch_size, "n_epochs": self.n_epochs,
                "learning_rate": self.learning_rate, "log_std_init": self.log_std_init, **dict(self.extra)}


def make_ppo(venv: Any, settings: PPOSettings | None = None, *, seed: int = 0, threads: int = 1,
             extra: Mapping[str, Any] | None = None) -> Any:
    """A PPO model on ``venv`` (one sample per (follower, stock)) with ``gamma = 0`` and a learning rate
    decaying linearly to 0; the mini-batches split each rollout equally (at most ``batch_size`` each)."""
    sb3 = require_sb3()
    import torch

    torch.set_num_threads(int(threads))
    ps = settings or PPOSettings()
    lr0 = ps.learning_rate
    rollout = ps.n_steps * venv.num_envs
    batch = rollout // -(-rollout // min(ps.batch_size, rollout))  # equal mini-batches of at most batch_size
    return sb3.PPO("MlpPolicy", venv, n_steps=ps.n_steps, batch_size=batch, n_epochs=ps.n_epochs, gamma=0.0,
                   gae_lambda=1.0, learning_rate=lambda left: lr0 * left, seed=seed, device="cpu", verbose=0,
                   policy_kwargs={"net_arch": {"pi": list(ps.policy_layers), "vf": list(ps.value_layers)},
                                  "log_std_init": ps.log_std_init}, **{**ps.extra, **dict(extra or {})})
