"""Bring your own leader: ``--principal module:Attr`` and installed entry points, on every executor.

The user's code lives in a temporary folder that is *not* on the workers' path (Ray workers get only
the driver script's folder), as a user's module in their working folder would be.
"""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd
import pytest
from repo_paths import REPO

import principals
from experiments.cli import main
from experiments.sweep.configs import AblationConfig, baseline_for
from experiments.sweep.engine import run_ablation
from experiments.sweep.principal_specs import parse_principal, principal_configs
from experiments.sweep.spec import SweepSpec
from mass_env.errors import MassError
from mass_env.testing import check_principal

LEADER_SRC = '''
import numpy as np
from mass_env import PrincipalAction

class Tilted:
    """Puts ``tilt`` times the weight on type ``k`` and holds it."""
    label = "tilted"

    def __init__(self, tilt=3.0, k=0):
        self.name, self.tilt, self.k = "tilted", float(tilt), int(k)

    def reset(self, n_types, *, seed=None):
        self.w = np.ones(n_types)
        self.w[self.k] = self.tilt

    def act(self, ctx):
        return PrincipalAction(self.w, 0.5)

    def observe(self, paid):
        pass

def make_tilted(**options):
    return Tilted(**options)

NOT_A_LEADER = 3

def broken():
    return object()
'''

ENTRY_POINTS = """[mass_mechanism.principals]
byol-tilted = byol_ep_leader:make_tilted
"""


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A folder with the user's module ``byol_user_leader`` and an installed-looking package
    ``byol_ep_leader`` (a dist-info with an entry point), on this process's path only."""
    d = tmp_path / "user"
    d.mkdir()
    (d / "byol_user_leader.py").write_text(LEADER_SRC)
    (d / "byol_ep_leader.py").write_text(LEADER_SRC)
    info = d / "byol_ep_leader-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: byol-ep-leader\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(d))
    yield d
    if "byol-tilted" in principals.registry.PRINCIPALS._factories:
        principals.registry.PRINCIPALS.unregister("byol-tilted")
    for m in ("byol_user_leader", "byol_ep_leader"):
        sys.modules.pop(m, None)


def test_specs_parse_to_registered_names_or_references(user_dir):
    assert parse_principal("byol_user_leader:Tilted:tilt=4,k=1") == ("byol_user_leader:Tilted", {"tilt": 4, "k": 1})
    assert parse_principal("byol_user_leader:make_tilted") == ("byol_user_leader:make_tilted", {})
    assert parse_principal("sa:component=signal") == ("sa", {"component": "signal"})  # registered names win
    rows = principal_configs(["byol_user_leader:Tilted:tilt=4", "byol-tilted:k=2"], [(3, 2), (8, 8)])
    assert [r.name for r in rows] == ["TILTED-tilt4-3x2", "TILTED-tilt4", "BYOL-TILTED-k2-3x2", "BYOL-TILTED-k2"]
    assert rows[0].principal == "byol_user_leader:Tilted" and rows[0].optimizer == "tilted"
    check_principal(lambda: principals.make("byol_user_leader:Tilted", tilt=2.0), n_days=50)
    assert principals.make("byol-tilted", tilt=2.0).tilt == 2.0  # found through the entry point


@pytest.mark.parametrize("spec, words", [
    ("nosuchleader", ["unknown principal", "sa, cmaes, anticipating, equal", "module:Attr"]),
    ("no_such_module_xyz:Leader", ["no module named 'no_such_module_xyz'", "PYTHONPATH"]),
    ("byol_user_leader:Nope", ["has no attribute 'Nope'", "Tilted", "make_tilted"]),
    ("byol_user_leader:NOT_A_LEADER", ["not a class or factory"]),
    ("byol_user_leader:Tilted:tilted=4", ["unknown option(s)", "['k', 'tilt']"]),
    ("byol_user_leader:Tilted:tilt", ["key=value pairs"]),
    ("sa:bogus=1", ["unknown option(s)", "'sa'"]),
])
def test_bad_specs_are_clear_errors(user_dir, spec, words):
    with pytest.raises(ValueError) as err:
        principal_configs([spec], [(3, 2)])
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_a_factory_that_builds_no_principal_is_named(user_dir):
    with pytest.raises(MassError, match="built a object, which is not a Principal: it lacks name, reset, act"):
        principals.make("byol_user_leader:broken")


def test_list_shows_configs_and_leaders_with_labels(user_dir, capsys):
    assert main(["ablation", "--list"]) == 0
    out = capsys.readouterr().out
    assert "E-512" in out and "baselines" in out
    for name in principals.available():
        assert any(line.split()[:2] == [name, principals.registry.principal_info(name).label.split()[0]]
                   for line in out.splitlines()), name
    assert "byol-tilted" in out  # an installed plugin's leader is listed too
    assert "module:Attr" in out


def test_mass_ablation_runs_a_module_leader_from_the_working_folder_on_process_workers(user_dir, tmp_path,
                                                                                     monkeypatch, capsys):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(user_dir)])  # as the `mass` script
    monkeypatch.chdir(user_dir)
    args = ["ablation", "--configs", "A", "--agents", "2", "--days", "45", "--seeds", "1", "--baselines", "equal",
            "--boot", "0", "--no-plot", "--quiet", "--principal", "byol_user_leader:Tilted:tilt=4",
            "--out", str(tmp_path / "out"), "--reference", "EQ"]
    assert main(args + ["--executor", "process", "--workers", "1"]) == 0
    assert "3 run(s) computed" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "table.csv").set_index("config")
    assert set(table.index) == {"A", "TILTED-tilt4-8x2", "EQ"}
    assert table.loc["TILTED-tilt4-8x2", "optimizer"] == "tilted"
    assert main(args) == 0  # serial: the same keys, so every run is reused
    assert "0 run(s) computed, 3 reused" in capsys.readouterr().out


def test_ray_workers_rebuild_module_and_entry_point_leaders(user_dir, tmp_path, ray_executor):
    configs = (AblationConfig("TILT", "byol_user_leader:Tilted", {"tilt": 4.0}, 3, 2),
               AblationConfig("EP", "byol-tilted", {"k": 2}, 3, 2), baseline_for("equal", (3, 2)))
    spec = SweepSpec(configs, seeds=(0,), n_days=45, n_boot=0, reference="EQ-3x2")
    assert {"byol_user_leader", "byol_ep_leader"} <= set(spec.plugin_modules())
    assert str(user_dir) in spec.plugin_paths()  # what the workers are sent to find them
    serial = run_ablation(spec, tmp_path / "serial", plot=False)
    on_ray = run_ablation(spec, tmp_path / "ray", plot=False, executor=ray_executor)
    assert on_ray.computed == serial.computed == [("TILT", 0), ("EP", 0), ("EQ-3x2", 0)]
    pd.testing.assert_frame_equal(serial.daily, on_ray.daily)
    last = on_ray.weights[on_ray.weights["day"] == on_ray.weights["day"].max()].set_index(["config", "type"])
    assert last.loc[("TILT", 0), "weight"] == pytest.approx(4 / 6)
    assert last.loc[("EP", 2), "weight"] == pytest.approx(3 / 5)


def test_a_worker_without_the_folder_reports_what_to_do(tmp_path):
    from mass_env.registry import import_modules

    with pytest.raises(MassError, match="not importable in this worker process.*runtime_env"):
        import_modules(["byol_module_that_is_nowhere"], [str(tmp_path)])



def test_the_hedge_example_honours_the_protocol_and_learns():
    """examples/hedge_leader.py (included whole in the "Your own leader" guide) passes the conformance check."""
    spec = importlib.util.spec_from_file_location("hedge_leader", REPO / "examples" / "hedge_leader.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert len((REPO / "examples" / "hedge_leader.py").read_text().splitlines()) <= 40
    report = check_principal(lambda: mod.Hedge(), n_days=50)
    assert report.distinct_actions > 1  # it learns from its payoffs
