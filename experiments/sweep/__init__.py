"""The ablation engine: a spec, its configs and markets, one run, the resumable sweep and its store."""
