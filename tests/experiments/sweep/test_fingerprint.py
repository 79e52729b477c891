"""The code a run's resume key covers (``experiments.sweep.fingerprint``)."""

from experiments.sweep.configs import CONFIGS, baseline_for
from experiments.sweep.fingerprint import run_sources


def test_resume_fingerprint_covers_the_code_a_run_depends_on():
    def names(cfg):
        return {p.name for p in run_sources(cfg, "scripted")}

    assert {"annealing.py", "blackbox.py", "scripted.py", "workers.py", "stackelberg.py",
            "scoring.py"} <= names(CONFIGS["A"])
    assert "cmaes.py" not in names(CONFIGS["A"]) and "cmaes.py" in names(CONFIGS["E"])
    assert "cmaes.py" in names(baseline_for("oracle", (8, 8)))  # the oracle fits with CMA-ES
    assert "loaders.py" not in names(CONFIGS["A"])  # data code: the panel's content is hashed instead
