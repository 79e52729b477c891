"""The hindsight oracle: the best fixed commitment on the evaluation period, as an upper bound.

A table of leaders needs a ceiling to read them against. ``hindsight_oracle`` fits, after an
episode, the fixed ``(d, alpha)`` that maximises each reported Rank IC on the evaluation days, using
returns no leader could know at the time. It is therefore never a leader and is always labelled
"oracle (hindsight upper bound)"; being a local search (CMA-ES), it is a lower estimate of the true
in-sample optimum. ``oracle_history`` shapes its daily values like a game history so the sweep can
put it in the same tidy frames as every other run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mass_env.data.returns import REPORT_HORIZONS, ReturnSpec
from mass_env.game import StackelbergGame
from mass_env.game.components import COMPONENTS, ric_column
from principals.blackbox import Objective, SearchSpace, optimise
from principals.cmaes import CMAES

#: Signal components of the game's history (``ric_<component>_<h>d``).


@dataclass(frozen=True)
class OracleFit:
    """Best fixed commitment found in hindsight for one metric on the evaluation period."""

    component: str
    horizon: int
    weights: np.ndarray
    alpha: float
    value: float
    equal_value: float
    days: np.ndarray
    daily: np.ndarray


def hindsight_oracle(game: StackelbergGame, *, eval_skip: int = 21,
                     horizons: Iterable[int] = REPORT_HORIZONS, components: Iterable[str] = COMPONENTS,
                     evals_per_dim: int = 60, max_evals: int = 1000, sigma0: float = 1.0,
                     seed: int = 0) -> dict[tuple[str, int], OracleFit]:
    """HINDSIGHT UPPER BOUND, not a leader: the best fixed ``(d, alpha)`` on the evaluation period.

    After an episode, for each (component, horizon), CMA-ES searches the fixed weights (and alpha for
    the combined signal; consensus and disagreement do not depend on alpha) that maximise the mean
    daily Rank IC over the evaluation days, using the recorded follower moments and the realised
    returns of those very days (budget: ``evals_per_dim`` x dimension, at most ``max_evals``).
    Valid because the followers' signals do not depend on the weights (scripted followers). The
    result is never worse than equal weights (it is compared with them); being a local search, it
    is a lower estimate of the true hindsight optimum.
    """
    n_eval = len(game.records) - eval_skip
    K = game.K
    out: dict[tuple[str, int], OracleFit] = {}
    if n_eval <= 0:
        return out
    rng = np.random.default_rng([int(seed), 0x0AC1E])
    for h in horizons:
        spec = ReturnSpec(h, game.config.lag)
        window = game.scoring_window(n_eval, horizon=h, asof=game.end + spec.delay)
        for comp in components:
            space = SearchSpace(K, learn_alpha=(comp == "signal"), alpha=0.5, encoding="logits")
            eq_x = space.encode(np.ones(K), 0.5)
            obj = Objective(window, space, comp)  # type: ignore[arg-type]
            eq_val = float(obj(eq_x[None])[0])
            best_x, best_val = eq_x, eq_val
            if space.dim >= 2:
                budget = max(1, min(evals_per_dim * space.dim, max_evals))
                opt = CMAES(sigma0=sigma0, evals=budget, recommend="best")
                res = optimise(opt, obj, eq_x, rng)
                if res.fitness > best_val:
                    best_x, best_val = res.x, res.fitness
            w, a = space.decode(best_x)
            daily = window.daily(w[0], float(a[0]), comp)[0]  # type: ignore[arg-type]
            out[(comp, h)] = OracleFit(comp, h, w[0] / w[0].sum(), float(a[0]), best_val, eq_val,
                                       window.days.copy(), daily)
    return out


def oracle_history(game: StackelbergGame, fits: Mapping[tuple[str, int], OracleFit],
                   headline: tuple[str, int]) -> pd.DataFrame:
    """Per-day frame shaped like ``game.history()`` (evaluation days only) for the oracle."""
    any_fit = next(iter(fits.values()))
    days = any_fit.days
    frame: dict[str, Any] = {"day": days, "date": game.panel.dates[days]}
    head = fits.get(headline, any_fit)
    frame["alpha"] = head.alpha
    frame["inertia"] = 0.0
    frame["turnover"] = 0.0
    frame["n_scored"] = [game.records[d - game.start].n_scored for d in days]
    frame["paid"] = False
    frame["payoff"] = np.nan
    for k in range(game.K):
        frame[f"w_{k}"] = head.weights[k]
    for (comp, h), fit in fits.items():
        frame[ric_column(comp, h)] = fit.daily
    return pd.DataFrame(frame)

