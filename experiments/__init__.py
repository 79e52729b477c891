"""Experiments on the game: the ``mass`` commands and what they are built from.

* one module per ``mass`` command (``run``, ``data``, ``ablation``, ``reproduce``, ``train_rl``,
  ``rl_table``, ``llm_diagnostics``), each with ``HELP``, ``add_arguments`` and ``run``; ``cli`` is the
  table of commands, ``options`` the flags several commands share;
* ``sweep``: the ablation engine (specs, configs, markets, one run, the resumable sweep and its store);
* ``parallel``: executors (serial, process pool, Ray);
* ``stats``: statistics, the table, the hindsight oracle, plots;
* ``paper``: the paper's conditions (fidelity), its published numbers and claims, the reproduction;
* ``studies``: studies that are not timings (LLM prompt designs, fidelity knob effects).
"""

import mass_env.removed  # noqa: F401,E402  (old import paths raise an ImportError naming the new one)
