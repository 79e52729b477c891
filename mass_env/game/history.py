"""The per-day record of a played episode as a table (``StackelbergGame.history``).

Why apart: it is reporting after the episode (evaluation ICs at every report horizon from the panel's
returns), never an input to a decision, and it reads only what the game recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..data.returns import ReturnSpec
from .components import COMPONENTS, metric_column
from .metrics import REPORTED_METRICS


class PlayedGame(Protocol):
    """What the table reads of a ``StackelbergGame`` (a protocol: the game imports this module)."""

    config: Any
    records: list[Any]
    panel: Any
    report_log: Any
    K: int
    returns: Any


def episode_history(game: PlayedGame, horizons: Sequence[int] | None = None) -> pd.DataFrame:
    """Tidy per-day record of the episode, with evaluation ICs at each report horizon.

    Evaluation ICs use the panel's returns and are for *reporting after the episode*; NaN where the
    return is not in the panel. Nothing here feeds back into decisions.
    """
    hs = tuple(horizons or game.config.report_horizons)
    recs = game.records
    days = np.array([rec.day for rec in recs], dtype=np.int64)
    frame: dict[str, object] = {
        "day": days, "date": game.panel.dates[days], "alpha": [rec.action.alpha for rec in recs],
        "inertia": [rec.action.inertia for rec in recs], "turnover": [rec.turnover for rec in recs],
        "n_scored": [rec.n_scored for rec in recs], "paid": [rec.paid is not None for rec in recs],
        "payoff": [rec.paid.payoff if rec.paid else np.nan for rec in recs],
        "misreport": (game.report_log.misreport() if len(game.report_log) == len(recs)
                      else np.full(len(recs), np.nan)),
    }
    applied = np.array([rec.applied for rec in recs]).reshape(len(recs), game.K)
    for k in range(game.K):
        frame[f"w_{k}"] = applied[:, k]
    # every day of a component at once: metrics are row-wise, so this equals the per-day calls
    parts = {comp: np.array([comp.pick(rec.consensus, rec.disagreement, rec.signal) for rec in recs])
             for comp in COMPONENTS}
    for h in hs:
        r = game.returns.get(ReturnSpec(h, game.config.lag))[days]
        for comp in COMPONENTS:
            for name, fn in REPORTED_METRICS.items():
                frame[metric_column(name, comp, h)] = (
                    np.asarray(fn(parts[comp], r, min_stocks=game.config.min_stocks), dtype=np.float64)
                    if recs else np.zeros(0))
    return pd.DataFrame(frame)
