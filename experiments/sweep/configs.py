"""The configurations of the paper's ablation table (A-F, E-512, A-512) and the baselines, by name.

=======  ==============  ==========  =========  ======  =============
config   fitness         alpha       optimiser  mu      population
=======  ==============  ==========  =========  ======  =============
A        disagreement    0.5 fixed   SA         0       8 x 8
B        combined        0.5 fixed   SA         0       8 x 8
C        combined        learned     SA         0       8 x 8
D        combined        learned     CMA-ES     0       8 x 8
F        combined        learned     CMA-ES     0.01    8 x 8
E        combined        learned     CMA-ES     0.1     8 x 8
E-512    combined        learned     CMA-ES     0.1     32 x 16
A-512    disagreement    0.5 fixed   SA         0       32 x 16
=======  ==============  ==========  =========  ======  =============

Every optimiser uses the MASS window: the last 5 days whose 5-day forward return has realised, re-
optimised every day, warm-started from the previous day's solution. ``mu`` is the paper's lambda, the
turnover penalty (``AblationConfig.turnover_penalty``): it is a rule of the game
(``GameConfig.turnover_penalty``), charged in the reported payoff, and the leaders read it from their
decision context into their fitness (``RankIC - mu * ||d_t - d_{t-1}||_1 / 2``). It is not the
mechanism's inertia (the action's third component), which stays 0. The fitness / alpha / optimiser
words of a row are derived from its leader and options (``describe``), never typed by hand.

Baselines (``BASELINES``): equal weights, random weights (Dirichlet(1), one draw per episode), and
the hindsight oracle, which is not a point-in-time leader but an upper bound computed after the
fact (``experiments.stats.oracle.hindsight_oracle``). A baseline is run at every population size the
selected configs use; at 32 x 16 its name gets the suffix ``-512``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from principals.registry import principal_info

#: Population sizes: (types, agents per type).
P64 = (8, 8)
P512 = (32, 16)


@dataclass(frozen=True)
class AblationConfig:
    """One row of the ablation: a leader (``principals.make`` name + options) and a population."""

    name: str
    principal: str
    options: Mapping[str, Any] = field(default_factory=dict)
    n_types: int = 8
    agents_per_type: int = 8
    turnover_penalty: float = 0.0
    fitness: str = ""
    alpha: str = ""
    optimizer: str = ""
    kind: str = "config"  # "config" | "baseline" | "oracle"
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        if self.turnover_penalty < 0:
            raise ValueError(f"{self.name}: turnover_penalty must be >= 0")
        if self.kind not in ("config", "baseline", "oracle"):
            raise ValueError(f"{self.name}: kind must be config, baseline or oracle")
        derived = describe(self.principal, self.options, self.kind)
        for key, value in zip(("fitness", "alpha", "optimizer"), derived):
            if not getattr(self, key):
                object.__setattr__(self, key, value)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle through the constructor (``options`` is a MappingProxyType, which does not pickle),
        so configs and the specs holding them travel to process-pool and Ray workers as they are."""
        return (type(self), tuple(dict(self.options) if f.name == "options" else getattr(self, f.name)
                                  for f in fields(self)))

    @property
    def n_agents(self) -> int:
        return self.n_types * self.agents_per_type

    @property
    def population(self) -> tuple[int, int]:
        return (self.n_types, self.agents_per_type)

    def principal_options(self) -> dict[str, Any]:
        """Options for ``principals.make`` (the game's turnover penalty reaches the leader through its
        decision context, so it is not repeated here)."""
        return dict(self.options)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "principal": self.principal, "options": dict(self.options),
                "n_types": self.n_types, "agents_per_type": self.agents_per_type,
                "turnover_penalty": self.turnover_penalty, "fitness": self.fitness,
                "alpha": self.alpha, "optimizer": self.optimizer, "kind": self.kind,
                "label": self.label or self.name}


_FITNESS_WORDS = {"disagreement": "disagreement", "signal": "combined", "consensus": "consensus"}


def describe(principal: str, options: Mapping[str, Any], kind: str = "config") -> tuple[str, str, str]:
    """The table's ``(fitness, alpha, optimiser)`` words for a leader and its options, derived from
    what the leader will do (its registered window defaults overridden by the options), so a label
    can never disagree with the options it describes."""
    if kind == "oracle":
        return "per metric", "fit", "hindsight"
    if kind == "baseline":
        return "-", f"{float(options.get('alpha', 0.5)):g} fixed", "none"
    try:
        info = principal_info(principal)
    except ValueError:
        return "-", "-", principal
    defaults, label = info.window_defaults, info.label
    if defaults is None:
        return "-", "-", label
    opts = {**defaults, **options}
    fitness = _FITNESS_WORDS.get(str(opts.get("component", "signal")), str(opts.get("component")))
    alpha = "learned" if opts.get("learn_alpha") else f"{float(opts.get('alpha', 0.5)):g} fixed"
    return fitness, alpha, label


def _sa(name: str, component: str, learn_alpha: bool, pop: tuple[int, int] = P64) -> AblationConfig:
    return AblationConfig(name, "sa", {"component": component, "learn_alpha": learn_alpha}, pop[0], pop[1])


def _cma(name: str, mu: float, pop: tuple[int, int] = P64) -> AblationConfig:
    return AblationConfig(name, "cmaes", {"component": "signal", "learn_alpha": True}, pop[0], pop[1], mu)


#: The paper's table, in its order.
CONFIGS: Mapping[str, AblationConfig] = MappingProxyType({c.name: c for c in (
    _sa("A", "disagreement", False),
    _sa("B", "signal", False),
    _sa("C", "signal", True),
    _cma("D", 0.0),
    _cma("F", 0.01),
    _cma("E", 0.1),
    _cma("E-512", 0.1, P512),
    _sa("A-512", "disagreement", False, P512),
)})

DEFAULT_CONFIGS = ("A", "B", "C", "D", "E", "F")

#: Baselines by name: run at each population size of the selected configs.
BASELINES: Mapping[str, AblationConfig] = MappingProxyType({
    "equal": AblationConfig("EQ", "equal", {}, kind="baseline", label="equal weights (baseline)"),
    "random": AblationConfig("RAND", "random", {}, kind="baseline", label="random weights (baseline)"),
    "oracle": AblationConfig("ORACLE", "equal", {}, kind="oracle", label="oracle (hindsight upper bound)"),
})
DEFAULT_BASELINES = ("equal", "oracle")


def population_suffix(pop: tuple[int, int]) -> str:
    """'' for the paper's 64 agents (8 x 8), '-512' for 32 x 16, '-KxM' otherwise."""
    if pop == P64:
        return ""
    if pop == P512:
        return "-512"
    return f"-{pop[0]}x{pop[1]}"


def baseline_for(name: str, pop: tuple[int, int]) -> AblationConfig:
    """The baseline ``name`` (equal | random | oracle) at population ``pop``."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    b = BASELINES[name]
    sfx = population_suffix(pop)
    return replace(b, name=b.name + sfx, n_types=pop[0], agents_per_type=pop[1],
                   label=b.label + (f" {pop[0]}x{pop[1]}" if sfx else ""))


def resolve(names: str | list[str] | tuple[str, ...], baselines: tuple[str, ...] = DEFAULT_BASELINES
            ) -> list[AblationConfig]:
    """Configs by name (comma-separated or a list), in the order given, then the baselines."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    lookup = {k.upper(): v for k, v in CONFIGS.items()}
    out: list[AblationConfig] = []
    for n in names:
        cfg = lookup.get(n.upper())
        if cfg is None:
            raise ValueError(f"unknown config {n!r}; choose from {', '.join(CONFIGS)}")
        if cfg not in out:
            out.append(cfg)
    pops = list(dict.fromkeys(c.population for c in out))
    for b in baselines:
        for pop in pops:
            out.append(baseline_for(b, pop))
    return out
