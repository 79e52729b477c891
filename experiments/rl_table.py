"""``mass rl-table``: SA, CMA-ES, the gradient leader, an RL policy and equal weights side by side.

Each leader is an ablation row (``experiments.sweep.configs.AblationConfig``) run over seeds at 8 types
(8 x 8 agents) and 32 types (32 x 16), so the table has the ablation's format and statistics: SA
with config A's settings, CMA-ES with config D's, the gradient principal (20- and 5-day windows),
the RL policy and equal weights. Markets: the embedded synthetic market through
``experiments.sweep.engine.run_ablation`` (resumable), the value-only synthetic market, and, when the shared
data folder exists, the SSE50 window. The RL policies are trained on *other* data, never the
evaluation days: on the synthetic markets, another draw of the same generator (market seed 1, same
ground truth); for SSE50, the point-in-time SSE50 members from 2021-01 to 2022-11, strictly before
the window (``experiments.sweep.markets.sse50_pretraining_panel``). ``--data`` names the SSE50 data as in every
command (``sse50``, the default, reads ``$MASS_DATA_ROOT``; or the shared-data root folder).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import options
from experiments.stats.report import HEADLINE, ablation_table, format_table
from experiments.sweep import checks
from experiments.sweep.checks import writable_dir
from experiments.sweep.configs import CONFIGS, AblationConfig, baseline_for, population_suffix
from experiments.sweep.engine import AblationResult, run_ablation
from experiments.sweep.markets import VALUE_ONLY, sse50_pretraining_panel, sse50_root, synthetic_panel
from experiments.sweep.spec import SweepSpec
from experiments.sweep.workers import run_one
from experiments.train_rl import Say, TrainSpec, train
from mass_env.data.panel import MarketPanel
from mass_env.data.synthetic import DEFAULT_STRENGTH


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def table_configs(pop: tuple[int, int], rl_policy: Path | None, *, gradient_options: Mapping[str, Any] | None = None
                  ) -> list[AblationConfig]:
    """SA (config A), CMA-ES (config D), gradient (20- and 5-day windows), RL and equal weights at ``pop``."""
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
HELP = "results table: SA, CMA-ES, gradient, RL and equal weights at 8 and 32 types"


@dataclass
class PanelSweep:
    """Result of ``sweep_on_panel`` (same table and text format as ``run_ablation``)."""

    table: pd.DataFrame
    daily: pd.DataFrame
    reference: str

    def format(self) -> str:
        return format_table(self.table, reference=self.reference)


def sweep_on_panel(panel: MarketPanel, configs: Sequence[AblationConfig], seeds: Sequence[int], *, reference: str,
                   say: Say | None = None) -> PanelSweep:
    """The ablation's runs (``experiments.sweep.workers.run_one``) and table on a given panel (not resumable)."""
    say = say or (lambda msg: None)
    spec = SweepSpec(tuple(configs), seeds=tuple(seeds), reference=reference, n_boot=0)
    hists = []
    for cfg in configs:
        for seed in seeds:
            run = run_one(cfg, seed, panel, spec)
            ev = run.history[run.history["eval"]]
            say(f"{cfg.name} seed {seed}: {run.meta['wall_s']:.1f}s, {HEADLINE} {ev[HEADLINE].mean():+.4f}")
            hists.append(run.history[[c for c in run.history.columns if not c.startswith("w_")]])
    daily = pd.concat(hists, ignore_index=True)
    return PanelSweep(ablation_table(daily, configs, reference=reference, n_boot=0), daily, reference)


def results_table(out: str | Path, *, market_name: str = "synthetic", seeds: Sequence[int] = (0, 1, 2, 3, 4),
                  data: str | None = None, populations: Sequence[tuple[int, int]] = ((8, 8), (32, 16)),
                  rl_timesteps: int = 30_000, rl_policies: Mapping[tuple[int, int], Path] | None = None,
                  resume: bool = True, say: Say | None = None) -> AblationResult | PanelSweep:
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
    if market_name not in MARKETS:
        raise ValueError(f"market_name must be one of {MARKETS}, got {market_name!r}")
    if market_name == "sse50" and not data:
        raise ValueError("the sse50 table needs data = the shared-data root")
    say = say or (lambda msg: None)
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
            tpanel = synthetic_panel(260, 1, strength)
        spec = TrainSpec(timesteps=rl_timesteps, n_types=pop[0], agents_per_type=pop[1], strength=strength,
                         market_seed=1, train_frac=0.99)
        say(f"training the RL policy for {pop[0]}x{pop[1]} on {tpanel.name}")
        res = train(spec, pdir, panel=tpanel, say=say, progress_every=25, evaluate=False)
        policies[pop] = res.policy.with_suffix("")
    configs: list[AblationConfig] = []
    for pop in populations:
        configs += table_configs(pop, policies.get(pop))
    ref = next((c.name for c in configs if c.name.startswith("EQ")), configs[0].name)
    if market_name == "value-only":
        panel = synthetic_panel(160, 0, strength)
        swept = sweep_on_panel(panel, configs, seeds, reference=ref, say=say)
        out.mkdir(parents=True, exist_ok=True)
        swept.table.to_csv(out / "table.csv", index=False)
        return swept
    sweep = SweepSpec(tuple(configs), seeds=tuple(seeds), data=data if market_name == "sse50" else None,
                      reference=ref, n_boot=0)
    return run_ablation(sweep, out / "sweep", resume=resume, plot=True, progress=say)


def add_arguments(p: argparse.ArgumentParser) -> None:
    options.add_seeds(p, (0, 1, 2, 3, 4))
    p.add_argument("--markets", default="synthetic,sse50",
                   help=f"comma list of {', '.join(MARKETS)} (default synthetic,sse50; sse50 is skipped with a "
                        "warning when its data folder is absent)")
    options.add_data(p, "sse50", absent="")
    p.add_argument("--timesteps", type=checks.positive_int, default=30_000,
                   help="RL training steps per population (default 30000)")
    options.add_out(p, "results/rl_table", "output folder, also the resume cache")
    p.add_argument("--no-resume", action="store_true", help="train and run everything again even if stored")
    options.add_quiet(p)


def run(args: argparse.Namespace) -> int:
    """``mass rl-table``: the results table on the synthetic markets and (if present) SSE50."""
    markets = [m.strip().lower() for m in args.markets.split(",") if m.strip()]
    unknown = [m for m in markets if m not in MARKETS]
    if unknown or not markets:
        args.parser.error(f"--markets takes a comma list of {', '.join(MARKETS)}; got {args.markets!r}")
    writable_dir(args.out)
    say: Say = options.progress(args)
    root = None
    if "sse50" in markets:
        try:
            root = sse50_root(args.data)
        except ValueError as exc:
            if markets == ["sse50"]:
                raise
            print(f"mass rl-table: warning: {exc}: skipping the SSE50 table", file=sys.stderr)
            markets.remove("sse50")
    for label in markets:
        t0 = time.perf_counter()
        res = results_table(Path(args.out) / label, market_name=label, seeds=args.seeds, data=root,
                            rl_timesteps=args.timesteps, resume=not args.no_resume, say=say)
        print(f"\n== {label}: Rank IC over the evaluation days, mean [95% CI] over seeds {list(args.seeds)} "
              f"({time.perf_counter() - t0:.0f}s)")
        print(res.format())
    return 0
