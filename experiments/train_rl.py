"""Train a reinforcement-learning leader on ``mass_env/Principal-v0`` (``mass train-rl``).

A leader that learns from playing the game needs an honest test: it trains on the first part of a
market and is judged on days it never saw, against equal weights on the same days and followers.

* **Env, no adapter.** ``stable_baselines3.common.env_util.make_vec_env("mass_env/Principal-v0",
  n_envs, seed, env_kwargs={panel, types, config, render_mode=None})``: the registered Gymnasium env
  with the scripted followers embedded; SB3's own ``Monitor`` and ``DummyVecEnv`` are the only layers.
  Sub-env i is seeded ``seed + i`` at its first reset, which also seeds its followers, so the
  ``n_envs`` environments see different follower draws; later resets draw new follower seeds from
  each env's ``np_random``. (``render_mode=None``: nobody watches training, so no frames are drawn;
  ``make_vec_env`` would ask for ``"rgb_array"``, which the env also supports.)
* **Held-out days.** The market is split in time: the policy trains on ``panel.slice_days(0, split)``
  (so returns after the split cannot even be computed during training) and is evaluated on the full
  panel from day ``split`` on (``reset(options={"start": split})``), against equal weights on the same
  days and follower seeds. ``--train-frac`` sets the split (default 0.6 of the days).
* **Progress and curve.** An SB3 callback prints each finished episode (return, mean reward per
  step, steps/s) and records the learning curve: ``curve.csv`` (one row per episode) and
  ``curve.png`` (episode reward vs timesteps, rolling mean, equal weights' reward on the training
  days for reference; only when matplotlib is installed).
* **Files** (``--out``, default ``results/rl``): ``policy.zip`` + ``policy.json`` (load with
  ``principals.rl.RLPrincipal(out / "policy")`` or ``--principal rl:OUT/policy``), ``curve.csv``,
  ``curve.png``, ``heldout.csv`` (policy vs equal weights per follower seed) and ``train.json``.

The default market is the synthetic one with a known ground truth in which learning is feasible:
only the valuation modality is informative (``experiments.sweep.markets.VALUE_ONLY``), so the best weights
favour the types that see valuations (types 2, 4, 6, 7 of the 8-type setting). ``--strength
default`` uses the embedded default market; ``--data`` a real market (as in every command). The results table that
puts the trained policy next to SA, CMA-ES and the gradient leader is ``experiments.rl_table``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import options
from experiments.stats.plots import plot_curve
from experiments.stats.report import HEADLINE
from experiments.sweep import checks
from experiments.sweep.checks import writable_dir
from experiments.sweep.fingerprint import versions
from experiments.sweep.markets import VALUE_ONLY, training_market
from experiments.sweep.workers import run_episode
from mass_env.data.panel import MarketPanel
from mass_env.data.synthetic import DEFAULT_STRENGTH
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.game.investors import build_types
from mass_env.roles import Principal
from principals.baselines import EqualWeights
from principals.rl import ALGORITHMS

ENV_ID = "mass_env/Principal-v0"
HELP = "train an RL leader (stable-baselines3 PPO) and judge it on held-out days against equal weights"
Say = Callable[[str], None]


@dataclass(frozen=True)
class TrainSpec:
    """What a training run depends on (written to ``train.json`` and the policy's metadata)."""

    algo: str = "ppo"
    timesteps: int = 30_000
    n_envs: int = 4
    seed: int = 0
    n_types: int = 8
    agents_per_type: int = 8
    horizon: int = 10
    turnover_penalty: float = 0.0
    obs_window: int = 20
    inertia_max: float = 1.0
    data: str | None = None
    n_days: int = 260
    market_seed: int = 0
    strength: Mapping[str, float] | None = field(default_factory=lambda: dict(VALUE_ONLY))
    train_frac: float = 0.6
    eval_seeds: tuple[int, ...] = (0, 1, 2)
    threads: int | None = 1
    algo_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.timesteps < 1 or self.n_envs < 1:
            raise ValueError("timesteps and n_envs must be >= 1")
        if not 0.0 < self.train_frac < 1.0:
            raise ValueError(f"train_frac must lie in (0, 1), got {self.train_frac}")

    def game_config(self) -> GameConfig:
        return GameConfig(horizon=self.horizon, turnover_penalty=self.turnover_penalty,
                          obs_window=self.obs_window, inertia_max=self.inertia_max)

    def hyperparameters(self) -> dict[str, Any]:
        """SB3 keyword arguments: small-budget defaults per algorithm, then ``algo_kwargs``."""
        base: dict[str, Any] = {}
        if self.algo.lower() == "ppo":
            base = {"n_steps": 128, "batch_size": 128, "n_epochs": 5, "learning_rate": 3e-4}
        elif self.algo.lower() == "a2c":
            base = {"n_steps": 16}
        elif self.algo.lower() in ("sac", "td3", "ddpg"):
            base = {"learning_starts": 500, "buffer_size": 100_000}
        return {**base, **dict(self.algo_kwargs)}


def split_day(panel: MarketPanel, spec: TrainSpec) -> int:
    """First held-out day: ``train_frac`` of the panel, leaving room for a warm-up and an episode."""
    cfg = spec.game_config()
    split = round(spec.train_frac * panel.n_days)
    lo, hi = cfg.warmup_days + cfg.horizon + 12, panel.n_days - cfg.horizon - 12
    if lo > hi:
        raise ValueError(f"panel of {panel.n_days} days is too short to split into training and held-out days")
    return int(min(max(split, lo), hi))


@dataclass
class TrainResult:
    """A trained policy, its learning curve, its held-out comparison, metadata and files."""

    policy: Path
    curve: pd.DataFrame
    heldout: pd.DataFrame
    meta: dict[str, Any]
    files: dict[str, str]

    def summary(self) -> str:
        h = self.heldout.pivot(index="seed", columns="principal", values="mean_payoff")
        pol, eq = h["rl"].mean(), h["equal"].mean()
        return (f"held-out days {self.meta['eval_days'][0]}..{self.meta['eval_days'][1]}: "
                f"policy {pol:+.4f} vs equal weights {eq:+.4f} mean payoff over follower seeds "
                f"{list(h.index)} (diff {pol - eq:+.4f}; "
                f"policy better on {(h['rl'] > h['equal']).sum()}/{len(h)} seeds)")


def make_training_env(panel: MarketPanel, spec: TrainSpec) -> Any:
    """The vectorised ``mass_env/Principal-v0`` SB3 trains on (stock ``make_vec_env``, no wrapper)."""
    from stable_baselines3.common.env_util import make_vec_env

    import mass_env  # noqa: F401  (registers the env id)

    return make_vec_env(ENV_ID, n_envs=spec.n_envs, seed=spec.seed, env_kwargs={
        "panel": panel, "types": build_types(spec.n_types, spec.agents_per_type),
        "config": spec.game_config(), "render_mode": None})


def _curve_callback(say: Say, every: int) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class LearningCurve(BaseCallback):
        """Records every finished episode (SB3 ``Monitor`` info) and prints progress."""

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict[str, float]] = []
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                ep = info.get("episode")
                if ep is None:
                    continue
                el = time.perf_counter() - self.t0
                row = {"episode": len(self.rows) + 1, "timesteps": int(self.num_timesteps),
                       "episode_reward": float(ep["r"]), "episode_length": int(ep["l"]),
                       "reward_per_step": float(ep["r"]) / max(int(ep["l"]), 1), "wall_s": el}
                self.rows.append(row)
                if row["episode"] % every == 0:
                    recent = np.mean([r["episode_reward"] for r in self.rows[-10:]])
                    say(f"  episode {row['episode']:>4}  step {self.num_timesteps:>7}  "
                        f"return {row['episode_reward']:+.3f}"
                        f"  (last 10: {recent:+.3f})  {self.num_timesteps / max(el, 1e-9):.0f} steps/s")
            return True

    return LearningCurve()


def equal_weights_return(panel: MarketPanel, spec: TrainSpec) -> float:
    """Mean episode return of equal weights on the training env (reference line of the curve)."""
    env = make_training_env(panel, spec)
    act = np.zeros((spec.n_envs, spec.n_types + 2), np.float32)  # the neutral action: equal weights, alpha 0.5
    env.reset()
    totals = np.zeros(spec.n_envs)
    done_eps: list[float] = []
    while len(done_eps) < spec.n_envs:
        _, r, dones, _ = env.step(act)
        totals += r
        for i in np.flatnonzero(dones):
            done_eps.append(totals[i])
            totals[i] = 0.0
    env.close()
    return float(np.mean(done_eps[: spec.n_envs]))


def evaluate_heldout(make_principal: Callable[[], Principal], panel: MarketPanel, spec: TrainSpec, start: int,
                     end: int | None = None, *, label: str = "rl") -> pd.DataFrame:
    """``label`` and equal weights on days ``start..end`` of ``panel``, one episode per eval seed."""
    from mass_env import scripted_followers

    rows = []
    for seed in spec.eval_seeds:
        for name, factory in ((label, make_principal), ("equal", EqualWeights)):
            env = MassStackelbergEnv(panel, build_types(spec.n_types, spec.agents_per_type), spec.game_config())
            res = run_episode(env, factory(), scripted_followers(env, seed=seed), seed=seed, eval_skip=0,
                              options={"start": start, "end": end})
            paid = res.history["payoff"].dropna()
            rows.append({"seed": seed, "principal": name, "mean_payoff": float(paid.mean()),
                         "paid_days": int(paid.size), HEADLINE: res.summary[HEADLINE],
                         "mean_turnover": res.summary["mean_turnover"]})
    return pd.DataFrame(rows)


def train(spec: TrainSpec, out: str | Path, *, panel: MarketPanel | None = None, plot: bool = True,
          say: Say | None = None, progress_every: int = 1, evaluate: bool = True) -> TrainResult:
    """Train, save the policy and its learning curve, and evaluate it on the held-out days."""
    import torch

    say = say or (lambda msg: None)
    if spec.threads:
        torch.set_num_threads(int(spec.threads))
    from principals.rl import RLPrincipal, algorithm_class, save_policy

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    full = panel if panel is not None else training_market(spec)
    split = split_day(full, spec)
    train_panel = full.slice_days(0, split)
    cfg = spec.game_config()
    say(f"training {spec.algo.upper()} for {spec.timesteps} steps on {full.name}: days {cfg.warmup_days}..{split - 2} "
        f"({full.dates[cfg.warmup_days].date()}..{full.dates[split - 2].date()}), {spec.n_types} types x "
        f"{spec.agents_per_type} agents, {spec.n_envs} envs; held out: days {split}..{full.n_days - 2}")
    venv = make_training_env(train_panel, spec)
    cls = algorithm_class(spec.algo)
    model = cls("MlpPolicy", venv, seed=spec.seed, verbose=0, device="cpu", **spec.hyperparameters())
    cb = _curve_callback(say, progress_every)
    model.learn(total_timesteps=spec.timesteps, callback=cb)
    venv.close()
    train_wall = time.perf_counter() - t0
    curve = pd.DataFrame(cb.rows, columns=["episode", "timesteps", "episode_reward", "episode_length",
                                           "reward_per_step", "wall_s"])
    meta: dict[str, Any] = {
        "algo": spec.algo.lower(), "n_types": spec.n_types, "agents_per_type": spec.agents_per_type,
        "obs_window": spec.obs_window, "inertia_max": spec.inertia_max, "horizon": spec.horizon,
        "turnover_penalty": spec.turnover_penalty, "market": full.name, "n_days": full.n_days,
        "train_days": [cfg.warmup_days, split - 2], "eval_days": [split, full.n_days - 2],
        "train_dates": [str(full.dates[cfg.warmup_days].date()), str(full.dates[split - 2].date())],
        "spec": {**asdict(spec), "strength": None if spec.strength is None else dict(spec.strength),
                 "algo_kwargs": dict(spec.algo_kwargs)},
        "hyperparameters": spec.hyperparameters(), "episodes": len(curve),
        "train_wall_s": train_wall, "versions": versions(),
    }
    policy = save_policy(model, out / "policy", meta)
    files = {"policy": str(policy), "policy_meta": str(policy.with_suffix(".json"))}
    curve.to_csv(out / "curve.csv", index=False)
    files["curve"] = str(out / "curve.csv")
    ref = float("nan")
    if plot:
        ref = equal_weights_return(train_panel, spec)
        png = plot_curve(curve, out / "curve.png", reference=ref,
                         title=f"{spec.algo.upper()} on {ENV_ID} ({spec.n_types} types)")
        if png is not None:
            files["plot"] = str(png)
        else:
            say("matplotlib is not installed: no plot (pip install 'mass-mechanism[plot]')")
    heldout = pd.DataFrame(columns=["seed", "principal", "mean_payoff"])
    if evaluate:
        heldout = evaluate_heldout(lambda: RLPrincipal(policy), full, spec, split)
        heldout.to_csv(out / "heldout.csv", index=False)
        files["heldout"] = str(out / "heldout.csv")
    meta.update({"equal_weights_training_return": ref, "wall_s": time.perf_counter() - t0, "files": files,
                 "heldout": heldout.to_dict(orient="records")})
    (out / "train.json").write_text(json.dumps(meta, indent=2, default=str))
    files["json"] = str(out / "train.json")
    return TrainResult(policy, curve, heldout, meta, files)


def _strength(text: str) -> dict[str, float] | None:
    if text.strip().lower() == "default":
        return None
    if text.strip().lower() in ("value-only", "value_only"):
        return dict(VALUE_ONLY)
    out = {m: 0.0 for m in DEFAULT_STRENGTH}
    try:
        for part in text.split(","):
            k, v = part.split("=")
            out[k.strip().lower()] = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--strength takes 'default', 'value-only' or e.g. value=1.2,ohlcv=0.5; got {text!r}") from None
    return out


#: The argparse type of ``--eval-seeds`` and ``rl-table --seeds``: the same as ``mass ablation --seeds``
#: (``"3"`` = seeds 0, 1, 2; ``"0,11,22"`` or ``"7,"`` = exactly those), ``experiments.sweep.checks.seeds``.
seed_list = checks.seeds


_POS, _NONNEG, _NONNEG_F = checks.positive_int, checks.nonnegative_int, checks.nonnegative_float


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text!r}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algo", default="ppo", type=str.lower, choices=ALGORITHMS,
                   help="stable-baselines3 algorithm: ppo (default), a2c, sac, td3")
    p.add_argument("--timesteps", type=_POS, default=30_000,
                   help="training steps, i.e. trading days played over all envs (default 30000)")
    p.add_argument("--n-envs", type=_POS, default=4, help="parallel environments (different follower seeds; default 4)")
    p.add_argument("--seed", type=_NONNEG, default=0,
                   help="training seed (policy init, env seeds seed..seed+n-1; default 0)")
    p.add_argument("--types", type=checks.bounded_int(1, checks.MAX_TYPES), default=8,
                   help="investor types (the policy is tied to this number; default 8)")
    p.add_argument("--agents", type=_POS, default=8, help="agents per type (default 8)")
    p.add_argument("--horizon", type=_POS, default=10, help="payoff horizon in trading days (default 10)")
    p.add_argument("--turnover-penalty", type=_NONNEG_F, default=0.0,
                   help="the game's stability penalty mu (default 0)")
    p.add_argument("--obs-window", type=_POS, default=20, help="paid days in the leader's observation, W (default 20)")
    options.add_data(p, absent="the value-only synthetic market, see --strength")
    p.add_argument("--days", type=checks.bounded_int(1, checks.MAX_DAYS), default=260,
                   help="days of the synthetic market (default 260)")
    p.add_argument("--market-seed", type=_NONNEG, default=0, help="seed of the synthetic market (default 0)")
    p.add_argument("--strength", type=_strength, default=dict(VALUE_ONLY),
                   help="synthetic signal strengths: value-only (default), default, or e.g. value=1.2,ohlcv=0.5")
    p.add_argument("--train-frac", type=_fraction, default=0.6,
                   help="fraction of days used for training; the rest is held out (default 0.6)")
    p.add_argument("--eval-seeds", type=seed_list, default=(0, 1, 2),
                   help="follower seeds of the held-out evaluation: a count N (0..N-1) or a comma list (default 3)")
    p.add_argument("--threads", type=_NONNEG, default=1, help="torch threads (0: torch's default; default 1)")
    options.add_out(p, "results/rl", "output folder")
    p.add_argument("--progress-every", type=_POS, default=1, help="print every k-th finished episode (default 1)")
    p.add_argument("--no-plot", action="store_true", help="do not write curve.png")
    options.add_quiet(p)


def run(args: argparse.Namespace) -> int:
    """Train, save, plot, evaluate on held-out days; print the comparison."""
    if args.data is not None:
        ignored = checks.changed_flags(args, args.parser, ["days", "market_seed", "strength"])
        if ignored:
            print(f"mass train-rl: warning: {', '.join(ignored)} describe the synthetic market; with --data they "
                  "are ignored", file=sys.stderr)
    writable_dir(args.out)
    spec = TrainSpec(algo=args.algo, timesteps=args.timesteps, n_envs=args.n_envs, seed=args.seed,
                     n_types=args.types, agents_per_type=args.agents, horizon=args.horizon,
                     turnover_penalty=args.turnover_penalty, obs_window=args.obs_window, data=args.data,
                     n_days=args.days, market_seed=args.market_seed, strength=args.strength,
                     train_frac=args.train_frac, eval_seeds=args.eval_seeds, threads=args.threads or None)
    say: Say = options.progress(args)
    panel = training_market(spec)  # a bad --data fails here, before torch loads
    split_day(panel, spec)
    res = train(spec, args.out, panel=panel, plot=not args.no_plot, say=say,
                progress_every=max(1, args.progress_every))
    print(f"trained {spec.algo.upper()} for {spec.timesteps} steps ({res.meta['episodes']} episodes, "
          f"{res.meta['train_wall_s']:.1f}s)")
    print(res.summary())
    print(f"policy: {res.policy} (use it with --principal rl:{res.policy.with_suffix('')}); files in {args.out}: "
          + ", ".join(Path(p).name for p in res.files.values()))
    return 0
