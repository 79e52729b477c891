"""Every condition of the paper's runs as a named option: ``Fidelity``, with presets ``clean`` and ``paper``.

The seed paper's numbers came from code (MASS and the follow-up's engine, ``shared/design/mass.md``)
whose conditions differ from this project's corrected design in ways that move the table. Each
difference is one field of ``Fidelity``; ``clean`` (every field's first choice, the default) is this
project's design and reproduces today's default results exactly, ``paper`` is the paper's code as it
ran, confounds included. The conditions enter a sweep in one place, its spec's ``fidelity`` field
(``SweepSpec(..., fidelity=f)`` or ``SweepSpec.build(..., fidelity=f)``): the spec derives its leaders'
and followers' options from it (``under_fidelity``); ``add_fidelity_args`` / ``fidelity_from_args``
give every field a command-line flag (``mass ablation --preset paper --signals continuous``).

Each field acts in the layer that owns the idea: followers' signals in ``mass_env.scripted``, the
aggregation rule in ``mass_env.game.aggregation``, type drawing and merging in
``mass_env.game.investors``, valuations, labels and the longer panel in ``mass_env.data``, the
engine's CMA-ES in ``principals.cmaes`` and its window options; this module only translates.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pandas as pd

from experiments.sweep.configs import AblationConfig
from mass_env.data.panel import MarketPanel
from mass_env.game.investors import InvestorType, build_types, mass_types, with_macro

#: field -> its valid values; the first is the ``clean`` choice.
CHOICES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "signals": ("continuous", "mass_picks"),
    "aggregation": ("agents", "selection_rate"),
    "types": ("explicit", "mass_merge", "mass_drawn"),
    "valuations": ("baostock", "mass_anonymised"),
    "macro": ("modality", "all"),
    "cmaes": ("clean", "engine"),
    "sa_alpha": ("learned", "engine"),
    "labels": ("close", "mass"),
})
WINDOW_FIELDS = ("eval_start", "eval_end")

#: field -> (what MASS / the paper's engine did, what ``clean`` does); the README's Fidelity table.
FIELD_DOCS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "signals": ("each agent draws 20 candidates with replacement (~16.6 distinct of 50) and picks 5: "
                "1 = picked, 0 = not picked (mass_picks)",
                "each agent scores each of its 20 distinct candidates continuously in [-1, 1] (continuous)"),
    "aggregation": ("per-type selection rate picked/exposed, a stock no agent of the type saw counts as 0; "
                    "mean and std across all types (selection_rate)",
                    "every agent that looked counts with its type's weight; unseen = missing (agents)"),
    "types": ("each type draws 1-3 of {OHLCV, industry, price-value} (random.Random(seed)); types that drew "
              "the same mask merge into one weight (8 types -> ~5 keys, 32 -> ~7) (mass_merge); mass_drawn: the "
              "same draws kept as separate types, the population as the paper describes it (32 x 16)",
              "the 8 information sets (x 4 styles at 32 types) as explicit types that never merge (explicit)"),
    "valuations": ("the anonymised price-value features mass/sub_fudamental_data.parq, signs hinted in the "
                   "prompt (mass_anonymised)",
                   "baostock valuations: E/P, B/P, S/P and turnover (baostock)"),
    "macro": ("the macro paragraph is in every agent's strategy prompt (all)",
              "macro is a modality only some types see (modality)"),
    "cmaes": ("raw weights bounded at 1e-6, the best sample, alpha restarted at 0.5 every day, turnover on raw "
              "weights (engine)",
              "softmax logits, the distribution mean, warm-started alpha, turnover on normalised weights (clean)"),
    "sa_alpha": ("SA's learned alpha is ignored (SA has no best_alpha), so config C equals B (engine)",
                 "SA searches alpha as one more coordinate and uses it (learned)"),
    "labels": ("MASS's labels mass/ih_label.parq (1/5/10_15_labelB, a T+1 convention) (mass)",
               "close-to-close returns from the close of t+1 (close)"),
    "eval_start": ("evaluation from 2023-01-03 after a 21-day warm-up from 2022-12-02",
                   "evaluation from the 22nd episode day (eval_skip 21), the episode starting 20 panel days in"),
    "eval_end": ("evaluation through 2023-06-15 (109 days)", "evaluation through the panel's last episode day"),
})


@dataclass(frozen=True)
class Fidelity:
    """The conditions a sweep runs under; ``Fidelity()`` is ``clean`` (this project's design)."""

    #: MASS: 20 candidates with replacement, pick 5 (0/1). clean: continuous scores of 20 distinct candidates.
    signals: str = "continuous"
    #: MASS: per-type selection rates, unseen counts as 0. clean: over agents, unseen = missing.
    aggregation: str = "agents"
    #: MASS: types drawn as modality masks, equal masks merged (mass_merge; mass_drawn: drawn, not merged).
    #: clean: explicit types, never merged.
    types: str = "explicit"
    #: MASS: anonymised price-value features (sub_fudamental_data.parq). clean: baostock valuations.
    valuations: str = "baostock"
    #: MASS: macro shown to every agent. clean: macro is one modality among others.
    macro: str = "modality"
    #: engine: raw weights, best sample, alpha reset to 0.5 daily, raw turnover. clean: logits, mean, warm alpha.
    cmaes: str = "clean"
    #: engine: SA's learned alpha ignored (C == B). clean: SA's learned alpha is used.
    sa_alpha: str = "learned"
    #: MASS: ih_label.parq labels. clean: close-to-close returns from t+1.
    labels: str = "close"
    #: first evaluated date (paper: 2023-01-03); None: ``eval_skip`` days after the episode's start.
    eval_start: str | None = None
    #: last evaluated date (paper: 2023-06-15); None: the episode's last day.
    eval_end: str | None = None

    def __post_init__(self) -> None:
        for name, valid in CHOICES.items():
            value = getattr(self, name)
            if value not in valid:
                raise ValueError(f"fidelity {name}={value!r} is not valid; choose from {', '.join(valid)}")
        for name in WINDOW_FIELDS:
            value = getattr(self, name)
            if value is not None:
                try:
                    ts = pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise ValueError(f"fidelity {name}={value!r} is not a date (YYYY-MM-DD)") from None
                object.__setattr__(self, name, str(ts.date()))
        if self.eval_start and self.eval_end and self.eval_start > self.eval_end:
            raise ValueError(f"eval_start {self.eval_start} is after eval_end {self.eval_end}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, other: Fidelity) -> dict[str, tuple[Any, Any]]:
        """``{field: (self's value, other's value)}`` for every field where the two differ."""
        return {n: (getattr(self, n), getattr(other, n)) for n in self.names()
                if getattr(self, n) != getattr(other, n)}

    @property
    def is_clean(self) -> bool:
        return self == Fidelity()

    def preset_name(self) -> str | None:
        """The preset this equals, if any."""
        return next((k for k, v in PRESETS.items() if v == self), None)

    def describe(self) -> str:
        """One line: the preset's name plus the fields that differ from it (or from clean)."""
        name = self.preset_name()
        if name:
            return name
        base = min(PRESETS, key=lambda k: len(PRESETS[k].differences(self)))
        diff = PRESETS[base].differences(self)
        return base + " with " + ", ".join(f"{k}={v[1]}" for k, v in diff.items())


#: The presets: ``clean`` (this project's design, the default) and ``paper`` (the paper's code as it ran).
PRESETS: Mapping[str, Fidelity] = MappingProxyType({
    "clean": Fidelity(),
    "paper": Fidelity(signals="mass_picks", aggregation="selection_rate", types="mass_merge",
                      valuations="mass_anonymised", macro="all", cmaes="engine", sa_alpha="engine",
                      labels="mass", eval_start="2023-01-03", eval_end="2023-06-15"),
})


def fidelity_from(preset: str = "clean", **overrides: Any) -> Fidelity:
    """``PRESETS[preset]`` with ``overrides`` (field=value) applied; a clear error for an unknown preset,
    field or value. Overrides always win here: a caller that must refuse an override contradicting a
    preset compares with ``PRESETS[preset].differences(result)``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown fidelity preset {preset!r}; choose from {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - set(Fidelity.names()))
    if unknown:
        raise ValueError(f"unknown fidelity option(s) {', '.join(unknown)}; valid: {', '.join(Fidelity.names())}")
    return dataclasses.replace(PRESETS[preset], **overrides)


# ---------------------------------------------------------------------------------------- sweeps
#: CMA-ES options of the engine variant (``principals.cmaes.CMAES`` and the window options).
ENGINE_CMAES_OPTIONS: Mapping[str, Any] = MappingProxyType({
    "encoding": "positive", "recommend": "best", "alpha_start": "reset", "turnover_weights": "raw"})


def config_under(cfg: AblationConfig, fidelity: Fidelity) -> AblationConfig:
    """``cfg`` with the leader options ``fidelity`` implies (CMA-ES engine variant, SA's ignored alpha);
    its table words are derived again from the new options."""
    opts = dict(cfg.options)
    if cfg.kind == "config" and cfg.principal in ("cmaes", "cma", "cma-es") and fidelity.cmaes == "engine":
        opts.update(ENGINE_CMAES_OPTIONS)
    if cfg.kind == "config" and cfg.principal in ("sa", "mass-sa") and fidelity.sa_alpha == "engine" \
            and opts.get("learn_alpha"):
        opts["learn_alpha"] = False
    if opts == dict(cfg.options):
        return cfg
    return dataclasses.replace(cfg, options=opts, fitness="", alpha="", optimizer="")


#: Follower options of ``signals="mass_picks"`` (``mass_env.scripted`` and ``agents.llm`` both take them).
MASS_PICKS_OPTIONS: Mapping[str, Any] = MappingProxyType({"output": "select", "draw": "replacement"})


def under_fidelity(configs: Sequence[AblationConfig], followers: str, follower_options: Mapping[str, Any],
                   fidelity: Fidelity) -> tuple[tuple[AblationConfig, ...], dict[str, Any]]:
    """The configs and follower options a sweep runs under ``fidelity``: its leaders' options
    (``config_under``) and its followers' options (``signals``). ``SweepSpec`` calls this for its
    ``fidelity`` field (idempotent); the sweep reads the field itself for the types (``types_for``),
    the aggregation rule (``game_rule``), the market (``market_options``) and the evaluation window
    (``episode_window``)."""
    opts = dict(follower_options)
    if fidelity.signals == "mass_picks":
        if followers not in ("scripted", "llm"):
            raise ValueError(f"signals=mass_picks sets the follower options {dict(MASS_PICKS_OPTIONS)}, which "
                             f"the scripted and llm populations take; {followers!r} is neither")
        opts.update(MASS_PICKS_OPTIONS)
    return tuple(config_under(c, fidelity) for c in configs), opts


def types_for(cfg: AblationConfig, fidelity: Fidelity, seed: int) -> tuple[InvestorType, ...]:
    """The investor types a run of ``cfg`` plays with: explicit (``build_types``) or the engine's draw
    under the run seed, merged by mask (``mass_types``; 8 types -> ~5, 32 x 16 -> ~7 keys holding all
    512 agents) or not (``mass_drawn``: 32 types of 16 as the paper describes its 512), with macro
    added to every type when ``macro="all"``."""
    if fidelity.types in ("mass_merge", "mass_drawn"):
        types = mass_types(cfg.n_types, cfg.agents_per_type, seed, merge=fidelity.types == "mass_merge")
    else:
        types = build_types(cfg.n_types, cfg.agents_per_type)
    return with_macro(types) if fidelity.macro == "all" else types


def game_rule(fidelity: Fidelity) -> str:
    """The game's aggregation rule (``mass_env.game.aggregation``): ``agent`` or ``selection_rate``."""
    return "selection_rate" if fidelity.aggregation == "selection_rate" else "agent"


#: Trading days of history every feature needs (``mass_env.data.modalities``: the 60-day beta reads 61
#: closes), so a window that starts this far into the panel sees warm features on its first day.
WARM_DAYS = 61


def market_options(fidelity: Fidelity, eval_skip: int = 21) -> dict[str, Any]:
    """Options of the SSE50 dataset (``mass_env.data.datasets.load_sse50_window``) under ``fidelity``:
    valuation and label sources and, with an evaluation window, a longer panel that starts early
    enough for the warm-up and warm features and ends late enough for the 10-day returns to realise."""
    opts: dict[str, Any] = {}
    if fidelity.valuations != "baostock":
        opts["valuations"] = fidelity.valuations
    if fidelity.labels != "close":
        opts["labels"] = fidelity.labels
    if fidelity.eval_start or fidelity.eval_end:
        first = pd.Timestamp(fidelity.eval_start or "2022-12-01")
        last = pd.Timestamp(fidelity.eval_end or "2023-06-30")
        margin = pd.offsets.BDay(WARM_DAYS + eval_skip + 30)  # holidays included
        opts["start"] = str((first - margin).date())
        opts["end"] = str((last + pd.offsets.BDay(30)).date())
    return opts


def episode_window(panel: MarketPanel, fidelity: Fidelity, eval_skip: int) -> dict[str, int] | None:
    """``env.reset`` options ``{"start", "end"}`` that make the evaluation (the episode's days from
    ``eval_skip`` on) cover exactly ``[eval_start, eval_end]``; None without a window. A clear error
    when the window is outside the panel or the panel starts too late for warm features."""
    if not (fidelity.eval_start or fidelity.eval_end):
        return None
    dates, n = panel.dates, panel.n_days
    span = f"panel {panel.name!r} covers {dates[0].date()}..{dates[-1].date()}"
    out: dict[str, int] = {}
    if fidelity.eval_start:
        e0 = int(dates.searchsorted(pd.Timestamp(fidelity.eval_start)))
        if e0 >= n - 1:
            raise ValueError(f"eval_start {fidelity.eval_start} is after the last decision day; {span}")
        if e0 - eval_skip < WARM_DAYS:
            raise ValueError(f"evaluating from {fidelity.eval_start} after a {eval_skip}-day warm-up needs "
                             f"{WARM_DAYS + eval_skip} trading days of data before it for warm features, the "
                             f"{span} ({e0}); use a panel that starts earlier")
        out["start"] = e0 - eval_skip
    if fidelity.eval_end:
        e1 = int(dates.searchsorted(pd.Timestamp(fidelity.eval_end), side="right")) - 1
        if e1 > n - 2 or e1 < 0:
            raise ValueError(f"eval_end {fidelity.eval_end} is outside the decision days; {span} "
                             "(the last day only realises returns)")
        out["end"] = e1
    if out.get("end", n - 2) < out.get("start", 0) + eval_skip:
        raise ValueError(f"the evaluation window {fidelity.eval_start}..{fidelity.eval_end} holds no "
                         f"evaluation day; {span}")
    return out


# ---------------------------------------------------------------------------------------- command line
def add_fidelity_args(parser: argparse.ArgumentParser, *, both: bool = False) -> None:
    """``--preset`` and one flag per ``Fidelity`` field (``--signals``, ..., ``--eval-start``). With
    ``both``, ``--preset`` also takes ``both`` (the default then): a command that runs the presets side by side."""
    g = parser.add_argument_group("the paper's conditions (experiments/paper/fidelity.py)")
    g.add_argument("--preset", choices=(*PRESETS, "both") if both else tuple(PRESETS), default="both" if both else None,
                   help=("paper, clean, or both side by side (default)" if both else
                         "clean (this project's design, default) or paper (the paper's code as it ran)")
                   + "; a flag below that contradicts an explicit --preset is an error unless --override")
    for name, valid in CHOICES.items():
        did, clean = FIELD_DOCS[name]
        g.add_argument("--" + name.replace("_", "-"), dest=f"fidelity_{name}", choices=valid, default=None,
                       help=f"paper: {did}; clean: {clean}")
    for name in WINDOW_FIELDS:
        g.add_argument("--" + name.replace("_", "-"), dest=f"fidelity_{name}", default=None, metavar="YYYY-MM-DD",
                       help=f"{FIELD_DOCS[name][0]} (paper: {getattr(PRESETS['paper'], name)})")
    g.add_argument("--override", action="store_true",
                   help="allow flags that contradict an explicit --preset (the run is then neither preset)")


def fidelity_from_args(args: argparse.Namespace) -> Fidelity:
    """The ``Fidelity`` of parsed arguments: the preset (default clean) and the explicit flags. A flag
    contradicting an explicit ``--preset`` is an error unless ``--override`` was given."""
    preset = getattr(args, "preset", None)
    flags = {n: getattr(args, f"fidelity_{n}", None) for n in Fidelity.names()}
    flags = {n: v for n, v in flags.items() if v is not None}
    result = fidelity_from(preset or "clean", **flags)
    if preset is not None and not getattr(args, "override", False):
        clash = PRESETS[preset].differences(result)
        if clash:
            said = ", ".join(f"--{k.replace('_', '-')} {v[1]} (preset {preset}: {v[0]})" for k, v in clash.items())
            raise ValueError(f"{said} contradict(s) --preset {preset}; drop the flag, drop --preset, "
                             "or pass --override to run a modified preset")
    return result
