"""Follower populations a sweep can play against, by name.

A sweep names its followers (``SweepSpec.followers``) instead of holding them, so a spec stays a
small picklable value and a run's resume key can say which population it used. ``scripted`` is
built in; ``register_followers`` adds others (the ``mass ablation --followers llm`` path registers
its LLM factory here). ``FOLLOWER_SOURCES`` names the files defining each population: they are
hashed into the runs' resume fingerprint (``experiments.fingerprint.run_sources``).

Registrations made at run time live in this process only: process-pool and Ray workers see the
entries created when they import this module (``scripted``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mass_env.env import MassStackelbergEnv

FollowerFactory = Callable[[MassStackelbergEnv, int], Mapping[str, Any]]


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
