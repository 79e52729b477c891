"""Market data: the panel, point-in-time views, forward returns, macro alignment, modality
features, the synthetic market, and loading tables into panels. Knows nothing of the game."""
