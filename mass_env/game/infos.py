"""The realised payoff of a step as plain numbers (the leader's ``infos`` entry), and back.

RL libraries (torchrl, RLlib, SuperSuit's vector envs) turn ``infos`` into arrays, so every value there
must be a number or a fixed-shape array, with the same keys at ``reset`` and at every step. A step
pays at most one decision day (the game's payoff clock advances one day per step), so the payoff
fits in fixed fields: ``n_paid`` (0 or 1) and ``paid_*`` (``paid_day = -1`` and zeros while nothing
is paid). No NaN either (checkers compare infos for equality, and NaN != NaN): an undefined Rank IC
is 0 with its flag at 0 (``paid_valid``, ``paid_type_valid``). ``payoffs_from_info`` rebuilds the
exact ``Payoff`` objects that ``Principal.observe`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import MassError
from .stackelberg import Payoff

PAID_KEYS = ("n_paid", "paid_day", "paid_on", "paid_rank_ic", "paid_turnover", "paid_payoff", "paid_valid",
             "paid_type_rank_ic", "paid_type_valid")


def paid_info(paid: Sequence[Payoff], n_types: int) -> dict[str, Any]:
    """The numeric ``paid_*`` fields of a step that paid ``paid`` (zero or one ``Payoff``)."""
    if len(paid) > 1:
        raise MassError(f"a step pays at most one decision day, got {len(paid)}")
    if not paid:
        return {"n_paid": 0, "paid_day": -1, "paid_on": -1, "paid_rank_ic": 0.0, "paid_turnover": 0.0,
                "paid_payoff": 0.0, "paid_valid": 0, "paid_type_rank_ic": np.zeros(n_types),
                "paid_type_valid": np.zeros(n_types, dtype=np.int64)}
    p = paid[0]
    tic = np.array(p.type_rank_ic, dtype=np.float64)
    ok = np.isfinite(tic)
    return {"n_paid": 1, "paid_day": int(p.day), "paid_on": int(p.paid_on),
            "paid_rank_ic": float(p.rank_ic) if np.isfinite(p.rank_ic) else 0.0,
            "paid_turnover": float(p.turnover), "paid_payoff": float(p.payoff), "paid_valid": int(p.valid),
            "paid_type_rank_ic": np.where(ok, tic, 0.0), "paid_type_valid": ok.astype(np.int64)}


def payoffs_from_info(info: Mapping[str, Any]) -> tuple[Payoff, ...]:
    """The ``Payoff`` s realised at a step, from the leader's info (empty when ``n_paid`` is 0)."""
    missing = [k for k in PAID_KEYS if k not in info]
    if missing:
        raise MassError(f"the leader's info lacks the payoff fields {missing} (an env of this project writes them)")
    if not int(info["n_paid"]):
        return ()
    valid = bool(info["paid_valid"])
    tic = np.where(np.asarray(info["paid_type_valid"]) > 0, np.asarray(info["paid_type_rank_ic"], np.float64), np.nan)
    return (Payoff(int(info["paid_day"]), int(info["paid_on"]), float(info["paid_rank_ic"]) if valid else np.nan,
                   float(info["paid_turnover"]), float(info["paid_payoff"]), tic, valid),)
