"""Every name removed or renamed in 0.3, and where it went: one table, consulted by the import system.

0.3 removes the old names instead of forwarding them (no deprecation shims). ``REMOVED`` maps each old
dotted path to its new home (a dotted path) or, where it is gone for good, a sentence saying what to do.
Its keys take four forms:

* a module (``mass_env.panel``): ``import mass_env.panel`` raises ``ImportError`` naming the new module
  (a ``sys.meta_path`` finder installed when ``mass_env``, ``agents``, ``principals`` or ``experiments``
  is imported);
* a name in a module that still exists (``mass_env.ScriptedInvestor``): ``from mass_env import
  ScriptedInvestor`` raises ``ImportError`` naming the new one (the module's ``__getattr__`` consults
  this table; modules imported later get it as they load);
* an attribute of a class (``mass_env.game.mechanism.PrincipalAction.lam``): ``AttributeError`` naming
  the new attribute;
* a keyword of a call (``mass_env.followers_env.FollowersEnv(leader=)``): the keyword is unknown
  (``TypeError``); the table says which keyword replaces it.

``tests/mass_env/test_removed.py`` checks every entry both ways: the old path fails with the new home
in its message, and the new home exists.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["REMOVED", "install", "message"]

_POP = "agents.populations"
_MOVED_0_2 = {  # modules that 0.2 moved into data/ and game/ (importable with a warning until 0.3)
    "aggregation": "mass_env.game.aggregation", "investors": "mass_env.game.investors",
    "macro": "mass_env.data.macro", "mechanism": "mass_env.game.mechanism", "metrics": "mass_env.game.metrics",
    "modalities": "mass_env.data.modalities", "panel": "mass_env.data.panel", "returns": "mass_env.data.returns",
    "scoring": "mass_env.game.scoring", "synthetic": "mass_env.data.synthetic", "view": "mass_env.data.view",
}
_LOADERS = ("was split in 0.2: the long table in mass_env.data.frame, vendor adapters in mass_env.data.vendors, "
            "named datasets in mass_env.data.datasets")

#: old dotted path -> new dotted path, or a sentence where there is no one-to-one replacement
REMOVED: dict[str, str] = {
    # ---- modules moved in 0.2 (their forwarding stubs are gone)
    **{f"mass_env.{old}": new for old, new in _MOVED_0_2.items()},
    "mass_env.loaders": f"the old loaders module {_LOADERS}",
    "mass_env.data.loaders": f"the old loaders module {_LOADERS}",
    "mass_env._compat": "the deprecation helpers are gone with the deprecated names; see mass_env.removed",
    "principals.testing": "mass_env.testing",
    "principals.base": "the leader protocol is mass_env.Principal, its context mass_env.DecisionContext, "
                       "and EqualWeights is principals.EqualWeights",
    "agents.scripted": "mass_env.scripted_followers",
    # ---- attributes and keywords renamed in 0.2
    "mass_env.game.mechanism.PrincipalAction.lam": "mass_env.game.mechanism.PrincipalAction.inertia",
    "mass_env.game.stackelberg.GameConfig.lambda_max": "mass_env.game.stackelberg.GameConfig.inertia_max",
    "principals.rl.RLPrincipal(use_lambda=)": "principals.rl.RLPrincipal(use_inertia=)",
    "principals._REGISTRY": "the leader registry is principals.registry.PRINCIPALS; add a leader with "
                            "principals.register and list them with principals.available",
    # ---- one word per role in identifiers: principal and follower (0.3)
    "mass_env.ScriptedInvestor": "mass_env.scripted.ScriptedFollower",
    "mass_env.scripted.ScriptedInvestor": "mass_env.scripted.ScriptedFollower",
    "mass_env.investor_agent": "mass_env.roles.follower_agent",
    "mass_env.roles.investor_agent": "mass_env.roles.follower_agent",
    "mass_env.testing.PlantedInvestor": "mass_env.testing.PlantedFollower",
    "mass_env.followers_env.FollowersEnv(leader=)": "mass_env.followers_env.FollowersEnv(principal=)",
    "mass_env.followers_env.followers_env(leader=)": "mass_env.followers_env.followers_env(principal=)",
    "mass_env.rollout.rollout(leader=)": "mass_env.rollout.rollout(principal=)",
    "principals.registry.LeaderInfo": "principals.registry.PrincipalInfo",
    "principals.registry.leader_info": "principals.registry.principal_info",
    "principals.window.WindowedLeader": "principals.window.WindowedPrincipal",
    "principals.blackbox.register_window_leader": "principals.blackbox.register_window_principal",
    # ---- names that left the top level of mass_env (0.3: one import path per name, namespaces below)
    "mass_env.ActionCodec": "mass_env.game.mechanism.ActionCodec",
    "mass_env.apply_inertia": "mass_env.game.mechanism.apply_inertia",
    "mass_env.turnover": "mass_env.game.mechanism.turnover",
    "mass_env.Aggregate": "mass_env.game.aggregation.Aggregate",
    "mass_env.TypeMoments": "mass_env.game.aggregation.TypeMoments",
    "mass_env.aggregate": "mass_env.game.aggregation.aggregate",
    "mass_env.type_moments": "mass_env.game.aggregation.type_moments",
    "mass_env.Component": "mass_env.game.components.Component",
    "mass_env.ric_column": "mass_env.game.components.ric_column",
    "mass_env.RankICScorer": "mass_env.game.metrics.RankICScorer",
    "mass_env.ic": "mass_env.game.metrics.ic",
    "mass_env.rank_ic": "mass_env.game.metrics.rank_ic",
    "mass_env.summarize": "mass_env.game.metrics.summarize",
    "mass_env.ScoringWindow": "mass_env.game.scoring.ScoringWindow",
    "mass_env.StackelbergGame": "mass_env.game.StackelbergGame",
    "mass_env.Payoff": "mass_env.game.Payoff",
    "mass_env.Modality": "mass_env.data.modalities.Modality",
    "mass_env.PointInTimeView": "mass_env.data.view.PointInTimeView",
    "mass_env.ReturnSpec": "mass_env.data.returns.ReturnSpec",
    "mass_env.forward_returns": "mass_env.data.returns.forward_returns",
    "mass_env.SyntheticTruth": "mass_env.data.synthetic.SyntheticTruth",
    "mass_env.align_by_release": "mass_env.data.macro.align_by_release",
    "mass_env.from_long_frame": "mass_env.data.frame.from_long_frame",
    "mass_env.read_table": "mass_env.data.frame.read_table",
    "mass_env.FixedCommitment": "mass_env.scripted.FixedCommitment",
    "mass_env.FollowersEnv": "mass_env.followers_env.FollowersEnv",
    "mass_env.ObservationLayout": "mass_env.observation.ObservationLayout",
    "mass_env.PrincipalObsLayout": "mass_env.observation.PrincipalObsLayout",
    "mass_env.FollowerObsLayout": "mass_env.observation.FollowerObsLayout",
    "mass_env.Registry": "mass_env.registry.Registry",
    "mass_env.Rollout": "mass_env.rollout.Rollout",
    "mass_env.Transition": "mass_env.rollout.Transition",
    "mass_env.default_market": "mass_env.env.default_market",
    # ---- the AEC view has its own module (mass_env.env is the parallel env's doc page)
    "mass_env.env.MassAECEnv": "mass_env.aec.MassAECEnv",
    "mass_env.env.raw_env": "mass_env.raw_env",
    # ---- names that left the top level of principals
    "principals.DecisionContext": "mass_env.DecisionContext",
    "principals.Principal": "mass_env.Principal",
    "principals.PRINCIPALS": "principals.registry.PRINCIPALS",
    "principals.AskTellOptimizer": "principals.blackbox.AskTellOptimizer",
    "principals.Objective": "principals.blackbox.Objective",
    "principals.SearchResult": "principals.blackbox.SearchResult",
    "principals.SearchSpace": "principals.blackbox.SearchSpace",
    "principals.optimise": "principals.blackbox.optimise",
    "principals.make_sa": "principals.annealing.make_sa",
    "principals.make_cmaes": "principals.cmaes.make_cmaes",
    "principals.make_gradient": "principals.gradient.make_gradient",
    "principals.make_rl": "principals.rl.make_rl",
    # ---- names that left the top level of agents (it is the follower populations API now)
    "agents.ScriptedInvestor": "mass_env.scripted.ScriptedFollower",
    "agents.scripted_followers": "mass_env.scripted_followers",
    "agents.follower_actions": "mass_env.follower_actions",
    "agents.InvestorType": "mass_env.InvestorType",
    "agents.build_types": "mass_env.build_types",
    "agents.STYLES": "mass_env.game.investors.STYLES",
    "agents.ALL_STYLES": "mass_env.game.investors.ALL_STYLES",
    # ---- experiments: the 0.2 forwarding modules and names
    "experiments.followers": _POP,
    "experiments.sweep.run_ablation_parallel": "experiments.sweep.engine.run_ablation (pass executor=...)",
    # experiments.ablation is the `mass ablation` command now; what it forwarded in 0.2 lives here:
    **{f"experiments.ablation.{n}": f"experiments.sweep.engine.{n}" for n in ("run_ablation", "AblationResult")},
    "experiments.ablation.run_one": "experiments.sweep.workers.run_one",
    "experiments.ablation.Progress": "experiments.sweep.engine.run_ablation takes progress= as a plain callable of "
                                     "one message",
    **{f"experiments.ablation.{n}": f"experiments.sweep.store.{n}" for n in ("RunStore", "RunResult", "run_key",
                                                                           "FORMAT_VERSION")},
    "experiments.ablation._atomic": "experiments.sweep.store.atomic_write",
    "experiments.ablation._jsonable": "experiments.sweep.store.to_jsonable",
    "experiments.ablation.metric": "mass_env.game.components.ric_column",
    "experiments.ablation.paired_bootstrap": "experiments.stats.statistics.paired_bootstrap",
    **{f"experiments.ablation.{n}": f"experiments.stats.report.{n}"
       for n in ("table_metrics", "summarise_runs", "ablation_table", "format_table",
                 "TABLE_COMPONENTS", "ORACLE_LABEL")},
    **{f"experiments.ablation.{n}": f"experiments.stats.oracle.{n}" for n in ("hindsight_oracle", "OracleFit",
                                                                            "COMPONENTS")},
    **{f"experiments.ablation.{n}": f"experiments.sweep.markets.{n}" for n in ("market_for", "market_fingerprint")},
    **{f"experiments.ablation.{n}": f"experiments.sweep.fingerprint.{n}"
       for n in ("run_sources", "code_fingerprint", "versions")},
    "experiments.ablation.plot_ablation": "experiments.stats.plots.plot_ablation",
    "experiments.ablation.FOLLOWERS": f"{_POP}.POPULATIONS",
    "experiments.ablation.FOLLOWER_SOURCES": f"{_POP}.population_sources",
    "experiments.ablation.register_followers": f"{_POP}.register_population",
    # ---- experiments by concern (0.3): one module per `mass` command, the rest in sub-packages
    **{f"experiments.{old}": f"experiments.{new}" for old, new in (
        ("spec", "sweep.spec"), ("configs", "sweep.configs"), ("leaders", "sweep.principal_specs"),
        ("markets", "sweep.markets"), ("checks", "sweep.checks"), ("store", "sweep.store"),
        ("fingerprint", "sweep.fingerprint"), ("runner", "sweep.workers"), ("llm_prefetch", "sweep.prefetch"),
        ("executors", "parallel.executors"), ("lifeline", "parallel.lifeline"), ("statistics", "stats.statistics"),
        ("report", "stats.report"), ("oracle", "stats.oracle"), ("plots", "stats.plots"),
        ("fidelity", "paper.fidelity"), ("claims", "paper.claims"), ("llm_designs", "studies.llm_designs"))},
    **{f"experiments.reproduce.{n}": f"experiments.paper.reproduction.{n}"
       for n in ("ReproduceResult", "check_inputs", "preset_rows", "markdown")},
    "experiments.paper.fidelity.apply": "experiments.sweep.spec.SweepSpec takes the conditions as its field "
                                        "fidelity= (or dataclasses.replace(spec, fidelity=f))",
    **{f"experiments.train_rl.{n}": f"experiments.sweep.principal_specs.{n}"
       for n in ("parse_principal", "policy_types", "principal_configs")},
    **{f"experiments.train_rl.{n}": f"experiments.rl_table.{n}"
       for n in ("table_configs", "PanelSweep", "sweep_on_panel", "results_table", "MARKETS")},
    "experiments.train_rl.table_main": "experiments.rl_table.run",
    "experiments.train_rl.main": "experiments.train_rl.run",
    "experiments.train_rl.sse50_pretraining_panel": "experiments.sweep.markets.sse50_pretraining_panel",
    # ---- agents.llm by concern (0.3): backends/, cache/, prompts/; eleven public names
    **{f"agents.llm.{old}": f"agents.llm.{new}" for old, new in (
        ("backend", "backends.base"), ("registry", "backends.registry"), ("local", "backends.local"),
        ("model_files", "backends.model_files"), ("openai_backend", "backends.openai"),
        ("served_rating", "backends.served_rating"), ("llamacpp_server", "backends.llamacpp_server"),
        ("aio", "backends.aio"), ("list_answers", "backends.list_answers"), ("branches", "cache.branches"),
        ("tables", "cache.tables"), ("identity", "cache.identity"), ("prefetch", "cache.prefetch"),
        ("designs", "prompts.designs"), ("investor", "type_policy"), ("cli", "options"))},
    **{f"agents.llm.{n}": f"agents.llm.backends.base.{n}"
       for n in ("OK", "MALFORMED", "REFUSED", "TIMEOUT", "SERVER_ERROR", "CLIENT_ERROR", "ERROR", "STATUSES",
                 "RATINGS", "Item", "BackendStats", "ScriptedBackend", "score_to_probs")},
    "agents.llm.BACKENDS": "agents.llm.backends.registry.BACKENDS",
    **{f"agents.llm.{n}": f"agents.llm.prompts.templates.{n}" for n in ("TEMPLATE_VERSION", "DayBrief", "BriefCache")},
    "agents.llm.CacheFileError": "agents.llm.cache.store.CacheFileError",
    "agents.llm.cache_key": "agents.llm.cache.store.cache_key",
    "agents.llm.CacheMissError": "agents.llm.cache.branches.CacheMissError",
    "agents.llm.answer_identity": "agents.llm.cache.identity.answer_identity",
    "agents.llm.LLMFollowers": "agents.llm.follower.LLMFollowers",
    "agents.llm.LLMInvestor": "agents.llm.type_policy.LLMFollower",
    "agents.llm.TransformersBackend": "agents.llm.backends.local.TransformersBackend",
    "agents.llm.OpenAIBackend": "agents.llm.backends.openai.OpenAIBackend",
}


def message(old: str) -> str:
    """The error message for a removed path: where it went, or what to do instead."""
    new = REMOVED[old]
    if " " in new:
        return f"{old} was removed in 0.3: {new}"
    return f"{old} was removed in 0.3; use {new}"


def _parents() -> dict[str, set[str]]:
    """module -> its removed names (entries whose parent is a module, not a class or a call)."""
    out: dict[str, set[str]] = {}
    for old in REMOVED:
        if "(" in old:
            continue
        parent, _, name = old.rpartition(".")
        if parent.rpartition(".")[2][:1].isupper():  # an attribute of a class: the class handles it
            continue
        out.setdefault(parent, set()).add(name)
    return out


_PARENTS = _parents()


def removed_attribute(owner: type, name: str) -> AttributeError:
    """The ``AttributeError`` for ``owner.name`` (from a class ``__getattr__``): naming the new attribute
    when the table has it, Python's own message otherwise."""
    old = f"{owner.__module__}.{owner.__qualname__}.{name}"
    if old in REMOVED:
        return AttributeError(message(old))
    return AttributeError(f"{owner.__name__!r} object has no attribute {name!r}")


def _module_getattr(module: str, fallback: Callable[[str], Any] | None) -> Callable[[str], Any]:
    names = _PARENTS.get(module, set())

    def __getattr__(name: str) -> Any:
        if name in names:
            raise ImportError(message(f"{module}.{name}"), name=f"{module}.{name}")
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    __getattr__.__removed_hook__ = True  # type: ignore[attr-defined]
    return __getattr__


def _hook(module: ModuleType) -> None:
    current = module.__dict__.get("__getattr__")
    if current is None or not getattr(current, "__removed_hook__", False):
        module.__getattr__ = _module_getattr(module.__name__, current)  # type: ignore[method-assign]


class _HookingLoader(importlib.abc.Loader):
    """Loads a module as its own loader would, then gives it the table's ``__getattr__``."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        _hook(module)  # before its code runs, so a module that fails half-way still names the new paths
        self.inner.exec_module(module)  # type: ignore[attr-defined]
        _hook(module)  # its own __getattr__, if it defines one, is kept as the fallback

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_source, is_package, ...
        return getattr(self.inner, name)


class _RemovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname in REMOVED:
            raise ModuleNotFoundError(message(fullname), name=fullname)
        if fullname not in _PARENTS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _HookingLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once) and hook the modules already imported."""
    if not any(isinstance(f, _RemovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _RemovedFinder())
    for name in _PARENTS:
        module = sys.modules.get(name)
        if module is not None:
            _hook(module)


install()
