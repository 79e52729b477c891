"""Follower populations by name: what a sweep means by ``followers="scripted"`` or ``"llm"``.

A population factory is ``factory(env, seed, **options) -> {agent name: Follower}``. Its options
are plain values, so a sweep sends ``(name, options)`` to process-pool and Ray workers, which
build the population themselves from this registry (populated when ``agents.populations`` is
imported; installed packages add entries through the ``mass_mechanism.followers`` entry-point group).
Each entry also says what determines its answers (``identity``, hashed into run keys) and which
source files do (``sources``, hashed into resume fingerprints).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from mass_env.registry import Registry
from mass_env.roles import Follower

PopulationFactory = Callable[..., Mapping[str, Follower]]

POPULATIONS: Registry[Mapping[str, Follower]] = Registry("follower population",
                                                         entry_point_group="mass_mechanism.followers")
_SOURCES: dict[str, tuple[Path, ...]] = {}


def register_population(name: str, factory: PopulationFactory, *, aliases: Iterable[str] = (),
                        sources: Iterable[str | Path] = (), replace: bool = False) -> PopulationFactory:
    """Make ``make_followers(name, env, seed, **options)`` call ``factory``. ``sources``: the files that
    define the followers' behaviour (default: the factory's own module file). A factory may carry an
    ``identity(options) -> dict`` attribute naming what determines its answers (default: the options)."""
    POPULATIONS.register(name, factory, aliases=aliases, replace=replace)
    files = tuple(Path(p).resolve() for p in sources)
    if not files:
        import inspect

        try:
            src = inspect.getsourcefile(factory)
        except TypeError:
            src = None
        files = (Path(src).resolve(),) if src else ()
    _SOURCES[POPULATIONS.canonical(name)] = files
    return factory


def make_followers(name: str, env: Any, seed: int, **options: Any) -> Mapping[str, Follower]:
    """The population ``name`` for ``env``, seeded by ``seed``."""
    return POPULATIONS.get(name)(env, seed, **options)


def parse_population(spec: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:key=value,...]`` -> (name, options): the name must be registered, and options only go to a
    population whose factory normalises them (an ``options(mapping) -> dict`` attribute, which raises an
    error naming the valid keys); the options come back normalised (numbers as numbers)."""
    name, _, rest = str(spec).strip().partition(":")
    if name not in POPULATIONS:
        raise ValueError(f"unknown followers {name!r}; available: {', '.join(POPULATIONS.available())}")
    raw: dict[str, Any] = {}
    for item in (x for x in rest.split(",") if x.strip()):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"follower option {item!r} is not key=value (in {spec!r})")
        raw[key.strip()] = value.strip()
    if not raw:
        return POPULATIONS.canonical(name), {}
    normalise = getattr(POPULATIONS.get(name), "options", None)
    if not callable(normalise):
        raise ValueError(f"followers {name!r} take no options in a NAME:key=value spec")
    return POPULATIONS.canonical(name), dict(normalise(raw))


def population_identity(name: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What determines the answers of population ``name`` with ``options`` (JSON-able)."""
    factory = POPULATIONS.get(name)
    ident = getattr(factory, "identity", None)
    opts = dict(options or {})
    body = ident(opts) if callable(ident) else opts
    return json.loads(json.dumps({"population": POPULATIONS.canonical(name), **body}, sort_keys=True, default=str))


def population_sources(name: str) -> tuple[Path, ...]:
    """Source files whose code determines population ``name``'s signals."""
    POPULATIONS.get(name)
    return _SOURCES.get(POPULATIONS.canonical(name), ())


# ---------------------------------------------------------------------------------------- built-ins
def scripted_population(env: Any, seed: int, **options: Any) -> Mapping[str, Follower]:
    """The scripted investors (``mass_env.scripted``); options ``noise``, ``n_candidates``, ``output``, ``draw``."""
    from mass_env import scripted_followers

    return scripted_followers(env, seed=seed, **options)


def llm_population(env: Any, seed: int, **options: Any) -> Mapping[str, Follower]:
    """LLM investors (``agents.llm``); options ``backend``, ``backend_options``, ``cache``, ``cache_mode``,
    ``n_candidates``, ``output``, ``decode`` ... (see ``agents.llm.follower.llm_population``); with ``told`` (a
    payment rule, or ``view``) and ``pay_days``: followers told the rule (``agents.llm.told.told_population``)."""
    if options.get("told") is not None:
        from .llm.told import told_population

        return told_population(env, seed, **options)
    from .llm.follower import llm_population as build

    return build(env, seed, **options)


def _llm_identity(options: Mapping[str, Any]) -> dict[str, Any]:
    from .llm.follower import llm_identity

    return llm_identity(**dict(options))


llm_population.identity = _llm_identity  # type: ignore[attr-defined]

def _scripted_sources() -> list[Path]:
    import mass_env.scripted

    return [Path(mass_env.scripted.__file__)]


register_population("scripted", scripted_population, sources=_scripted_sources())
register_population("llm", llm_population, sources=sorted((Path(__file__).resolve().parent / "llm").rglob("*.py")))


def hedge_population(env: Any, seed: int, **options: Any) -> Mapping[str, Follower]:
    """Hedge followers (``agents.hedge``): scripted views, reports chosen by no-regret learning over a
    strategy library, paid by a payment rule; options ``eta``, ``library``, ``shade``, ``exaggerate``,
    ``constants``, ``rule`` and the scripted views' ``noise``, ``n_candidates``, ``output``, ``draw``."""
    from .hedge import hedge_population as build

    return build(env, seed, **options)


def _hedge_identity(options: Mapping[str, Any]) -> dict[str, Any]:
    from .hedge import hedge_identity

    return hedge_identity(options)


def _hedge_sources() -> list[Path]:
    import mass_env.incentives.ingame
    import mass_env.incentives.learning
    import mass_env.incentives.rules
    import mass_env.scripted

    return [Path(__file__).resolve().parent / "hedge.py"] + [Path(m.__file__) for m in (
        mass_env.scripted, mass_env.incentives.learning, mass_env.incentives.rules, mass_env.incentives.ingame)]


hedge_population.identity = _hedge_identity  # type: ignore[attr-defined]
hedge_population.options = _hedge_identity  # type: ignore[attr-defined]
register_population("hedge", hedge_population, sources=_hedge_sources())


def rl_population(env: Any, seed: int, **options: Any) -> Mapping[str, Follower]:
    """PPO followers (``agents.rl``): one policy shared by every type and stock, trained on the days before
    the episode (the view in its observation) or loaded; options ``steps``, ``train_days``, ``rollout``,
    ``lr``, ``path``, ``save``, ``verbose`` (the ``rl`` extra)."""
    from .rl import rl_population as build

    return build(env, seed, **options)


def _rl_identity(options: Mapping[str, Any]) -> dict[str, Any]:
    from .rl import rl_identity

    return rl_identity(options)


def _rl_options(options: Mapping[str, Any]) -> dict[str, Any]:
    from dataclasses import asdict

    from .rl import RLOptions

    defaults = asdict(RLOptions())
    return {k: v for k, v in asdict(RLOptions.parse(options)).items() if k in options or v != defaults[k]}


def _rl_sources() -> list[Path]:
    from importlib import import_module

    here = Path(__file__).resolve().parent
    return [here / "rl.py", here / "ppo.py"] + [Path(str(import_module(f"mass_env.{m}").__file__)) for m in (
        "observation", "followers_env", "incentives.ingame")]


rl_population.identity = _rl_identity  # type: ignore[attr-defined]
rl_population.options = _rl_options  # type: ignore[attr-defined]
register_population("rl", rl_population, sources=_rl_sources())
