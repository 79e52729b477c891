"""The leader's optimal mixed commitment in a bimatrix game (Conitzer & Sandholm 2006).

Why: a Stackelberg leader that anticipates its followers must beat one that does not; on small bimatrix
games the optimum is known exactly, so an anticipating leader's value can be checked against it.
Reference: Conitzer & Sandholm (2006), "Computing the optimal strategy to commit to", EC'06, sec. 4 (one
linear programme per follower pure strategy). Example: U_L = [[1, 3], [0, 2]], U_F = [[1, 0], [0, 1]]: the
Nash outcome (U, L) gives the leader 1; committing to p(U) = 0.5 makes R a best response and gives 2.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Commitment:
    """The optimal commitment ``p`` (leader's mixed strategy), the follower's reply, and the leader's value.

    ``values[j]``: the best leader value when the follower is induced to play j (NaN where no commitment
    makes j a best response). Ties are broken in the leader's favour (strong Stackelberg equilibrium).
    """

    p: FloatArray
    follower_action: int
    value: float
    values: FloatArray


def optimal_commitment(principal_payoff: npt.ArrayLike, follower_payoff: npt.ArrayLike) -> Commitment:
    """Solve ``max_p p . U_L[:, j]`` s.t. ``p . U_F[:, j] >= p . U_F[:, j']`` for all j', p in the simplex,
    for every follower pure strategy j (scipy ``linprog``, HiGHS), and keep the best j."""
    ul = np.asarray(principal_payoff, dtype=np.float64)
    uf = np.asarray(follower_payoff, dtype=np.float64)
    if ul.ndim != 2 or ul.shape != uf.shape:
        raise ValueError(f"payoff matrices must be the same 2-D shape, got {ul.shape} and {uf.shape}")
    m, n = ul.shape
    values = np.full(n, np.nan)
    plans: list[FloatArray | None] = [None] * n
    for j in range(n):  # one LP per follower pure strategy
        a_ub = (uf - uf[:, [j]]).T  # rows j': p . (U_F[:, j'] - U_F[:, j]) <= 0
        res = linprog(-ul[:, j], A_ub=a_ub, b_ub=np.zeros(n), A_eq=np.ones((1, m)), b_eq=[1.0],
                      bounds=[(0.0, 1.0)] * m, method="highs")
        if res.status == 0:
            values[j] = -res.fun
            plans[j] = np.clip(res.x, 0.0, None) / np.clip(res.x, 0.0, None).sum()
    if not np.isfinite(values).any():  # cannot happen: some j is a best response to any p
        raise RuntimeError("no follower strategy is inducible")
    best = int(np.nanargmax(values))
    plan = plans[best]
    assert plan is not None
    return Commitment(plan, best, float(values[best]), values)


def commitment_value(p: npt.ArrayLike, principal_payoff: npt.ArrayLike, follower_payoff: npt.ArrayLike,
                     tie_tol: float = 1e-12) -> tuple[float, int]:
    """The leader's value of committing to ``p`` when the follower best-responds, ties in the leader's favour.

    The brute-force counterpart of ``optimal_commitment`` (and what an anticipating leader evaluates).
    """
    pv = np.asarray(p, dtype=np.float64)
    ul = np.asarray(principal_payoff, dtype=np.float64)
    uf = np.asarray(follower_payoff, dtype=np.float64)
    fol = pv @ uf
    lead = pv @ ul
    best = fol >= fol.max() - tie_tol
    j = int(np.flatnonzero(best)[np.argmax(lead[best])])
    return float(lead[j]), j
