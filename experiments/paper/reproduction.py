"""``mass reproduce``: the seed paper's table regenerated under its own conditions and under this
project's, side by side, with the statistics needed to read it.

One call runs the paper's configs (A-F at 64 agents, E-512, A-512) plus baselines on the shared
SSE50 data (``--data sse50``, read from ``$MASS_DATA_ROOT``) over several seeds, once per fidelity
preset (``experiments.paper.fidelity``: ``paper`` = the paper's code as it ran, confounds included;
``clean`` = this project's design), each preset a resumable sweep in ``out/<preset>``
(``experiments.sweep.engine.run_ablation``). It then reports per preset:

* the published number (``experiments.paper.claims.PUBLISHED``) next to ours: the mean with its CI,
  and the sd over seeds labelled as the seed spread it is;
* the CI of each config's difference to A and its minimum detectable difference, from one standard
  error (``experiments.stats.inference.difference_ci``, via ``experiments.stats.report``);
* whether the paper's smallest gap can be resolved with these seeds and days, how many seeds it needs,
  or that no number of seeds resolves it (the floor set by the day noise every seed shares), from that
  same standard error;
* the effective number of types each leader uses and the median learned alpha;
* the paper's qualitative claims judged holds / does not hold / unresolved (``experiments.paper.claims``).

The terminal gets a compact summary (``summary``: ours vs published and the CI vs A per preset, one
line per claim); the full table goes to the files. Files in ``out``: ``reproduce.csv`` (one row per
preset and config), ``claims.csv``, ``reproduce.md`` (the full 12-column table, the claims with their
estimates, what the run can resolve) and ``reproduce.json`` (all of it, with the spec, each preset's conditions and
their differences, and the timing).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from experiments.paper.claims import PAPER, PAPER_CONFIGS, PAPER_GAP, PUBLISHED, Evidence, judge_claims
from experiments.paper.fidelity import PRESETS, Fidelity, episode_window, fidelity_from
from experiments.stats.statistics import leader_choices
from experiments.sweep.engine import AblationResult, run_ablation
from experiments.sweep.markets import market_for, parse_data
from experiments.sweep.spec import SweepSpec
from experiments.sweep.store import atomic_write, to_jsonable
from mass_env.data.datasets import SSE50_WINDOW
from mass_env.game.components import ric_column

if TYPE_CHECKING:
    from experiments.parallel.executors import Executor

#: Markets ``mass reproduce`` can run: the paper's SSE50 window (``sse50``, or the shared-data root
#: folder), or the embedded synthetic market (``synthetic[:n_days=N]``: no files; for quick checks).
MARKETS = ("sse50", "synthetic")
DEFAULT_SEEDS = tuple(range(5))


@dataclass(frozen=True)
class ReproduceSpec:
    """Everything a reproduction depends on besides the code."""

    presets: tuple[str, ...] = ("clean", "paper")
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    #: ``--data``: ``sse50[:key=value,...]``, the shared-data root, or ``synthetic[:n_days=N]``
    data: str = "sse50"
    configs: tuple[str, ...] = PAPER_CONFIGS
    baselines: tuple[str, ...] = ("equal", "oracle")
    #: explicit fidelity options (field -> value) applied on top of every preset
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: allow ``overrides`` that contradict a preset (the run is then neither preset)
    override: bool = False
    agents: int | None = None
    horizon: int = 10
    n_boot: int = 2000
    ci: float = 0.95
    #: also store each run's views and reports (``SweepSpec.record_reports``)
    record_reports: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", dict(self.overrides))
        if not self.presets:
            raise ValueError("reproduce needs at least one preset")
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown:
            raise ValueError(f"unknown preset {unknown[0]!r}; choose from {', '.join(PRESETS)} or both")
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds}")
        _check_data(self.data)

    def fidelities(self) -> dict[str, Fidelity]:
        """Each preset with the explicit options; an option contradicting a preset is an error unless
        ``override``."""
        out = {}
        for p in self.presets:
            fid = fidelity_from(p, **self.overrides)
            clash = PRESETS[p].differences(fid)
            if clash and not self.override:
                said = ", ".join(f"--{k.replace('_', '-')} {v[1]} (preset {p}: {v[0]})" for k, v in clash.items())
                raise ValueError(f"{said} contradict(s) --preset {p}; drop the flag, choose the other preset, "
                                 "or pass --override to run modified presets")
            out[p] = fid
        return out

    def sweep(self, fidelity: Fidelity) -> SweepSpec:
        """The sweep of one preset: the paper's configs and the baselines under ``fidelity``."""
        return SweepSpec.build(list(self.configs), baselines=self.baselines, agents=self.agents, seeds=self.seeds,
                               data=self.data, horizon=self.horizon, n_boot=self.n_boot, ci=self.ci,
                               fidelity=fidelity, record_reports=self.record_reports)

    def as_dict(self) -> dict[str, Any]:
        return {"presets": list(self.presets), "seeds": list(self.seeds), "data": self.data,
                "configs": list(self.configs), "baselines": list(self.baselines),
                "overrides": dict(self.overrides), "override": self.override, "agents": self.agents,
                "horizon": self.horizon, "n_boot": self.n_boot, "ci": self.ci, "record_reports": self.record_reports}


def _check_data(data: str) -> None:
    """``--data`` of ``mass reproduce``: the paper's SSE50 market or the synthetic one (``parse_data``
    also checks that a data folder exists)."""
    choice = parse_data(data)
    if choice.kind == "path" and choice.root is not None and (Path(choice.root) / SSE50_WINDOW).exists():
        return
    if choice.kind == "dataset" and choice.name in MARKETS:
        return
    raise ValueError(f"--data {data!r} is not the paper's market; mass reproduce runs {' or '.join(MARKETS)} "
                     "(or the shared-data root folder); use `mass ablation --data` for other markets")


def check_inputs(spec: ReproduceSpec) -> dict[str, SweepSpec]:
    """Every preset's sweep, checked before anything runs: contradicting options, a missing data folder,
    an evaluation window outside the panel each give one clear error."""
    sweeps = {p: spec.sweep(f) for p, f in spec.fidelities().items()}
    for p, sw in sweeps.items():
        panel = market_for(sw, sw.seeds[0])
        try:
            episode_window(panel, sw.fidelity, sw.eval_skip)
        except ValueError as exc:
            raise ValueError(f"preset {p}: {exc}") from None
    return sweeps


# ---------------------------------------------------------------------------------------- the tables
def preset_rows(preset: str, res: AblationResult, spec: ReproduceSpec) -> pd.DataFrame:
    """One row per config of a preset's sweep: published, ours (mean, its CI, sd over seeds), the CI of
    the difference to A and its MDD (the table's, ``experiments.stats.report``), the leader's effective
    number of types and median alpha."""
    head = ric_column("signal", spec.horizon)
    choices = leader_choices(res.daily, res.weights).set_index("config")
    rows = []
    for _, t in res.table.iterrows():
        name = t["config"]
        pub = PUBLISHED.get(name)
        mdd = t[f"{head}_mdd"] if t["kind"] != "oracle" else np.nan
        rows.append({
            "preset": preset, "config": name, "kind": t["kind"], "fitness": t["fitness"], "alpha_mode": t["alpha_mode"],
            "optimizer": t["optimizer"], "mu": t["turnover_penalty"], "population": t["population"],
            "published": pub.value if pub else np.nan, "published_std": pub.std if pub and pub.std else np.nan,
            "published_seeds": pub.seeds if pub else 0, "n_seeds": t["n_seeds"], "eval_days": t["eval_days"],
            "mean": t[f"{head}_mean"], "mean_lo": t[f"{head}_mean_lo"], "mean_hi": t[f"{head}_mean_hi"],
            "std": t[f"{head}_std"],
            "consensus_mean": t[f"{ric_column('consensus', spec.horizon)}_mean"],
            "diff_vs_A": t[f"{head}_diff"], "diff_lo": t[f"{head}_lo"], "diff_hi": t[f"{head}_hi"], "mdd_vs_A": mdd,
            "eff_types": choices["eff_types"].get(name, np.nan) if t["kind"] != "oracle" else np.nan,
            "n_types": choices["n_types"].get(name, np.nan),
            "alpha_median": choices["alpha_median"].get(name, np.nan),
        })
    return pd.DataFrame(rows)


def gap_statement(res: AblationResult, spec: ReproduceSpec) -> dict[str, Any]:
    """Can this run resolve the paper's smallest gap (A - D)? With how many seeds, or none?"""
    what, delta = PAPER_GAP
    ev = Evidence(res.daily, horizon=spec.horizon, n_boot=1, ci=spec.ci)
    if not ev.has("A", "D"):
        return {"statement": f"{what} not run", "seeds_needed": None}
    r = ev.diff("A", "D")
    return {"statement": r.statement(delta, f"the paper's smallest gap ({what})"),
            "seeds_needed": r.seeds_needed(delta), "mdd_3_seeds": r.mdd(n_seeds=3), **r.as_dict()}


def _cell(m: float, lo: float, hi: float) -> str:
    """Ours as the headline: the mean with its CI."""
    if not np.isfinite(m):
        return ""
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) and np.isfinite(hi) else f"{m:+.3f}"


def _sd(s: float) -> str:
    return f"{s:.3f}" if np.isfinite(s) else ""


def _ci(d: float, lo: float, hi: float) -> str:
    if not np.isfinite(d):
        return ""
    return f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) else f"{d:+.3f}"


def markdown(rows: pd.DataFrame, claims: pd.DataFrame, gaps: Mapping[str, Mapping[str, Any]],
             spec: ReproduceSpec) -> str:
    """The printed report: results side by side per preset, the claims, and what the run can resolve."""
    presets = list(spec.presets)
    lines = [f"Paper: {PAPER}. Ours: {spec.data}, {len(spec.seeds)} seeds {list(spec.seeds)}, 10d Rank IC of the "
             f"combined signal, mean [{int(spec.ci * 100)}% CI]; sd seeds: the spread of the seed means (not "
             "the precision of the mean); Δ vs A: the difference to A [CI]; MDD: minimum detectable difference "
             "vs A (80% power, the same standard error as the CI); "
             "types: effective number of types used (exp entropy of the applied weights), of: the types in "
             "play (mean over seeds).", "", LEGEND, ""]
    head = "| config | paper |" + "".join(f" {p}: ours | {p}: sd seeds | {p}: Δ vs A | {p}: MDD | {p}: types |"
                                         f" {p}: of | {p}: α med |" for p in presets)
    lines += [head, "|" + "---|" * (2 + 7 * len(presets))]
    for name in dict.fromkeys(rows["config"]):
        pub = PUBLISHED.get(name)
        cells = [name, pub.text() if pub else ""]
        for p in presets:
            r = rows[(rows["preset"] == p) & (rows["config"] == name)]
            if r.empty:
                cells += [""] * 7
                continue
            x = r.iloc[0]
            cells += [_cell(x["mean"], x["mean_lo"], x["mean_hi"]), _sd(x["std"]),
                      _ci(x["diff_vs_A"], x["diff_lo"], x["diff_hi"]),
                      f"{x['mdd_vs_A']:.3f}" if np.isfinite(x["mdd_vs_A"]) else "",
                      _number(x["eff_types"]), _number(x["n_types"]) if np.isfinite(x["eff_types"]) else "",
                      f"{x['alpha_median']:.2f}" if np.isfinite(x["alpha_median"]) else ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Claims (holds / does not hold / unresolved: the t test rejects on the claimed side / on the other "
              "side / neither; a claim of several parts tests each at its Holm-corrected level):", "",
              "| claim | paper | judged as |" + "".join(f" {p} |" for p in presets),
              "|" + "---|" * (3 + len(presets))]
    for key in dict.fromkeys(claims["key"]):
        c = claims[claims["key"] == key]
        first = c.iloc[0]
        cells = [first["claim"], first["paper"], first["rule"]]
        for p in presets:
            x = c[c["preset"] == p]
            cells.append(f"**{x.iloc[0]['verdict']}**: {x.iloc[0]['estimate']}" if len(x) else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "What this run can resolve:"]
    lines += [f"- {p}: {gaps[p]['statement']}" for p in presets]
    return "\n".join(lines)


#: What the tables' notation means (printed with every table).
LEGEND = ("Legend: paper \"+0.033 ± 0.010 (3s)\" = the published mean ± std over 3 seeds; ours = mean over "
          "this run's seeds and days [its confidence interval]; Δ vs A = difference to config A [its confidence "
          "interval]; a ratio claim is judged only once its denominator's interval excludes 0.")


def _number(x: float) -> str:
    """A count-like mean as a reader writes it: 8, 5.7, 3.9."""
    if not np.isfinite(x):
        return ""
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def summary(rows: pd.DataFrame, claims: pd.DataFrame, gaps: Mapping[str, Mapping[str, Any]],
            spec: ReproduceSpec) -> str:
    """The compact terminal report: ours vs published and the CI vs A per preset, one line per claim,
    what the run can resolve. The full table is ``markdown`` (written to ``reproduce.md``)."""
    presets = list(spec.presets)
    lines = [f"Paper: {PAPER}.", f"Ours: {spec.data}, {len(spec.seeds)} seed(s) {list(spec.seeds)}; 10-day Rank "
             f"IC of the combined signal, mean [{int(spec.ci * 100)}% CI]; Δ vs A [{int(spec.ci * 100)}% CI] (t "
             "intervals: seed part + the day noise all seeds share).", LEGEND, ""]
    width = max(8, *(len(str(c)) for c in rows["config"]))
    cols = [("config", width), ("paper", 21)] + [(f"{p}: {w}", n) for p in presets
                                                 for w, n in (("ours", 24), ("Δ vs A", 24))]
    lines.append("  ".join(f"{c:<{n}}" for c, n in cols).rstrip())
    for name in dict.fromkeys(rows["config"]):
        pub = PUBLISHED.get(name)
        cells = [name, pub.text() if pub else ""]
        for p in presets:
            r = rows[(rows["preset"] == p) & (rows["config"] == name)]
            x = r.iloc[0] if len(r) else None
            cells += ["" if x is None else _cell(x["mean"], x["mean_lo"], x["mean_hi"]),
                      "" if x is None else _ci(x["diff_vs_A"], x["diff_lo"], x["diff_hi"])]
        lines.append("  ".join(f"{c:<{n}}" for c, (_, n) in zip(cells, cols)).rstrip())
    lines += ["", "Claims (holds / does not hold / unresolved: the t test rejects on the claimed side / the other "
              "side / neither; several parts: Holm-corrected):"]
    for key in dict.fromkeys(claims["key"]):
        c = claims[claims["key"] == key]
        said = ", ".join(f"{p} {c[c['preset'] == p].iloc[0]['verdict']}" for p in presets if (c["preset"] == p).any())
        lines.append(f"  {c.iloc[0]['claim']}: {said}")
    lines += ["", "What this run can resolve:"] + [f"  {p}: {gaps[p]['statement']}" for p in presets]
    return "\n".join(lines)


@dataclass
class ReproduceResult:
    spec: ReproduceSpec
    rows: pd.DataFrame
    claims: pd.DataFrame
    gaps: dict[str, dict[str, Any]]
    sweeps: dict[str, AblationResult]
    files: dict[str, str]
    wall_s: float

    def format(self) -> str:
        """The full report (``reproduce.md``)."""
        return markdown(self.rows, self.claims, self.gaps, self.spec)

    def summary(self) -> str:
        """The compact report for the terminal."""
        return summary(self.rows, self.claims, self.gaps, self.spec)


def _prefixed(say: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda msg: say(prefix + msg)


def run_reproduce(spec: ReproduceSpec, out: str | Path, *, executor: Executor | None = None, resume: bool = True,
                  progress: Callable[[str], None] | None = None) -> ReproduceResult:
    """Run every preset's sweep (resumable, ``out/<preset>``), judge the claims and write the files."""
    t0 = time.perf_counter()
    say = progress or (lambda msg: None)
    out = Path(out)
    sweeps = check_inputs(spec)
    results: dict[str, AblationResult] = {}
    for p, sw in sweeps.items():
        n = len(sw.configs) * len(sw.seeds)
        say(f"[{p}] conditions: {sw.fidelity.describe()}; {n} runs ({len(sw.configs)} configs x {len(sw.seeds)} "
            f"seeds) -> {out / p}")
        results[p] = run_ablation(sw, out / p, executor=executor, resume=resume, plot=False,
                                  progress=_prefixed(say, f"[{p}] "))
    rows = pd.concat([preset_rows(p, r, spec) for p, r in results.items()], ignore_index=True)
    claims = pd.concat([judge_claims(r.daily, horizon=spec.horizon, n_boot=spec.n_boot, ci=spec.ci).assign(preset=p)
                        for p, r in results.items()], ignore_index=True)
    gaps = {p: gap_statement(r, spec) for p, r in results.items()}
    wall = time.perf_counter() - t0
    res = ReproduceResult(spec, rows, claims, gaps, results, {}, wall)
    files = {"rows": out / "reproduce.csv", "claims": out / "claims.csv", "markdown": out / "reproduce.md",
             "json": out / "reproduce.json"}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(files["rows"], lambda f: rows.to_csv(f, index=False))
    atomic_write(files["claims"], lambda f: claims.to_csv(f, index=False))
    atomic_write(files["markdown"], lambda f: f.write_text(res.format() + "\n"))
    fids = {p: sw.fidelity for p, sw in sweeps.items()}
    summary = {
        "spec": spec.as_dict(), "paper": PAPER, "published": {k: vars(v) for k, v in PUBLISHED.items()},
        "conditions": {p: f.as_dict() for p, f in fids.items()},
        "differences": {f"{a} vs {b}": fids[a].differences(fids[b]) for a in fids for b in fids if a < b},
        "rows": rows.to_dict(orient="records"), "claims": claims.to_dict(orient="records"), "resolution": gaps,
        "runs": {p: {"computed": len(r.computed), "reused": len(r.reused), "wall_s": r.wall_s}
                 for p, r in results.items()},
        "wall_s": wall, "executor": getattr(executor, "name", "serial"),
        "workers": getattr(executor, "workers", 1),
    }
    atomic_write(files["json"], lambda f: f.write_text(json.dumps(summary, indent=2, default=to_jsonable)))
    res.files = {k: str(v) for k, v in files.items()}
    return res
