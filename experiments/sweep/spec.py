"""``SweepSpec``: everything an ablation sweep depends on besides the code.

A spec is a frozen, picklable value: the sweep hashes it into each run's resume key, sends it to
workers as it is, and writes it to ``ablation.json`` (``as_dict``), so a table can always be traced
back to the settings that produced it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import principals
from agents.populations import POPULATIONS
from experiments.paper.fidelity import Fidelity, under_fidelity
from experiments.sweep.checks import check_seeds
from experiments.sweep.configs import DEFAULT_BASELINES, DEFAULT_CONFIGS, AblationConfig, resolve
from mass_env.data.returns import REPORT_HORIZONS
from mass_env.registry import module_roots


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
    follower_options: Mapping[str, Any] = field(default_factory=dict)
    #: the paper's conditions (``experiments.paper.fidelity``); the configs' leader options and the follower
    #: options follow from it (``under_fidelity``); default: clean
    fidelity: Fidelity = Fidelity()
    #: also store each run's views and reports (``experiments.sweep.store``: a parquet beside the run);
    #: not part of a run's key, since it changes no result
    record_reports: bool = False

    def __post_init__(self) -> None:
        if not self.configs:
            raise ValueError("a sweep needs at least one config")
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        if self.horizon < 1 or self.n_days < 1:
            raise ValueError(f"horizon and n_days must be >= 1, got {self.horizon} and {self.n_days}")
        if len({c.name for c in self.configs}) != len(self.configs):
            raise ValueError("config names must be unique")
        if self.followers not in POPULATIONS:
            raise ValueError(f"unknown followers {self.followers!r}; available: {', '.join(POPULATIONS.available())}")
        if not isinstance(self.fidelity, Fidelity):
            raise ValueError(f"fidelity must be an experiments.paper.fidelity.Fidelity, got "
                             f"{type(self.fidelity).__name__}")
        # the paper's conditions enter here, and only here: the leaders' and followers' options they imply
        configs, follower_options = under_fidelity(self.configs, self.followers, self.follower_options, self.fidelity)
        object.__setattr__(self, "configs", configs)
        object.__setattr__(self, "follower_options", follower_options)
        if not 0 < self.ci < 1 or self.n_boot < 0 or self.eval_skip < 0:
            raise ValueError("need 0 < ci < 1, n_boot >= 0 and eval_skip >= 0")

    @classmethod
    def default(cls, configs: str | Sequence[str] = DEFAULT_CONFIGS, *,
                baselines: Sequence[str] = DEFAULT_BASELINES, **kwargs: Any) -> SweepSpec:
        """The paper's configs (by name) plus ``baselines`` at each population they use."""
        return cls(tuple(resolve(list(configs) if not isinstance(configs, str) else configs,
                                 tuple(baselines))), **kwargs)

    @classmethod
    def build(cls, configs: str | Sequence[str] = DEFAULT_CONFIGS, *, baselines: Sequence[str] = DEFAULT_BASELINES,
              agents: int | None = None, extra_principals: Sequence[str] = (), **kwargs: Any) -> SweepSpec:
        """What ``mass ablation`` and ``mass reproduce`` run: ``default(configs, baselines)`` with every
        config's agents per type set to ``agents`` (None: each config's own), plus one row per extra
        leader spec in ``extra_principals`` (``experiments.sweep.principal_specs``: ``gradient``, ``rl:PATH``,
        ``NAME:k=v``, ``module:Attr``) at each population the configs use. ``kwargs`` are the spec's
        fields, ``fidelity`` included."""
        rows = resolve(list(configs) if not isinstance(configs, str) else configs, tuple(baselines))
        if agents:
            rows = [replace(c, agents_per_type=agents) for c in rows]
        if extra_principals:
            from experiments.sweep.principal_specs import importable_from_cwd, principal_configs

            importable_from_cwd()
            rows += principal_configs(extra_principals, list(dict.fromkeys(c.population for c in rows)))
        return cls(tuple(rows), **kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {"configs": [c.as_dict() for c in self.configs], "seeds": list(self.seeds),
                "data": self.data, "n_days": self.n_days, "market_seed": self.market_seed,
                "vary_market": self.vary_market, "followers": self.followers, "horizon": self.horizon,
                "eval_skip": self.eval_skip, "reference": self.reference, "n_boot": self.n_boot,
                "ci": self.ci, "oracle_evals_per_dim": self.oracle_evals_per_dim,
                "oracle_max_evals": self.oracle_max_evals, "follower_options": dict(self.follower_options),
                "fidelity": self.fidelity.as_dict(), "record_reports": self.record_reports}

    @property
    def report_horizons(self) -> tuple[int, ...]:
        """Horizons of the history's and the table's Rank IC columns: 1, 5, 10 and the payoff horizon."""
        return tuple(sorted({*REPORT_HORIZONS, self.horizon}))

    def plugin_modules(self) -> tuple[str, ...]:
        """Modules a worker imports before it runs: they register this sweep's leaders and followers
        (built-ins and user plugins alike), so a worker process resolves the same names."""
        mods = principals.registry.PRINCIPALS.modules([c.principal for c in self.configs])
        mods += POPULATIONS.modules([self.followers])
        return tuple(dict.fromkeys(mods))

    def plugin_paths(self) -> tuple[str, ...]:
        """The folders ``plugin_modules`` were imported from: a worker that does not share this process's
        ``sys.path`` (Ray's do not) adds them before importing, so a user's module outside any installed
        package is found on the same machine too."""
        return module_roots(self.plugin_modules())
