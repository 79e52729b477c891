"""The LLM backend registry: built-ins by name, unknown names, custom backends, light imports."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

from agents.llm import BaseBackend, available_backends, llm_followers, make_backend, register_backend
from agents.llm.backends.base import ScriptedBackend
from agents.llm.backends.registry import BACKENDS
from mass_env import GameConfig, MassStackelbergEnv, build_types
from mass_env.registry import UnknownNameError
from mass_env.testing import follower_signals


class Mine(BaseBackend):
    """A custom backend: the scripted answers, counting every request it is asked."""

    def __init__(self, spread: float = 0.75) -> None:
        super().__init__()
        self.inner = ScriptedBackend(spread)
        self.asked = 0

    @property
    def fingerprint(self):
        return {"backend": "mine", "spread": self.inner.spread}

    def _answer(self, requests, emit):
        self.asked += len(requests)
        for i, a in enumerate(self.inner.answer(requests)):
            emit(i, a)


@pytest.fixture
def mine():
    register_backend("mine", Mine, aliases=("my-backend",))
    try:
        yield Mine
    finally:
        BACKENDS.unregister("mine")


def test_builtins_are_registered_with_their_aliases():
    assert available_backends()[:3] == ("local", "openai", "scripted")
    assert BACKENDS.canonical("transformers") == "local" and BACKENDS.canonical("vllm") == "openai"
    assert isinstance(make_backend("scripted", spread=0.5), ScriptedBackend)
    assert isinstance(make_backend("Scripted"), ScriptedBackend)  # names are case-insensitive
    # what a worker imports
    assert BACKENDS.modules(["local", "openai", "scripted"]) == ("agents.llm.backends.registry",)


def test_unknown_backend_lists_the_valid_names(small_market):
    with pytest.raises(UnknownNameError, match="local, openai, scripted") as err:
        make_backend("no-such-backend")
    assert isinstance(err.value, ValueError) and "no-such-backend" in str(err.value)
    env = MassStackelbergEnv(small_market[0], build_types(1, 1), GameConfig(horizon=5))
    with pytest.raises(ValueError, match="available: local, openai, scripted"):
        llm_followers(env, "no-such-backend")


def test_backend_objects_pass_through():
    be = ScriptedBackend()
    assert make_backend(be) is be
    with pytest.raises(TypeError):
        make_backend(be, spread=0.1)  # options only make sense with a name
    with pytest.raises(TypeError, match="local, openai, scripted"):
        make_backend(42)  # type: ignore[arg-type]


def test_a_registered_custom_backend_is_used_by_name(mine, small_market):
    assert "mine" in available_backends()
    be = make_backend("mine", spread=0.5)
    assert type(be) is Mine and be.inner.spread == 0.5
    assert type(make_backend("MY-BACKEND")) is Mine
    env = MassStackelbergEnv(small_market[0], build_types(2, 2), GameConfig(horizon=5))
    followers = llm_followers(env, "mine", seed=0, n_candidates=5, backend_options={"spread": 0.5})
    assert type(followers.backend) is Mine
    mine_signals = follower_signals(env, followers, start=25, end=27, seed=0)
    assert mine_signals and followers.backend.asked == len(mine_signals) * 2 * 2  # days x types x agents
    assert followers.report()["backend"] == {"backend": "mine", "spread": 0.5}
    # the same signals as the scripted backend it wraps
    ref = llm_followers(env, "scripted", seed=0, n_candidates=5, backend_options={"spread": 0.5})
    ref_signals = follower_signals(env, ref, start=25, end=27, seed=0)
    assert len(mine_signals) == len(ref_signals)
    for a, b in zip(mine_signals, ref_signals):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_registering_a_taken_name_needs_replace(mine):
    with pytest.raises(ValueError, match="already registered"):
        register_backend("mine", Mine)
    register_backend("mine", ScriptedBackend, replace=True)
    assert type(make_backend("mine")) is ScriptedBackend


def test_lazy_reference_is_resolved_only_when_made():
    register_backend("lazy-test", "agents.llm.no_such_module:Nothing", doc="never importable")
    try:
        assert "lazy-test" in available_backends()  # registering imported nothing
        with pytest.raises(ModuleNotFoundError):
            make_backend("lazy-test")
    finally:
        BACKENDS.unregister("lazy-test")


def test_cli_choices_and_help_come_from_the_registry(mine, small_market, tmp_path):
    from agents.llm.options import add_arguments, factory_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    action = next(a for a in p._actions if a.dest == "llm_backend")
    assert tuple(action.choices) == available_backends() and "mine" in action.choices
    for name in ("local", "openai", "scripted", "mine"):
        assert f"{name}:" in action.help
    args = p.parse_args(["--llm-backend", "mine", "--llm-candidates", "5"])
    fac = factory_from_args(args, tmp_path)
    assert fac.name.startswith("llm-mine-")
    followers = fac(MassStackelbergEnv(small_market[0], build_types(1, 1), GameConfig(horizon=5)), 0)
    assert type(followers.backend.inner) is Mine  # the sweep's backend, behind the response cache
    with pytest.raises(SystemExit):
        p.parse_args(["--llm-backend", "nope"])


def test_importing_agents_llm_imports_no_model_framework():
    code = "import agents.llm, sys; print([m for m in ('torch', 'transformers', 'openai') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
