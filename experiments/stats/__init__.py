"""Statistics of runs: bootstrap CIs and resolution, the ablation table, the hindsight oracle, plots."""
