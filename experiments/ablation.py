"""The paper's ablation (configs A-F, E-512, A-512) over seeds, with baselines, a table and a plot.

What a sweep does (``run_ablation``):

* **Market.** The embedded synthetic market (``SyntheticConfig(n_days=160)``, market seed 0) unless
  ``data`` names a panel. The market is held fixed across seeds by default (``vary_market=False``):
  seeds vary the followers' randomness and the optimisers' randomness, which is the variability the
  paper reports (LLM sampling, candidate draws). ``vary_market=True`` draws a synthetic market per seed.
* **Runs.** Every (config, seed) is one episode of the game (``experiments.runner.run_episode``):
  followers from ``FOLLOWERS`` (``scripted`` now; an LLM entry can be registered with
  ``register_followers``), the leader from ``principals.make``, the game with the config's population
  and turnover penalty. Evaluation starts ``eval_skip`` = 21 trading days (one month) after the
  episode's first day; the warm-up is excluded from every number.
* **Baselines.** Equal weights, optionally random weights, and the *hindsight oracle*: the best fixed
  ``(d, alpha)`` for each reported metric, fitted with CMA-ES on the evaluation period itself after
  the episode. It uses returns no leader could know, so it is labelled "oracle (hindsight upper
  bound)"; being a local search it is a lower estimate of the true in-sample optimum.
* **Table.** Mean Rank IC over the evaluation days of the combined signal and of consensus alone at
  1/5/10 days, mean +- std over seeds, and a paired bootstrap confidence interval of each config's
  difference to the reference (A): differences are paired by seed and day; the bootstrap resamples
  seeds with replacement and days in circular blocks as long as the return horizon (overlapping
  forward returns make neighbouring days dependent).
* **Files** (``out``): ``runs/`` (one parquet + JSON per run; the JSON is written last and carries a
  fingerprint of everything the run depends on, so an interrupted sweep resumes without recomputing
  finished runs, and a changed setting, market or game/leader/follower code recomputes), ``daily.parquet`` (tidy per-day Rank ICs
  of every run), ``weights.parquet`` (tidy applied weights d_t per type and day), ``runs.csv``
  (per-run means), ``table.csv``, ``ablation.json`` (full configuration, versions, table) and
  ``ablation.png`` (Rank IC by config and weight trajectories; only when matplotlib is installed).

A rerun with the same settings and seeds is identical: all randomness flows from the seeds.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

import principals
from mass_env.env import MassStackelbergEnv
from mass_env.game import GameConfig, StackelbergGame
from mass_env.game.investors import build_types
from mass_env.data.panel import MarketPanel
from mass_env.data.returns import REPORT_HORIZONS, ReturnSpec
from mass_env.data.synthetic import SyntheticConfig, synthetic_market
from principals.blackbox import Objective, SearchSpace, optimise
from principals.cmaes import CMAES

from .configs import DEFAULT_BASELINES, DEFAULT_CONFIGS, AblationConfig, resolve
from .runner import run_episode

FORMAT_VERSION = 1
COMPONENTS = ("signal", "consensus", "disagreement")
TABLE_COMPONENTS = ("signal", "consensus")
ORACLE_LABEL = "oracle (hindsight upper bound)"

FollowerFactory = Callable[[MassStackelbergEnv, int], Mapping[str, Any]]
Progress = Callable[[str], None]


def _scripted(env: MassStackelbergEnv, seed: int) -> Mapping[str, Any]:
    from agents.scripted import scripted_followers

    return scripted_followers(env, seed=seed)


#: Follower populations by name: ``factory(env, seed) -> {agent: policy}``.
FOLLOWERS: dict[str, FollowerFactory] = {"scripted": _scripted}
#: Source files that define each follower population (part of a run's resume fingerprint).
FOLLOWER_SOURCES: dict[str, list[Path]] = {
    "scripted": [Path(__file__).resolve().parents[1] / "agents" / "scripted.py"]}


def register_followers(name: str, factory: FollowerFactory, sources: Sequence[str | Path] = ()) -> None:
    """Make a follower population available to sweeps (e.g. LLM followers). ``sources``: the files
    that define it (default: the factory's own file), hashed into the resume fingerprint."""
    FOLLOWERS[name] = factory
    if sources:
        FOLLOWER_SOURCES[name] = [Path(p).resolve() for p in sources]


def metric(component: str, horizon: int) -> str:
    """Column name of a daily Rank IC in the game's history."""
    return f"ric_{component}_{horizon}d"


# ---------------------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep depends on besides the code (written to ``ablation.json``)."""

    configs: tuple[AblationConfig, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    data: str | None = None
    n_days: int = 160
    market_seed: int = 0
    vary_market: bool = False
    followers: str = "scripted"
    horizon: int = 10
    eval_skip: int = 21
    reference: str = "A"
    n_boot: int = 2000
    ci: float = 0.95
    oracle_evals_per_dim: int = 60
    oracle_max_evals: int = 1000

    def __post_init__(self) -> None:
        if not self.configs:
            raise ValueError("a sweep needs at least one config")
        if not self.seeds:
            raise ValueError("a sweep needs at least one seed")
        if len({c.name for c in self.configs}) != len(self.configs):
            raise ValueError("config names must be unique")
        if self.followers not in FOLLOWERS:
            raise ValueError(f"unknown followers {self.followers!r}; available: {', '.join(FOLLOWERS)}")
        if not 0 < self.ci < 1 or self.n_boot < 0 or self.eval_skip < 0:
            raise ValueError("need 0 < ci < 1, n_boot >= 0 and eval_skip >= 0")

    @classmethod
    def default(cls, configs: str | Sequence[str] = DEFAULT_CONFIGS, *,
                baselines: Sequence[str] = DEFAULT_BASELINES, **kwargs: Any) -> "SweepSpec":
        return cls(tuple(resolve(list(configs) if not isinstance(configs, str) else configs,
                                 tuple(baselines))), **kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {"configs": [c.as_dict() for c in self.configs], "seeds": list(self.seeds),
                "data": self.data, "n_days": self.n_days, "market_seed": self.market_seed,
                "vary_market": self.vary_market, "followers": self.followers, "horizon": self.horizon,
                "eval_skip": self.eval_skip, "reference": self.reference, "n_boot": self.n_boot,
                "ci": self.ci, "oracle_evals_per_dim": self.oracle_evals_per_dim,
                "oracle_max_evals": self.oracle_max_evals}


def market_for(spec: SweepSpec, seed: int, cache: dict[Any, MarketPanel] | None = None) -> MarketPanel:
    """The panel a run of ``seed`` plays on (fixed across seeds unless ``vary_market``)."""
    key: Any = ("data", spec.data) if spec.data else ("synthetic", spec.n_days,
                                                        seed if spec.vary_market else spec.market_seed)
    if cache is not None and key in cache:
        return cache[key]
    if spec.data:
        from .cli import load_market

        panel = load_market(spec.data, spec.market_seed, spec.n_days)
    else:
        panel = synthetic_market(SyntheticConfig(n_days=spec.n_days), seed=key[2])[0]
    if cache is not None:
        cache[key] = panel
    return panel


def market_fingerprint(panel: MarketPanel) -> str:
    """Hash of the panel's content (calendar, symbols and every array)."""
    h = hashlib.sha256()
    h.update(np.asarray(panel.dates.asi8).tobytes())
    h.update("|".join(panel.symbols).encode())
    h.update("|".join(panel.industry_names + panel.macro_names).encode())
    arrays = [panel.close, panel.adj_close, panel.open, panel.high, panel.low, panel.volume, panel.tradable,
              panel.is_st, panel.member, panel.industry, panel.industry_returns, panel.macro]
    arrays += [panel.valuation[k] for k in sorted(panel.valuation)]
    for arr in arrays:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


#: Source files whose effect a run's key already captures: data loading (the panel is hashed).
#: This sweep's own code is not hashed either: bump FORMAT_VERSION when ``run_one`` or
#: ``hindsight_oracle`` change what a run produces.
_NOT_FINGERPRINTED = {"loaders.py", "macro.py"}
_ROOT = Path(__file__).resolve().parents[1]


def _source_file(obj: Any) -> Path | None:
    """The file defining a class or function (or the class of an instance); None for builtins."""
    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj)
    try:
        f = inspect.getsourcefile(target)
    except TypeError:
        return None
    return Path(f).resolve() if f else None


def run_sources(cfg: AblationConfig, followers: str) -> list[Path]:
    """The source files a run of ``cfg`` depends on: the game (``mass_env``), the episode runner,
    the modules defining the leader (and its optimiser) and the followers."""
    files = [f for f in sorted((_ROOT / "mass_env").rglob("*.py")) if f.name not in _NOT_FINGERPRINTED]
    files += [_ROOT / "experiments" / "runner.py", _ROOT / "principals" / "base.py"]
    leader = principals.make(cfg.principal, **cfg.principal_options())
    parts: list[Any] = [leader, getattr(leader, "optimizer", None)]
    if cfg.kind == "oracle":
        parts += [CMAES, optimise]
    files += [f for f in (_source_file(o) for o in parts if o is not None) if f is not None]
    files += FOLLOWER_SOURCES.get(followers) or [f for f in [_source_file(FOLLOWERS[followers])] if f]
    return sorted(set(files))


def code_fingerprint(files: Iterable[Path]) -> str:
    """Hash of the given source files (paths relative to the project root, and contents)."""
    h = hashlib.sha256()
    for f in sorted(set(files)):
        if f.exists():
            try:
                h.update(f.relative_to(_ROOT).as_posix().encode())
            except ValueError:
                h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("mass-mechanism", "numpy", "pandas", "scipy", "cma", "gymnasium", "pettingzoo", "pyarrow",
                "matplotlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ---------------------------------------------------------------------------------------------- oracle
@dataclass(frozen=True)
class OracleFit:
    """Best fixed commitment found in hindsight for one metric on the evaluation period."""

    component: str
    horizon: int
    weights: np.ndarray
    alpha: float
    value: float
    equal_value: float
    days: np.ndarray
    daily: np.ndarray


def hindsight_oracle(game: StackelbergGame, *, eval_skip: int = 21,
                     horizons: Iterable[int] = REPORT_HORIZONS, components: Iterable[str] = COMPONENTS,
                     evals_per_dim: int = 60, max_evals: int = 1000, sigma0: float = 1.0,
                     seed: int = 0) -> dict[tuple[str, int], OracleFit]:
    """HINDSIGHT UPPER BOUND, not a leader: the best fixed ``(d, alpha)`` on the evaluation period.

    After an episode, for each (component, horizon), CMA-ES searches the fixed weights (and alpha for
    the combined signal; consensus and disagreement do not depend on alpha) that maximise the mean
    daily Rank IC over the evaluation days, using the recorded follower moments and the realised
    returns of those very days (budget: ``evals_per_dim`` x dimension, at most ``max_evals``).
    Valid because the followers' signals do not depend on the weights (scripted followers). The
    result is never worse than equal weights (it is compared with them); being a local search, it
    is a lower estimate of the true hindsight optimum.
    """
    n_eval = len(game.records) - eval_skip
    K = game.K
    out: dict[tuple[str, int], OracleFit] = {}
    if n_eval <= 0:
        return out
    rng = np.random.default_rng([int(seed), 0x0AC1E])
    for h in horizons:
        spec = ReturnSpec(h, game.config.lag)
        window = game.scoring_window(n_eval, horizon=h, asof=game.end + spec.delay)
        for comp in components:
            space = SearchSpace(K, learn_alpha=(comp == "signal"), alpha=0.5, encoding="logits")
            eq_x = space.encode(np.ones(K), 0.5)
            obj = Objective(window, space, comp)  # type: ignore[arg-type]
            eq_val = float(obj(eq_x[None])[0])
            best_x, best_val = eq_x, eq_val
            if space.dim >= 2:
                budget = max(1, min(evals_per_dim * space.dim, max_evals))
                opt = CMAES(sigma0=sigma0, evals=budget, recommend="best")
                res = optimise(opt, obj, eq_x, rng)
                if res.fitness > best_val:
                    best_x, best_val = res.x, res.fitness
            w, a = space.decode(best_x)
            daily = window.daily(w[0], float(a[0]), comp)[0]  # type: ignore[arg-type]
            out[(comp, h)] = OracleFit(comp, h, w[0] / w[0].sum(), float(a[0]), best_val, eq_val,
                                       window.days.copy(), daily)
    return out


def _oracle_history(game: StackelbergGame, fits: Mapping[tuple[str, int], OracleFit],
                    headline: tuple[str, int]) -> pd.DataFrame:
    """Per-day frame shaped like ``game.history()`` (evaluation days only) for the oracle."""
    any_fit = next(iter(fits.values()))
    days = any_fit.days
    frame: dict[str, Any] = {"day": days, "date": game.panel.dates[days]}
    head = fits.get(headline, any_fit)
    frame["alpha"] = head.alpha
    frame["lambda"] = 0.0
    frame["turnover"] = 0.0
    frame["n_scored"] = [game.records[d - game.start].n_scored for d in days]
    frame["paid"] = False
    frame["payoff"] = np.nan
    for k in range(game.K):
        frame[f"w_{k}"] = head.weights[k]
    for (comp, h), fit in fits.items():
        frame[metric(comp, h)] = fit.daily
    return pd.DataFrame(frame)


# ---------------------------------------------------------------------------------------------- runs
@dataclass
class RunResult:
    config: str
    seed: int
    history: pd.DataFrame
    meta: dict[str, Any]
    reused: bool = False


def run_key(cfg: AblationConfig, seed: int, spec: SweepSpec, market_fp: str, code_fp: str) -> str:
    """Fingerprint of everything a run's result depends on (the resume cache's key)."""
    leader = principals.make(cfg.principal, **cfg.principal_options())
    settings = leader.options() if hasattr(leader, "options") else vars(leader)
    payload = {"format": FORMAT_VERSION, "config": cfg.as_dict(), "leader": settings, "seed": seed,
               "market": market_fp, "followers": spec.followers, "horizon": spec.horizon,
               "eval_skip": spec.eval_skip, "code": code_fp}
    if cfg.kind == "oracle":
        payload["oracle_budget"] = [spec.oracle_evals_per_dim, spec.oracle_max_evals]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def run_one(cfg: AblationConfig, seed: int, panel: MarketPanel, spec: SweepSpec) -> RunResult:
    """Play one (config, seed) episode and return its tidy per-day history."""
    t0 = time.perf_counter()
    types = build_types(cfg.n_types, cfg.agents_per_type)
    env = MassStackelbergEnv(panel, types, GameConfig(horizon=spec.horizon,
                                                      turnover_penalty=cfg.turnover_penalty))
    followers = FOLLOWERS[spec.followers](env, seed)
    leader = principals.make(cfg.principal, **cfg.principal_options())
    res = run_episode(env, leader, followers, seed=seed, eval_skip=spec.eval_skip, label=cfg.name)
    meta: dict[str, Any] = {"config": cfg.as_dict(), "seed": seed,
                            "principal": getattr(leader, "options", lambda: {"name": leader.name})(),
                            "episode_days": int(env.game.n_steps), "first_day": int(env.game.start)}
    if cfg.kind == "oracle":
        fits = hindsight_oracle(env.game, eval_skip=spec.eval_skip, components=TABLE_COMPONENTS,
                                evals_per_dim=spec.oracle_evals_per_dim, max_evals=spec.oracle_max_evals,
                                seed=seed)
        if not fits:
            raise ValueError("the episode is too short for an evaluation period (oracle)")
        hist = _oracle_history(env.game, fits, ("signal", spec.horizon))
        hist["eval"] = True
        meta["oracle"] = {f"{c}_{h}d": {"weights": f.weights.round(6).tolist(), "alpha": f.alpha,
                                        "value": f.value, "equal_weights_value": f.equal_value}
                          for (c, h), f in fits.items()}
    else:
        hist = res.history.copy()
        hist["eval"] = np.arange(len(hist)) >= spec.eval_skip
        log = getattr(leader, "log", None)
        if log:
            meta["search"] = {"days_optimised": len(log),
                              "evaluations_per_day": float(np.mean([g.evaluations for g in log])),
                              "scorer_calls_per_day": float(np.mean([g.scorer_calls for g in log]))}
    hist.insert(0, "seed", seed)
    hist.insert(0, "config", cfg.name)
    report = getattr(followers, "report", None)
    if callable(report):
        meta["followers"] = report()
    meta["wall_s"] = time.perf_counter() - t0
    return RunResult(cfg.name, seed, hist, meta)


class RunStore:
    """One parquet + JSON per finished run under ``root/runs``; the JSON is the completion marker."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "runs"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _stem(self, config: str, seed: int) -> Path:
        return self.dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', config)}__seed{seed}"

    def exists(self, config: str, seed: int) -> bool:
        return self._stem(config, seed).with_suffix(".json").exists()

    def load(self, config: str, seed: int, key: str) -> RunResult | None:
        stem = self._stem(config, seed)
        js, pq = stem.with_suffix(".json"), stem.with_suffix(".parquet")
        if not (js.exists() and pq.exists()):
            return None
        try:
            meta = json.loads(js.read_text())
            if meta.get("key") != key:
                return None
            hist = pd.read_parquet(pq)
        except (OSError, ValueError):
            return None
        return RunResult(config, seed, hist, meta, reused=True)

    def save(self, run: RunResult, key: str) -> None:
        stem = self._stem(run.config, run.seed)
        _atomic(stem.with_suffix(".parquet"), lambda p: run.history.to_parquet(p, index=False))
        meta = {**run.meta, "key": key}
        _atomic(stem.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta, indent=2, default=_jsonable)))


def _atomic(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (pd.Timestamp,)):
        return x.isoformat()
    return str(x)


# ---------------------------------------------------------------------------------------------- stats
def paired_bootstrap(diff: np.ndarray, *, n_boot: int = 2000, ci: float = 0.95, block: int = 1,
                     rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean of a paired difference ``(seeds, days)`` (NaN = missing) and its bootstrap CI.

    Resamples seeds with replacement and days in circular blocks of ``block`` days (the same days
    for every seed, which keeps the pairing across seeds intact). Percentile interval.
    """
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"diff must be (seeds, days), got shape {d.shape}")
    point = float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")
    S, T = d.shape
    if n_boot <= 0 or T == 0 or not np.isfinite(point):
        return point, float("nan"), float("nan")
    rng = rng or np.random.default_rng(0)
    block = max(1, min(int(block), T))
    n_blocks = -(-T // block)
    starts = rng.integers(0, T, size=(n_boot, n_blocks))
    days = ((starts[:, :, None] + np.arange(block)) % T).reshape(n_boot, -1)[:, :T]  # (B, T)
    seeds = rng.integers(0, S, size=(n_boot, S))  # (B, S)
    sample = d[seeds[:, :, None], days[:, None, :]]  # (B, S, T)
    fin = np.isfinite(sample)
    cnt = fin.sum((1, 2))
    stats = np.where(cnt > 0, np.where(fin, sample, 0.0).sum((1, 2)) / np.maximum(cnt, 1), np.nan)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return point, float("nan"), float("nan")
    lo, hi = np.quantile(stats, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return point, float(lo), float(hi)


def table_metrics(horizons: Sequence[int] = REPORT_HORIZONS) -> list[str]:
    return [metric(c, h) for c in TABLE_COMPONENTS for h in horizons]


def summarise_runs(daily: pd.DataFrame) -> pd.DataFrame:
    """Per-run means over the evaluation days (one row per config and seed)."""
    ev = daily[daily["eval"]]
    cols = [c for c in daily.columns if c.startswith("ric_")] + ["turnover", "alpha"]
    out = ev.groupby(["config", "seed"], sort=False)[cols].mean()
    out["eval_days"] = ev.groupby(["config", "seed"], sort=False).size()
    return out.reset_index()


def ablation_table(daily: pd.DataFrame, configs: Sequence[AblationConfig], *, reference: str = "A",
                   n_boot: int = 2000, ci: float = 0.95, seed: int = 0,
                   horizons: Sequence[int] = REPORT_HORIZONS) -> pd.DataFrame:
    """Mean +- std over seeds of each table metric, and the paired bootstrap CI vs ``reference``."""
    runs = summarise_runs(daily)
    metrics = table_metrics(horizons)
    ev = daily[daily["eval"]]
    rows = []
    for cfg in configs:
        r = runs[runs["config"] == cfg.name]
        if r.empty:
            continue
        row: dict[str, Any] = {"config": cfg.name, "label": cfg.label or cfg.name, "kind": cfg.kind,
                               "fitness": cfg.fitness, "alpha_mode": cfg.alpha, "optimizer": cfg.optimizer,
                               "lambda": cfg.turnover_penalty,
                               "population": f"{cfg.n_types}x{cfg.agents_per_type}",
                               "n_seeds": int(r["seed"].nunique()), "eval_days": float(r["eval_days"].mean())}
        for m in metrics:
            row[f"{m}_mean"] = float(r[m].mean())
            row[f"{m}_std"] = float(r[m].std(ddof=1)) if len(r) > 1 else float("nan")
        row["turnover_mean"] = float(r["turnover"].mean())
        row["alpha_mean"] = float(r["alpha"].mean())
        for m in metrics:
            h = int(re.search(r"_(\d+)d$", m).group(1))  # type: ignore[union-attr]
            if reference and cfg.name != reference and (daily["config"] == reference).any():
                x = ev[ev["config"] == cfg.name].pivot(index="seed", columns="day", values=m)
                y = ev[ev["config"] == reference].pivot(index="seed", columns="day", values=m)
                seeds = x.index.intersection(y.index)
                days = x.columns.intersection(y.columns)
                d = x.loc[seeds, days].to_numpy() - y.loc[seeds, days].to_numpy()
                rng = np.random.default_rng([seed, zlib.crc32(cfg.name.encode()), zlib.crc32(m.encode())])
                pt, lo, hi = paired_bootstrap(d, n_boot=n_boot, ci=ci, block=h, rng=rng)
            else:
                pt = lo = hi = float("nan")
            row[f"{m}_diff"], row[f"{m}_lo"], row[f"{m}_hi"] = pt, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, *, reference: str = "A", ci: float = 0.95,
                 headline: str = "ric_signal_10d", horizons: Sequence[int] = REPORT_HORIZONS) -> str:
    """The ablation table as text (Rank IC, mean +- std over seeds; CI of the headline vs reference)."""
    metrics = table_metrics(horizons)
    cell = lambda m, s: f"{m:+.4f}" + ("" if not np.isfinite(s) else f"±{s:.4f}")  # noqa: E731
    head = (f"{'config':<12} {'fitness':<12} {'alpha':<9} {'optimiser':<10} {'lambda':>6} "
            + " ".join(f"{('sig ' if 'signal' in m else 'cons ') + m.rsplit('_', 1)[1]:>15}" for m in metrics)
            + f"  {'Δ' + headline.rsplit('_', 1)[1] + ' vs ' + reference + f' [{int(ci * 100)}% CI]':>28}"
            + f" {'turnover':>8} {'alpha':>5}")
    lines = [head, "-" * len(head)]
    for _, r in table.iterrows():
        name = r["config"]
        if r["kind"] == "oracle":
            name += "*"
        d, lo, hi = r[f"{headline}_diff"], r[f"{headline}_lo"], r[f"{headline}_hi"]
        ci_txt = "" if not np.isfinite(d) else (f"{d:+.4f} [{lo:+.4f},{hi:+.4f}]" if np.isfinite(lo) else f"{d:+.4f}")
        lines.append(
            f"{name:<12} {str(r['fitness'])[:12]:<12} {str(r['alpha_mode'])[:9]:<9} {str(r['optimizer'])[:10]:<10} "
            f"{r['lambda']:>6g} " + " ".join(f"{cell(r[m + '_mean'], r[m + '_std']):>15}" for m in metrics)
            + f"  {ci_txt:>28} {r['turnover_mean']:>8.3f} {r['alpha_mean']:>5.2f}")
    if (table["kind"] == "oracle").any():
        lines.append(f"* {ORACLE_LABEL}: best fixed (d, alpha) per column, fitted on the evaluation "
                     "period's realised returns; not achievable by any leader.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- plot
def plot_ablation(daily: pd.DataFrame, weights: pd.DataFrame, table: pd.DataFrame, path: Path,
                  *, headline: str = "ric_signal_10d") -> Path | None:
    """Rank IC by config (bars: mean +- std over seeds, dots: seeds) and weight trajectories d_t
    (first seed of each config, stacked). Returns None when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    runs = summarise_runs(daily)
    names = list(table["config"])
    traj = [n for n in names if n in set(weights["config"])]
    ncol = 4
    nrow = 1 + -(-len(traj) // ncol)
    fig = Figure(figsize=(4 * ncol, 3.2 * nrow), constrained_layout=True)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(nrow, ncol)
    ax = fig.add_subplot(gs[0, :])
    x = np.arange(len(names))
    comps = [("signal", headline), ("consensus", headline.replace("signal", "consensus"))]
    width = 0.38
    for j, (lab, m) in enumerate(comps):
        means = table[f"{m}_mean"].to_numpy()
        stds = np.nan_to_num(table[f"{m}_std"].to_numpy())
        xs = x + (j - 0.5) * width
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=f"{lab} ({m.rsplit('_', 1)[1]})", alpha=0.8)
        for i, n in enumerate(names):
            v = runs.loc[runs["config"] == n, m].to_numpy()
            ax.plot(np.full(v.size, xs[i]), v, "k.", ms=4)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [n + ("*" if k == "oracle" else "") for n, k in zip(names, table["kind"])])
    ax.set_ylabel("mean Rank IC (evaluation days)")
    ax.set_title("Rank IC by config (bars: mean ± std over seeds; dots: seeds; *: hindsight upper bound)")
    ax.legend(loc="best", fontsize=8)
    for i, n in enumerate(traj):
        a = fig.add_subplot(gs[1 + i // ncol, i % ncol])
        w = weights[weights["config"] == n]
        s0 = w["seed"].min()
        piv = w[w["seed"] == s0].pivot(index="date", columns="type", values="weight").sort_index()
        a.stackplot(piv.index, piv.to_numpy().T, linewidth=0, labels=[f"type {k}" for k in piv.columns])
        a.set_ylim(0, 1)
        if i == 0 and piv.shape[1] <= 8:
            a.legend(loc="upper left", fontsize=6, ncol=2, framealpha=0.6)
        a.set_title(f"{n}: weights d_t (seed {s0})", fontsize=9)
        a.tick_params(axis="x", labelrotation=30, labelsize=7)
        a.tick_params(axis="y", labelsize=7)
    fig.savefig(path, dpi=110)
    return path


# ---------------------------------------------------------------------------------------------- sweep
@dataclass
class AblationResult:
    spec: SweepSpec
    daily: pd.DataFrame
    weights: pd.DataFrame
    runs: pd.DataFrame
    table: pd.DataFrame
    computed: list[tuple[str, int]] = field(default_factory=list)
    reused: list[tuple[str, int]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0

    def format(self) -> str:
        return format_table(self.table, reference=self.spec.reference, ci=self.spec.ci)


def _weights_long(hist: pd.DataFrame) -> pd.DataFrame:
    wcols = [c for c in hist.columns if re.fullmatch(r"w_\d+", c)]
    long = hist[["config", "seed", "day", "date", *wcols]].melt(
        id_vars=["config", "seed", "day", "date"], value_vars=wcols, var_name="type", value_name="weight")
    long["type"] = long["type"].str[2:].astype(int)
    return long


def run_ablation(spec: SweepSpec, out: str | Path, *, resume: bool = True, plot: bool = True,
                 progress: Progress | None = None) -> AblationResult:
    """Run (or resume) a sweep, write its files under ``out`` and return the table."""
    t_start = time.perf_counter()
    out = Path(out)
    store = RunStore(out)
    say = progress or (lambda msg: None)
    code_fps = {c.name: code_fingerprint(run_sources(c, spec.followers)) for c in spec.configs}
    markets: dict[Any, MarketPanel] = {}
    fps: dict[int, str] = {}
    jobs = [(cfg, s) for cfg in spec.configs for s in spec.seeds]
    results: list[RunResult] = []
    computed, reused = [], []
    for i, (cfg, seed) in enumerate(jobs, 1):
        panel = market_for(spec, seed, markets)
        if id(panel) not in fps:
            fps[id(panel)] = market_fingerprint(panel)
        fp = fps[id(panel)]
        key = run_key(cfg, seed, spec, fp, code_fps[cfg.name])
        run = store.load(cfg.name, seed, key) if resume else None
        tag = f"[{i:>{len(str(len(jobs)))}}/{len(jobs)}] {cfg.name} seed {seed}"
        if run is None:
            stale = resume and store.exists(cfg.name, seed)
            run = run_one(cfg, seed, panel, spec)
            run.meta["market"] = {"fingerprint": fp, "name": panel.name}
            store.save(run, key)
            computed.append((cfg.name, seed))
            status = f"{run.meta['wall_s']:.1f}s" + (" (stored run was stale: settings or code changed)" if stale else "")
        else:
            reused.append((cfg.name, seed))
            status = "reused"
        ev = run.history[run.history["eval"]]
        head = metric("signal", spec.horizon)
        val = float(ev[head].mean()) if head in ev else float("nan")
        say(f"{tag}: {status}, {head} {val:+.4f}")
        results.append(run)

    hists = [r.history for r in results]
    weights = pd.concat([_weights_long(h) for h in hists], ignore_index=True)
    keep = [c for c in hists[0].columns if not re.fullmatch(r"w_\d+", c)]
    daily = pd.concat([h[[c for c in h.columns if not re.fullmatch(r"w_\d+", c)]] for h in hists],
                      ignore_index=True)
    daily = daily[[c for c in keep if c in daily.columns] + [c for c in daily.columns if c not in keep]]
    runs = summarise_runs(daily)
    table = ablation_table(daily, spec.configs, reference=spec.reference, n_boot=spec.n_boot, ci=spec.ci,
                           horizons=REPORT_HORIZONS)

    files: dict[str, str] = {}
    daily_p, weights_p = out / "daily.parquet", out / "weights.parquet"
    _atomic(daily_p, lambda p: daily.to_parquet(p, index=False))
    _atomic(weights_p, lambda p: weights.to_parquet(p, index=False))
    _atomic(out / "runs.csv", lambda p: runs.to_csv(p, index=False))
    _atomic(out / "table.csv", lambda p: table.to_csv(p, index=False))
    files.update(daily=str(daily_p), weights=str(weights_p), runs=str(out / "runs.csv"),
                 table=str(out / "table.csv"))
    if plot:
        png = plot_ablation(daily, weights, table, out / "ablation.png",
                            headline=metric("signal", spec.horizon))
        if png is not None:
            files["plot"] = str(png)
        else:
            say("matplotlib is not installed: no plot (pip install 'mass-mechanism[plot]')")
    panel0 = market_for(spec, spec.seeds[0], markets)
    first = results[0].meta
    ev0 = results[0].history[results[0].history["eval"]]
    wall = time.perf_counter() - t_start
    summary = {
        "spec": spec.as_dict(),
        "market": {"name": panel0.name, "summary": panel0.summary(),
                   "source": spec.data or "embedded synthetic market (SyntheticConfig(n_days=%d), seed %s)"
                   % (spec.n_days, "= run seed" if spec.vary_market else spec.market_seed)},
        "evaluation": {"first_eval_date": str(pd.Timestamp(ev0["date"].min()).date()) if len(ev0) else None,
                       "eval_skip_days": spec.eval_skip, "episode_days": first.get("episode_days"),
                       "note": "evaluation starts eval_skip trading days after the episode's first day; "
                               "the oracle row is a hindsight upper bound"},
        "timing": "leaders commit at the close of day t for day t+1, fitted on the last 5 days whose "
                  "5-day return has realised (t-10..t-6 with execution lag 1; MASS: t-9..t-5)",
        "versions": versions(), "code_fingerprints": code_fps, "command": sys.argv,
        "computed": computed, "reused": reused, "wall_s": wall,
        "principals": {c.name: next((r.meta.get("principal") for r in results if r.config == c.name), None)
                       for c in spec.configs},
        "table": table.to_dict(orient="records"), "files": files,
    }
    _atomic(out / "ablation.json", lambda p: p.write_text(json.dumps(summary, indent=2, default=_jsonable)))
    files["json"] = str(out / "ablation.json")
    return AblationResult(spec, daily, weights, runs, table, computed, reused, files, wall)
