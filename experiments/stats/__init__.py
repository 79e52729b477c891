"""Statistics of runs: one standard error per contrast (inference) and the verdicts built on it, the
ablation table, the hindsight oracle, plots."""
