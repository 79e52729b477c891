"""A trained reinforcement-learning policy as a leader (``RLPrincipal``), and its save/load format.

The policy is a stock stable-baselines3 model (PPO by default) trained directly on the Gymnasium
view of the game, ``gymnasium.make("mass_env/Principal-v0", ...)``, with no wrapper: its action is
the leader's symmetric ``Box(-1, 1, (K+2,))`` (decoded by the game's ``ActionCodec``: zero is equal
weights, alpha 0.5, no inertia; policies trained before 0.2 on the ``Box(0, 1)`` "simplex" encoding are
recognised by their action space and decoded with it) and its observation is the leader's flat,
point-in-time ``Box(-1, 1)`` whose named pieces are declared once, in
``mass_env.observation.PrincipalObsLayout`` (``describe()`` prints them).

So the policy conditions on recent per-type skill, the previous action and consensus/disagreement
statistics, never on a same-day signal or an unrealised return. ``W = GameConfig.obs_window``.

Saved format: ``PATH.zip`` (SB3's own ``model.save``) plus ``PATH.json`` with what a principal needs
to act (algorithm, ``n_types``, ``obs_window``, ``inertia_max``) and how the policy was trained
(market, days, budget, seeds). A policy trained with a window ``W`` can act in a game whose
observation has a longer window ``W' >= W``: ``RLPrincipal`` keeps the most recent ``W`` rows of each
windowed piece (``PrincipalObsLayout.rewindow``); it needs the same number of types.

stable-baselines3 and torch are imported only when a policy is loaded (extra ``rl``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mass_env.game import Payoff
from mass_env.game.mechanism import ActionCodec, PrincipalAction
from mass_env.observation import PrincipalObsLayout
from mass_env.roles import DecisionContext

from .registry import check_options, register
from .softrank import torch_threads

ALGORITHMS = ("ppo", "a2c", "sac", "td3", "ddpg")


def require_sb3() -> Any:
    try:
        import stable_baselines3
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the RL principal needs stable-baselines3 and torch: "
                          "pip install 'torch==2.13.0' stable-baselines3  (or the 'rl' extra)") from exc
    return stable_baselines3


def algorithm_class(name: str) -> Any:
    """The stable-baselines3 class for ``name`` (ppo, a2c, sac, td3, ddpg)."""
    sb3 = require_sb3()
    key = name.lower()
    if key not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}")
    return getattr(sb3, key.upper())


def policy_paths(path: str | Path) -> tuple[Path, Path]:
    """``(model zip, metadata json)`` for ``path`` given with or without the ``.zip`` suffix."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix == ".zip" else p
    return stem.with_name(stem.name + ".zip"), stem.with_name(stem.name + ".json")


def save_policy(model: Any, path: str | Path, meta: Mapping[str, Any]) -> Path:
    """Save an SB3 model and its metadata; returns the zip path."""
    zpath, jpath = policy_paths(path)
    zpath.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(zpath))
    jpath.write_text(json.dumps(dict(meta), indent=2, default=str))
    return zpath


def obs_window_of(obs_size: int, n_types: int) -> int:
    """The window W of a leader observation of ``obs_size`` values for ``n_types`` types."""
    return PrincipalObsLayout.infer(obs_size, n_types).window


def rewindow_obs(obs: npt.ArrayLike, n_types: int, window_to: int) -> np.ndarray:
    """Keep the most recent ``window_to`` rows of each windowed piece of a leader observation."""
    o = np.asarray(obs, dtype=np.float32)
    return PrincipalObsLayout.infer(o.shape[-1], n_types).rewindow(o, window_to)


def action_encoding_of(space: Any) -> str:
    """``symmetric`` for a ``Box(-1, 1)`` action space, ``simplex`` for the old ``Box(0, 1)``."""
    low = float(np.min(space.low))
    if low == -1.0:
        return "symmetric"
    if low == 0.0:
        return "simplex"
    raise ValueError(f"a leader policy's action space must be Box(-1, 1) or Box(0, 1), got low={low}")


def load_policy(path: str | Path, *, algo: str | None = None, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """Load ``(model, metadata)``; metadata is inferred from the model's spaces when no JSON exists."""
    zpath, jpath = policy_paths(path)
    if not zpath.exists():
        raise FileNotFoundError(f"no policy at {zpath}")
    meta: dict[str, Any] = json.loads(jpath.read_text()) if jpath.exists() else {}
    cls = algorithm_class(algo or meta.get("algo", "ppo"))
    model = cls.load(str(zpath), device=device)
    K = int(model.action_space.shape[0]) - 2
    meta.setdefault("algo", (algo or "ppo").lower())
    meta.setdefault("n_types", K)
    meta.setdefault("obs_window", obs_window_of(int(model.observation_space.shape[0]), K))
    meta.setdefault("inertia_max", meta.pop("lambda_max", 1.0))  # policies saved before 0.2 say lambda_max
    meta["action_encoding"] = action_encoding_of(model.action_space)  # the model's space is the truth
    if int(meta["n_types"]) != K:
        raise ValueError(f"{jpath}: n_types {meta['n_types']} disagrees with the model's action space ({K} types)")
    return model, meta


class RLPrincipal:
    """A saved SB3 policy acting on the leader's observation ``ctx.obs`` (deterministic by default).

    Args:
        path: ``PATH`` or ``PATH.zip`` written by ``save_policy`` / ``experiments.train_rl``.
        deterministic: act with the policy's mean action (default) or sample (seeded by ``reset``).
        algo: override the algorithm recorded in the metadata.
        use_inertia: keep the policy's inertia choice (default); False commits inertia = 0.
        name: label of the principal.
        threads: torch threads while the policy acts (default 1, restored afterwards; None = leave
            torch's setting): one small MLP forward pass per day gains nothing from more.
    """

    def __init__(self, path: str | Path, *, deterministic: bool = True, algo: str | None = None,
                 use_inertia: bool = True, name: str = "rl", device: str = "cpu", threads: int | None = 1) -> None:
        self.name = name
        self.path = str(policy_paths(path)[0])
        self.model, self.meta = load_policy(path, algo=algo, device=device)
        self.deterministic = bool(deterministic)
        self.use_inertia = bool(use_inertia)
        self.threads = threads
        self.n_types = int(self.meta["n_types"])
        self.obs_window = int(self.meta["obs_window"])
        self.codec = ActionCodec(self.n_types, float(self.meta["inertia_max"]),
                                 encoding=str(self.meta["action_encoding"]))
        self.actions: list[np.ndarray] = []

    def reset(self, n_types: int, *, seed: int | None = None) -> None:
        if n_types != self.n_types:
            raise ValueError(f"{self.name}: the policy at {self.path} was trained for {self.n_types} types, "
                             f"the game has {n_types}; train one for {n_types} types (mass train-rl --types {n_types})")
        if seed is not None and not self.deterministic:
            self.model.set_random_seed(int(seed))
        self.actions = []

    def act(self, ctx: DecisionContext) -> PrincipalAction:
        if ctx.n_types != self.n_types:
            raise ValueError(f"{self.name}: context has {ctx.n_types} types, the policy {self.n_types}")
        obs = rewindow_obs(ctx.obs, self.n_types, self.obs_window)
        with torch_threads(self.threads):
            a, _ = self.model.predict(obs, deterministic=self.deterministic)
        a = np.asarray(a, dtype=np.float64).reshape(-1)
        self.actions.append(a.copy())
        act = self.codec.decode(a)
        return act if self.use_inertia else PrincipalAction(act.weights, act.alpha, 0.0)

    def observe(self, paid: Sequence[Payoff]) -> None:
        pass  # a frozen policy; what it needs is in the next observation

    def options(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "deterministic": self.deterministic,
                "use_inertia": self.use_inertia, **{k: v for k, v in self.meta.items() if k != "curve"}}


def make_rl(path: str | None = None, **options: Any) -> RLPrincipal:
    """Factory for ``principals.make("rl", path=PATH, ...)`` (CLI: ``--principal rl:PATH``)."""
    if not path:
        raise ValueError("principal 'rl' needs path=PATH of a saved policy (train one with `mass train-rl`)")
    check_options("rl", options, ("deterministic", "algo", "use_inertia", "name", "device", "threads"))
    return RLPrincipal(path, **options)


register("rl", make_rl, label="RL policy")
