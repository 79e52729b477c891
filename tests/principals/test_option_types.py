"""A leader's options get the type it declares, at parse time; a user's leader is fingerprinted with the code
it runs (its helpers included); a user's module that does not compile is a clear error."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

import principals
from experiments.cli import main
from experiments.sweep.configs import AblationConfig
from experiments.sweep.fingerprint import code_fingerprint, run_sources
from experiments.sweep.principal_specs import principal_configs
from mass_env.errors import MassError

POP = [(8, 8)]


@pytest.mark.parametrize("text, value", [("no", False), ("off", False), ("0", False), ("false", False),
                                         ("yes", True), ("True", True), ("1", True)])
def test_a_boolean_option_written_as_a_word_is_that_boolean(text, value):
    cfg = principal_configs([f"sa:learn_alpha={text}"], POP)[0]
    assert cfg.options["learn_alpha"] is value
    assert principals.make("sa", learn_alpha=text).window.learn_alpha is value


@pytest.mark.parametrize("spec, words", [
    ("sa:learn_alpha=maybe", ["'learn_alpha'", "'sa'", "true or false", "'maybe'"]),
    ("sa:step=nan", ["'step'", "finite number", "'nan'"]),
    ("sa:step=inf", ["'step'", "finite number"]),
    ('sa:lookback="5"', ["'lookback'", "whole number", "lookback=5"]),
    ("sa:lookback=2.5", ["'lookback'", "whole number"]),
    ("gradient:steps=ten", ["'steps'", "'gradient'", "whole number"]),
    ("cmaes:alpha=[1]", ["'alpha'", "finite number"]),
])
def test_an_option_of_the_wrong_type_is_a_clear_error_before_anything_runs(spec, words):
    with pytest.raises(MassError) as err:
        principal_configs([spec], POP)
    for w in words:
        assert w in str(err.value)


def test_optional_options_take_none_and_numbers_become_their_type():
    cfg = principal_configs(["sa:min_days=none,lookback=5.0,alpha=1"], POP)[0]
    assert cfg.options == {"min_days": None, "lookback": 5, "alpha": 1.0}
    assert type(cfg.options["lookback"]) is int and type(cfg.options["alpha"]) is float
    assert cfg.name.startswith("SA-min_daysnone-lookback5.0-alpha1")  # the label keeps what was typed


def test_a_user_leader_options_get_its_annotations_or_its_defaults_type(tmp_path, monkeypatch):
    (tmp_path / "typed_leader.py").write_text(USER_LEADER)
    (tmp_path / "typed_helper.py").write_text(HELPER.format(scale=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cfg = principal_configs(["typed_leader:Lead:tilt=4,flag=no"], POP)[0]
        assert cfg.options == {"tilt": 4.0, "flag": False}
        with pytest.raises(MassError, match="'tilt'.*finite number"):
            principal_configs(["typed_leader:Lead:tilt=high"], POP)
    finally:
        sys.modules.pop("typed_leader", None)
        sys.modules.pop("typed_helper", None)


def test_a_user_module_with_a_syntax_error_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken_leader.py").write_text("class Lead(:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["ablation", "--principal", "broken_leader:Lead", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "broken_leader.py, line 1: SyntaxError" in err and "Traceback" not in err


USER_LEADER = '''
import numpy as np
from mass_env import PrincipalAction
from typed_helper import weights

class Lead:
    def __init__(self, tilt: float = 3.0, flag=True):
        self.name, self.tilt = "lead", tilt

    def reset(self, n_types, *, seed=None):
        self.n = n_types

    def act(self, ctx):
        return PrincipalAction(weights(self.n, self.tilt), 0.5)

    def observe(self, paid):
        pass
'''

HELPER = '''
import numpy as np

def weights(n, tilt):
    w = np.ones(n)
    w[0] = tilt * {scale}
    return w
'''


def test_editing_a_helper_module_the_user_leader_imports_recomputes_the_stored_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "typed_leader.py").write_text(USER_LEADER)
    (tmp_path / "typed_helper.py").write_text(HELPER.format(scale=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["ablation", "--configs", "A", "--agents", "2", "--days", "45", "--seeds", "1", "--baselines", "none",
            "--boot", "0", "--no-plot", "--quiet", "--principal", "typed_leader:Lead", "--out", str(tmp_path / "o")]
    try:
        cfg = AblationConfig("LEAD", "typed_leader:Lead", {}, 8, 2, 0.0)
        files = run_sources(cfg, "scripted")
        assert tmp_path / "typed_helper.py" in files
        assert main(args) == 0
        before = pd.read_csv(tmp_path / "o" / "table.csv").set_index("config")
        fp = code_fingerprint(files)
        (tmp_path / "typed_helper.py").write_text(HELPER.format(scale=5))
        assert code_fingerprint(files) != fp
        capsys.readouterr()
        assert main(args) == 0
        assert "1 run(s) computed, 1 reused" in capsys.readouterr().out  # the leader's run, not config A
        after = pd.read_csv(tmp_path / "o" / "table.csv").set_index("config")
        assert after.loc["A"].equals(before.loc["A"])
    finally:
        sys.modules.pop("typed_leader", None)
        sys.modules.pop("typed_helper", None)
