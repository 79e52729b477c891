"""Train a reinforcement-learning leader on ``mass_env/Principal-v0`` (``mass train-rl``), and the
results table that puts it and the gradient principal next to SA and CMA-ES (``rl-table``).

Training (``train`` / ``main``):

* **Env, no adapter.** ``stable_baselines3.common.env_util.make_vec_env("mass_env/Principal-v0",
  n_envs, seed, env_kwargs={panel, types, config, render_mode=None})``: the registered Gymnasium env
  with the scripted followers embedded; SB3's own ``Monitor`` and ``DummyVecEnv`` are the only layers.
  Sub-env i is seeded ``seed + i`` at its first reset, which also seeds its followers, so the
  ``n_envs`` environments see different follower draws. (``render_mode=None`` is passed because
  ``make_vec_env`` asks for ``"rgb_array"`` by default, which the env does not render.)
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
only the valuation modality is informative (``SyntheticConfig.strength = {value: 1.2, others: 0}``),
so the best weights favour the types that see valuations (types 2, 4, 6, 7 of the 8-type setting).
``--strength default`` uses the embedded default market; ``--data PATH`` a real panel.

The results table (``results_table`` / ``table_main``) runs SA (config A's settings), CMA-ES (config
D's), the gradient principal, the RL policy and equal weights at 8 types (8 x 8 agents) and 32 types
(32 x 16) through ``experiments.ablation.run_ablation`` (mean +- std over seeds), on the embedded
synthetic market and, when the shared data folder exists, on the SSE50 window. The RL policies it uses
are trained on *other* data (never the evaluation days): on the synthetic market, another draw of
the same generator (market seed 1, same ground truth); for SSE50, the point-in-time SSE50 members from
2021-01 to 2022-11, i.e. strictly before the window.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig
from mass_env.game.investors import build_types
from mass_env.data.panel import MarketPanel
from mass_env.data.synthetic import DEFAULT_STRENGTH, SyntheticConfig, synthetic_market
from principals.base import EqualWeights, Principal

from .runner import run_episode

#: The default training market: only valuations carry signal (learnable, known best weights).
VALUE_ONLY = {"ohlcv": 0.0, "industry": 0.0, "value": 1.2, "macro": 0.0}
ENV_ID = "mass_env/Principal-v0"
Say = Callable[[str], None]


# ---------------------------------------------------------------------------------------------- spec
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


def market(spec: TrainSpec) -> MarketPanel:
    """The full panel of a run: the synthetic market of ``spec`` or the panel at ``spec.data``."""
    if spec.data:
        from mass_env.data.loaders import load_panel

        return load_panel(spec.data)
    strength = dict(DEFAULT_STRENGTH if spec.strength is None else spec.strength)
    return synthetic_market(SyntheticConfig(n_days=spec.n_days, strength=strength), seed=spec.market_seed)[0]


def split_day(panel: MarketPanel, spec: TrainSpec) -> int:
    """First held-out day: ``train_frac`` of the panel, leaving room for a warm-up and an episode."""
    cfg = spec.game_config()
    split = int(round(spec.train_frac * panel.n_days))
    lo, hi = cfg.warmup_days + cfg.horizon + 12, panel.n_days - cfg.horizon - 12
    if lo > hi:
        raise ValueError(f"panel of {panel.n_days} days is too short to split into training and held-out days")
    return int(min(max(split, lo), hi))


def sse50_pretraining_panel(data_root: str | Path, start: str = "2021-01-01", end: str = "2022-11-30") -> MarketPanel:
    """SSE50 stocks before the paper's window (2021-01..2022-11 by default), point-in-time members.

    Built from the shared folder's ``derived/sse50_evermembers_daily_2020_2025.parquet`` with the
    daily SSE50 membership of ``derived/sse50_membership_daily_2018_2023_from_MASS.csv``, MASS industry
    boards and returns, and the MASS macro series (aligned by release date), as ``load_sse50_window``.
    A leader's observation is type-level, so a policy trained here acts on the window's 58 stocks.
    """
    from mass_env.data.loaders import (from_long_frame, mass_industry_map, mass_industry_returns, mass_macro,
                                  normalise_columns)

    root = Path(data_root)
    df = pd.read_parquet(root / "derived/sse50_evermembers_daily_2020_2025.parquet")
    d = pd.to_datetime(df["date"])
    df = normalise_columns(df[(d >= pd.Timestamp(start)) & (d <= pd.Timestamp(end))].reset_index(drop=True),
                           "baostock")
    mem = pd.read_csv(root / "derived/sse50_membership_daily_2018_2023_from_MASS.csv", dtype={"symbol": str})
    keys = set(zip(pd.to_datetime(mem["date"]), mem["symbol"].str.zfill(6)))
    df["member"] = [(t, s) in keys for t, s in zip(pd.to_datetime(df["date"]), df["symbol"].astype(str))]
    return from_long_frame(df, name=f"sse50 members {start[:7]}..{end[:7]} (pre-window, point-in-time)",
                           industry_map=mass_industry_map(root), industry_returns=mass_industry_returns(root),
                           macro=mass_macro(root), member_column="member")


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("mass-mechanism", "numpy", "torch", "stable-baselines3", "gymnasium"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ---------------------------------------------------------------------------------------------- training
@dataclass
class TrainResult:
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
                f"{list(h.index)} (diff {pol - eq:+.4f}; policy better on {(h['rl'] > h['equal']).sum()}/{len(h)} seeds)")


def make_training_env(panel: MarketPanel, spec: TrainSpec) -> Any:
    """The vectorised ``mass_env/Principal-v0`` SB3 trains on (stock ``make_vec_env``, no wrapper)."""
    import mass_env  # noqa: F401  (registers the env id)
    from stable_baselines3.common.env_util import make_vec_env

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
                    say(f"  episode {row['episode']:>4}  step {self.num_timesteps:>7}  return {row['episode_reward']:+.3f}"
                        f"  (last 10: {recent:+.3f})  {self.num_timesteps / max(el, 1e-9):.0f} steps/s")
            return True

    return LearningCurve()


def equal_weights_return(panel: MarketPanel, spec: TrainSpec) -> float:
    """Mean episode return of equal weights on the training env (reference line of the curve)."""
    env = make_training_env(panel, spec)
    K = spec.n_types
    act = np.tile(np.r_[np.ones(K), 0.5, 0.0].astype(np.float32), (spec.n_envs, 1))
    env.reset()
    totals, done_eps = np.zeros(spec.n_envs), []
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
    from agents.scripted import scripted_followers

    rows = []
    for seed in spec.eval_seeds:
        for name, factory in ((label, make_principal), ("equal", EqualWeights)):
            env = MassStackelbergEnv(panel, build_types(spec.n_types, spec.agents_per_type), spec.game_config())
            res = run_episode(env, factory(), scripted_followers(env, seed=seed), seed=seed, eval_skip=0,
                              options={"start": start, "end": end})
            paid = res.history["payoff"].dropna()
            rows.append({"seed": seed, "principal": name, "mean_payoff": float(paid.mean()),
                         "paid_days": int(paid.size), "ric_signal_10d": res.summary["ric_signal_10d"],
                         "mean_turnover": res.summary["mean_turnover"]})
    return pd.DataFrame(rows)


def plot_curve(curve: pd.DataFrame, path: Path, *, reference: float | None = None, title: str = "") -> Path | None:
    """Episode reward vs timesteps (+ rolling mean); None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(7, 4), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(curve):
        ax.plot(curve["timesteps"], curve["episode_reward"], ".", alpha=0.35, label="episode return")
        roll = curve["episode_reward"].rolling(max(1, min(10, len(curve))), min_periods=1).mean()
        ax.plot(curve["timesteps"], roll, "-", lw=2, label="rolling mean (10 episodes)")
    if reference is not None and np.isfinite(reference):
        ax.axhline(reference, color="k", ls="--", lw=1, label="equal weights (training days)")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("episode return (sum of paid Rank IC payoffs)")
    ax.set_title(title or "learning curve")
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path, dpi=110)
    return path


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
    full = panel if panel is not None else market(spec)
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
        "hyperparameters": spec.hyperparameters(), "episodes": int(len(curve)),
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


# ---------------------------------------------------------------------------------------------- CLI
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
        raise argparse.ArgumentTypeError(f"--strength takes 'default', 'value-only' or e.g. value=1.2,ohlcv=0.5; got {text!r}")
    return out


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mass train-rl", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default="ppo", help="stable-baselines3 algorithm: ppo (default), a2c, sac, td3")
    p.add_argument("--timesteps", type=int, default=30_000, help="training steps (trading days played)")
    p.add_argument("--n-envs", type=int, default=4, help="parallel environments (different follower seeds)")
    p.add_argument("--seed", type=int, default=0, help="training seed (policy init, env seeds seed..seed+n-1)")
    p.add_argument("--types", type=int, default=8, help="investor types (the policy is tied to this number)")
    p.add_argument("--agents", type=int, default=8, help="agents per type")
    p.add_argument("--horizon", type=int, default=10, help="payoff horizon in trading days")
    p.add_argument("--turnover-penalty", type=float, default=0.0, help="the game's stability penalty mu")
    p.add_argument("--obs-window", type=int, default=20, help="paid days in the leader's observation (W)")
    p.add_argument("--data", default=None, help="shared-data root or a CSV/parquet long table (default: synthetic)")
    p.add_argument("--days", type=int, default=260, help="days of the synthetic market")
    p.add_argument("--market-seed", type=int, default=0, help="seed of the synthetic market")
    p.add_argument("--strength", type=_strength, default=dict(VALUE_ONLY),
                   help="synthetic signal strengths: value-only (default), default, or e.g. value=1.2,ohlcv=0.5")
    p.add_argument("--train-frac", type=float, default=0.6, help="fraction of days used for training; the rest is held out")
    p.add_argument("--eval-seeds", type=_seeds, default=(0, 1, 2), help="follower seeds of the held-out evaluation")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--out", default="results/rl", help="output directory")
    p.add_argument("--progress-every", type=int, default=1, help="print every k-th finished episode")
    p.add_argument("--no-plot", action="store_true", help="do not write curve.png")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``mass train-rl``: train, save, plot, evaluate on held-out days; prints the comparison."""
    args = build_parser().parse_args(argv)
    spec = TrainSpec(algo=args.algo, timesteps=args.timesteps, n_envs=args.n_envs, seed=args.seed,
                     n_types=args.types, agents_per_type=args.agents, horizon=args.horizon,
                     turnover_penalty=args.turnover_penalty, obs_window=args.obs_window, data=args.data,
                     n_days=args.days, market_seed=args.market_seed, strength=args.strength,
                     train_frac=args.train_frac, eval_seeds=args.eval_seeds, threads=args.threads or None)
    say: Say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    res = train(spec, args.out, plot=not args.no_plot, say=say, progress_every=max(1, args.progress_every))
    print(f"trained {spec.algo.upper()} for {spec.timesteps} steps ({res.meta['episodes']} episodes, "
          f"{res.meta['train_wall_s']:.1f}s)")
    print(res.summary())
    print(f"policy: {res.policy} (use it with --principal rl:{res.policy.with_suffix('')}); files in {args.out}: "
          + ", ".join(Path(p).name for p in res.files.values()))
    return 0


# ---------------------------------------------------------------------------------------------- table
def _register() -> None:
    """Make ``gradient`` and ``rl`` known to ``principals.make`` (no-op when already registered)."""
    import principals
    from principals.gradient import make_gradient
    from principals.rl import make_rl

    have = set(principals.available())
    if "gradient" not in have:
        principals.register("gradient", make_gradient)
    if "rl" not in have:
        principals.register("rl", make_rl)


def _value(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False}.get(text.lower(), text)


def parse_principal(text: str) -> tuple[str, dict[str, Any]]:
    """A ``--principal`` argument: ``gradient``, ``rl:PATH``, or ``NAME:key=value,key=value``.

    ``rl:results/rl/policy`` -> ``("rl", {"path": "results/rl/policy"})``;
    ``gradient:lookback=5,steps=20`` -> ``("gradient", {"lookback": 5, "steps": 20})``.
    """
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    if not name:
        raise ValueError(f"empty principal in {text!r}")
    if name == "rl":
        import re

        m = re.match(r"^(.*?)(?:,(\w+=.*))?$", rest)  # the path, then optional ,key=value pairs
        path, opts = (m.group(1), m.group(2) or "") if m else (rest, "")
        if not path:
            raise ValueError("--principal rl needs a policy path: rl:PATH (train one with `mass train-rl`)")
        options: dict[str, Any] = {"path": path}
        rest = opts
    else:
        options = {}
    for part in (x for x in rest.split(",") if x.strip()):
        if "=" not in part:
            raise ValueError(f"principal options are key=value pairs, got {part!r} in {text!r}")
        k, v = part.split("=", 1)
        options[k.strip()] = _value(v.strip())
    return name, options


def policy_types(path: str | Path) -> int | None:
    """Number of types a saved policy was trained for (from its JSON; None when unknown)."""
    from principals.rl import policy_paths

    jpath = policy_paths(path)[1]
    if not jpath.exists():
        return None
    return int(json.loads(jpath.read_text()).get("n_types", 0)) or None


def principal_configs(texts: Sequence[str], populations: Sequence[tuple[int, int]]) -> list[Any]:
    """``AblationConfig`` rows for ``--principal`` arguments at each population (for ``mass ablation``).

    An RL policy is tied to its number of types, so ``rl:PATH`` adds rows only at the populations with
    that many types (an error if there is none). Registers ``gradient`` and ``rl`` in ``principals``.
    """
    from .configs import AblationConfig, population_suffix

    _register()
    out = []
    for text in texts:
        name, options = parse_principal(text)
        pops = list(populations)
        if name == "rl":
            k = policy_types(options["path"])
            pops = [p for p in pops if k is None or p[0] == k]
            if not pops:
                raise ValueError(f"the policy {options['path']} is for {k} types; no selected population has {k}")
        base = name.upper() if name != "gradient" else "GRAD"
        tag = "" if name == "rl" or not [o for o in options if o != "path"] else "-" + "-".join(
            f"{k}{v}" for k, v in options.items() if k != "path")
        for pop in pops:
            out.append(AblationConfig(base + tag + population_suffix(pop), name, options, pop[0], pop[1],
                                      float(options.get("turnover_penalty", 0.0)), "-", "-", name, label=text))
    return out


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def table_configs(pop: tuple[int, int], rl_policy: Path | None, *, gradient_options: Mapping[str, Any] | None = None
                  ) -> list[Any]:
    """SA (config A), CMA-ES (config D), gradient (20- and 5-day windows), RL and equal weights at ``pop``."""
    from .configs import CONFIGS, AblationConfig, baseline_for, population_suffix

    sfx = population_suffix(pop)
    out = [replace(CONFIGS["A"], name="SA" + sfx, n_types=pop[0], agents_per_type=pop[1], label="SA (config A)"),
           replace(CONFIGS["D"], name="CMAES" + sfx, n_types=pop[0], agents_per_type=pop[1],
                   label="CMA-ES (config D)"),
           AblationConfig("GRAD" + sfx, "gradient", dict(gradient_options or {}), pop[0], pop[1], 0.0,
                          "combined (soft rank)", "learned", "Adam", label="gradient (DPM), 20-day window"),
           AblationConfig("GRAD5" + sfx, "gradient", {**dict(gradient_options or {}), "lookback": 5}, pop[0],
                          pop[1], 0.0, "combined (soft rank)", "learned", "Adam",
                          label="gradient (DPM), MASS's 5-day window")]
    if rl_policy is not None:
        out.append(AblationConfig("RL" + sfx, "rl", {"path": str(rl_policy)}, pop[0], pop[1], 0.0, "payoff",
                                  "policy", "PPO", label=f"RL policy {_sha(Path(rl_policy).with_suffix('.zip'))}"))
    out.append(baseline_for("equal", pop))
    return out


MARKETS = ("synthetic", "value-only", "sse50")


@dataclass
class PanelSweep:
    """Result of ``sweep_on_panel`` (same table and text format as ``run_ablation``)."""

    table: pd.DataFrame
    daily: pd.DataFrame
    reference: str

    def format(self) -> str:
        from .ablation import format_table

        return format_table(self.table, reference=self.reference)


def sweep_on_panel(panel: MarketPanel, configs: Sequence[Any], seeds: Sequence[int], *, reference: str,
                   say: Say | None = None) -> PanelSweep:
    """The ablation's runs (``experiments.ablation.run_one``) and table on a given panel."""
    from .ablation import SweepSpec, ablation_table, run_one

    say = say or (lambda msg: None)
    spec = SweepSpec(tuple(configs), seeds=tuple(seeds), reference=reference, n_boot=0)
    hists = []
    for cfg in configs:
        for seed in seeds:
            run = run_one(cfg, seed, panel, spec)
            ev = run.history[run.history["eval"]]
            say(f"{cfg.name} seed {seed}: {run.meta['wall_s']:.1f}s, ric_signal_10d {ev['ric_signal_10d'].mean():+.4f}")
            hists.append(run.history[[c for c in run.history.columns if not c.startswith("w_")]])
    daily = pd.concat(hists, ignore_index=True)
    return PanelSweep(ablation_table(daily, configs, reference=reference, n_boot=0), daily, reference)


def results_table(out: str | Path, *, market_name: str = "synthetic", seeds: Sequence[int] = (0, 1, 2, 3, 4),
                  data: str | None = None, populations: Sequence[tuple[int, int]] = ((8, 8), (32, 16)),
                  rl_timesteps: int = 30_000, rl_policies: Mapping[tuple[int, int], Path] | None = None,
                  resume: bool = True, say: Say | None = None) -> Any:
    """Train (or reuse) one RL policy per population, then run every leader over ``seeds``.

    ``market_name``:

    * ``"synthetic"``: the embedded market (``SyntheticConfig(n_days=160)``, market seed 0), through
      ``run_ablation`` (resumable, files under ``out/sweep``). Policies train on market seed 1 (260
      days): another draw of the same generator, so the evaluation days are never seen in training.
    * ``"value-only"``: the same generator with only valuations informative (``VALUE_ONLY``; the best
      weights are known and far from uniform), market seed 0, 160 days; policies train on seed 1.
    * ``"sse50"``: the SSE50 window from the shared-data root ``data``, through ``run_ablation``;
      policies train on ``sse50_pretraining_panel(data)`` (2021-01..2022-11, before the window).
    """
    from .ablation import SweepSpec, run_ablation

    if market_name not in MARKETS:
        raise ValueError(f"market_name must be one of {MARKETS}, got {market_name!r}")
    if market_name == "sse50" and not data:
        raise ValueError("the sse50 table needs data = the shared-data root")
    say = say or (lambda msg: None)
    _register()
    out = Path(out)
    strength = dict(VALUE_ONLY) if market_name == "value-only" else dict(DEFAULT_STRENGTH)
    policies: dict[tuple[int, int], Path] = dict(rl_policies or {})
    for pop in populations:
        if pop in policies:
            continue
        pdir = out / "policies" / f"{pop[0]}x{pop[1]}"
        if resume and (pdir / "policy.zip").exists():
            policies[pop] = pdir / "policy"
            continue
        if market_name == "sse50":
            tpanel = sse50_pretraining_panel(str(data))
        else:
            tpanel = synthetic_market(SyntheticConfig(n_days=260, strength=strength), seed=1)[0]
        spec = TrainSpec(timesteps=rl_timesteps, n_types=pop[0], agents_per_type=pop[1], strength=strength,
                         market_seed=1, train_frac=0.99)
        say(f"training the RL policy for {pop[0]}x{pop[1]} on {tpanel.name}")
        res = train(spec, pdir, panel=tpanel, say=say, progress_every=25, evaluate=False)
        policies[pop] = res.policy.with_suffix("")
    configs = []
    for pop in populations:
        configs += table_configs(pop, policies.get(pop))
    ref = next((c.name for c in configs if c.name.startswith("EQ")), configs[0].name)
    if market_name == "value-only":
        panel = synthetic_market(SyntheticConfig(n_days=160, strength=strength), seed=0)[0]
        res = sweep_on_panel(panel, configs, seeds, reference=ref, say=say)
        out.mkdir(parents=True, exist_ok=True)
        res.table.to_csv(out / "table.csv", index=False)
        return res
    sweep = SweepSpec(tuple(configs), seeds=tuple(seeds), data=data if market_name == "sse50" else None,
                      reference=ref, n_boot=0)
    return run_ablation(sweep, out / "sweep", resume=resume, plot=True, progress=say)


def table_main(argv: Sequence[str] | None = None) -> int:
    """``python -m experiments.train_rl table``: the results table on synthetic and (if present) SSE50."""
    p = argparse.ArgumentParser(prog="rl-table", description=results_table.__doc__)
    p.add_argument("--seeds", type=_seeds, default=(0, 1, 2, 3, 4))
    p.add_argument("--markets", default="synthetic,sse50", help=f"comma list of {', '.join(MARKETS)}")
    p.add_argument("--data", default="../shared/data", help="shared-data root for the SSE50 window ('' = skip)")
    p.add_argument("--timesteps", type=int, default=30_000, help="RL training steps per population")
    p.add_argument("--out", default="results/rl_table")
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    say: Say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    markets = [m.strip() for m in args.markets.split(",") if m.strip()]
    if "sse50" in markets and not (args.data and Path(args.data).exists()):
        say(f"no shared data at {args.data!r}: skipping the SSE50 table")
        markets.remove("sse50")
    for label in markets:
        t0 = time.perf_counter()
        res = results_table(Path(args.out) / label, market_name=label, seeds=args.seeds, data=args.data,
                            rl_timesteps=args.timesteps, resume=not args.no_resume, say=say)
        print(f"\n== {label}: Rank IC over the evaluation days, mean ± std over seeds {list(args.seeds)} "
              f"({time.perf_counter() - t0:.0f}s)")
        print(res.format())
    return 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] == "table":
        raise SystemExit(table_main(argv[1:]))
    raise SystemExit(main(argv))
