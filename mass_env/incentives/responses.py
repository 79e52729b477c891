"""Best responses of each follower to the others' strategies, and iterated best response to an equilibrium.

Two routes (``shared/design/incentives.md``):

* **closed form** for rules whose pay is a concave quadratic in the own report (``proper``, ``consensus``,
  ``dpm``) on the Gaussian information market: strategies are linear, ``r_i = k_x x_i + k_y y``; the best
  response is linear too and the deviation gain is exact (``gain_kind = "exact"``);
* **search** over a deviation family, for any rule and any market: ``report = a*view + b*anchor +
  c*sign(view)*|view|^k + d`` (shading toward the anchor, exaggerating, constants). The anchor is yesterday's
  consensus by default (or any (days, stocks) array, e.g. the public signal). All candidates are evaluated
  at once, shape (candidates, followers, days, stocks): no Python loop over stocks or days. A search finds
  the best deviation *in the family*, so its gains are ``"lower bound"``.

Iterated best response stops when no follower gains more than ``tol``; ``converged`` is False otherwise and
the result must not be called an equilibrium (``Equilibrium.status`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ._base import FloatArray, PayContext, PaymentRule
from .market import InformationMarket

#: columns of a strategy / candidate row
PARAMS = ("a", "b", "c", "k", "d")
TRUTHFUL = np.array([1.0, 0.0, 0.0, 1.0, 0.0])


def _grid() -> FloatArray:
    rows = [(a, b, 0.0, 1.0, 0.0) for a in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0)
            for b in (-0.5, -0.25, 0.0, 0.25, 0.5, 1.0)]
    rows += [(1.0, 0.0, c, k, 0.0) for c in (-0.5, -0.25, 0.25, 0.5) for k in (0.5, 2.0, 3.0)]
    rows += [(0.0, 0.0, 0.0, 1.0, d) for d in (-1.0, 1.0)]  # constants (d = 0 is in the grid above)
    return np.array(sorted(set(rows)), dtype=np.float64)


@dataclass(frozen=True)
class DeviationFamily:
    """Candidate strategies, one row (a, b, c, k, d) each: ``a*view + b*anchor + c*sign(view)|view|^k + d``."""

    params: FloatArray = field(default_factory=_grid)

    def __post_init__(self) -> None:
        p = np.asarray(self.params, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != len(PARAMS):
            raise ValueError(f"family params must be (K, {len(PARAMS)}) rows {PARAMS}, got {p.shape}")
        object.__setattr__(self, "params", p)

    @classmethod
    def linear(cls, a: npt.ArrayLike, b: npt.ArrayLike = (0.0,)) -> DeviationFamily:
        """The product grid ``a*view + b*anchor`` (shading and exaggeration only)."""
        aa, bb = np.meshgrid(np.asarray(a, float), np.asarray(b, float), indexing="ij")
        z = np.zeros(aa.size)
        return cls(np.column_stack([aa.ravel(), bb.ravel(), z, z + 1.0, z]))

    def __len__(self) -> int:
        return self.params.shape[0]

    def reports(self, views: FloatArray, anchor: FloatArray) -> FloatArray:
        """All candidates for all followers: (K, F, D, S), one broadcast expression per distinct exponent."""
        return apply_params(self.params[:, None, :], views, anchor)


def apply_params(params: FloatArray, views: FloatArray, anchor: FloatArray) -> FloatArray:
    """Reports of strategies ``params`` (..., F, 5) (or (..., 1, 5)) on views (F, D, S): (..., F, D, S)."""
    p = np.asarray(params, dtype=np.float64)[..., None, None, :]
    a, b, c, k, d = (p[..., j] for j in range(len(PARAMS)))
    out = a * views + b * anchor + d
    mag, sgn = np.abs(views), np.sign(views)
    for kk in np.unique(k[c != 0]):  # few distinct exponents: one power of the views each
        out = out + np.where(k == kk, c, 0.0) * (sgn * mag**kk)
    return out


def previous_consensus(reports: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Yesterday's published consensus, (days, stocks): weighted mean of reports shifted one day (day 0: 0)."""
    ok = np.isfinite(reports)
    w = np.full(reports.shape[0], 1.0 / reports.shape[0]) if weights is None else np.asarray(weights, float)
    num = (np.where(ok, reports, 0.0) * w[:, None, None]).sum(0)
    den = (ok * w[:, None, None]).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cons = np.where(den > 0, num / den, 0.0)
    return np.vstack([np.zeros((1, cons.shape[1])), cons[:-1]])


@dataclass(frozen=True)
class SearchResult:
    """Each follower's best deviation in the family against a fixed profile."""

    params: FloatArray      # (F, 5) best candidate (the current strategy's row when staying is best: NaN if unknown)
    reports: FloatArray     # (F, D, S) the best responses
    gain: FloatArray        # (F,) mean pay gain over the profile (>= 0: staying is always allowed)
    se: FloatArray          # (F,) standard error of the gain over days
    stay: npt.NDArray[np.bool_]  # (F,) no candidate beats the profile
    gain_kind: str = "lower bound"


def best_response_search(rule: PaymentRule, profile: FloatArray, views: FloatArray, anchor: FloatArray,
                         ctx: PayContext, family: DeviationFamily | None = None,
                         max_elements: int = 1 << 24) -> SearchResult:
    """Best deviation of every follower against ``profile`` (F, D, S), all candidates vectorised.

    Candidates are processed in chunks of about ``max_elements`` values (memory); each chunk is one call of
    ``rule.deviation_pay`` on a (chunk, F, D, S) array.
    """
    fam = family or DeviationFamily()
    base = rule.pay(profile, ctx)                       # (F, D)
    f, d, s = profile.shape
    chunk = max(1, max_elements // max(f * d * s, 1))
    means = np.empty((len(fam), f))
    for lo in range(0, len(fam), chunk):  # a loop over candidate chunks only (memory bound)
        cand = apply_params(fam.params[lo:lo + chunk, None, :], views, anchor)
        means[lo:lo + chunk] = _day_mean(rule.deviation_pay(cand, profile, ctx))
    means = np.where(np.isfinite(means), means, -np.inf)
    best = np.argmax(means, axis=0)                      # (F,)
    params = fam.params[best]
    reports = apply_params(params, views, anchor)
    dev = rule.deviation_pay(reports[None], profile, ctx)[0]  # (F, D)
    diff = dev - base
    gain = _day_mean(diff)
    stay = ~(gain > 0)
    se = np.nanstd(diff, axis=-1, ddof=1) / np.sqrt(np.maximum(np.isfinite(diff).sum(-1), 1))
    reports = np.where(stay[:, None, None], profile, reports)
    params = np.where(stay[:, None], np.nan, params)
    return SearchResult(params, reports, np.where(stay, 0.0, gain), np.where(stay, 0.0, se), stay)


def _day_mean(x: FloatArray) -> FloatArray:
    ok = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok.any(-1), np.where(ok, x, 0.0).sum(-1) / np.maximum(ok.sum(-1), 1), np.nan)


# --- closed form: quadratic rules on the information market ------------------------------------------------
def _omega(weights: npt.ArrayLike | None, n: int) -> FloatArray:
    return PayContext(np.zeros((1, 1)), None if weights is None else np.asarray(weights, float)).omega(n)


def _terms(rule: PaymentRule, omega_i: float) -> FloatArray:
    t = rule.quadratic_terms(omega_i)
    if t is None:
        raise ValueError(f"{rule.option_string()} has no closed-form best response (not quadratic); use the search")
    return np.asarray(t, dtype=np.float64)


def linear_best_response(rule: PaymentRule, market: InformationMarket, coef: npt.ArrayLike,
                         weights: npt.ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
    """Best responses (F, 2) on (x_i, y) to linear strategies ``coef`` (F, 2), and each curvature q (F,).

    With pay_i = -sum lam (s r + u theta + v Abar_{-i})^2 + ..., E[pay | info] = -q (r - r*)^2 + const with
    ``q = sum lam s^2`` and ``r* = -sum lam s (u m + v E[Abar_{-i} | info]) / q``, m the view; and
    ``E[Abar_{-i} | info] = sum_{j != i} omega_j (k_xj E[x_j | info] + k_yj y) / (1 - omega_i)``.
    """
    k = np.asarray(coef, dtype=np.float64)
    n = k.shape[0]
    om = _omega(weights, n)
    h, g, ey = market.view_coef, market.peer_signal_coef, np.array([0.0, 1.0])
    rest = 1.0 - om
    with np.errstate(invalid="ignore", divide="ignore"):  # the others' weighted mean strategy, all i at once
        mean_k = np.where(rest[:, None] > 1e-15, (om @ k - om[:, None] * k) / rest[:, None], 0.0)
    abar = mean_k[:, :1] * g + mean_k[:, 1:] * ey  # (F, 2): E[Abar_{-i} | info_i] on (x_i, y)
    out, curv = np.empty_like(k), np.empty(n)
    for w in np.unique(om):  # one set of terms per distinct own weight (usually one)
        lam, s, u, v = _terms(rule, float(w)).T
        sel = om == w
        curv[sel] = float(lam @ (s * s))
        out[sel] = -((lam * s * u).sum() * h + (lam * s * v).sum() * abar[sel]) / curv[sel][:, None]
    return out, curv


def exact_deviation_gain(rule: PaymentRule, market: InformationMarket, coef: npt.ArrayLike,
                         weights: npt.ArrayLike | None = None) -> FloatArray:
    """Exact expected gain (F,) of each follower's best response over ``coef``: ``q E[(r* - r)^2]``."""
    k = np.asarray(coef, dtype=np.float64)
    br, q = linear_best_response(rule, market, k, weights)
    return q * market.second_moment(br - k)


def relative_private_weight(coef: npt.ArrayLike) -> FloatArray:
    """``k_x / (k_x + k_y)`` of linear strategies (F, 2)."""
    k = np.asarray(coef, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return k[..., 0] / (k[..., 0] + k[..., 1])


@dataclass(frozen=True)
class Equilibrium:
    """The end of an iterated best response: the profile, each follower's remaining gain, and whether it
    converged. Only a converged result is an equilibrium (up to ``tol`` and, for a search, the family)."""

    profile: FloatArray          # (F, 2) linear coefficients, or (F, 5) family parameters
    gap: FloatArray              # (F,) remaining deviation gain at the profile
    converged: bool
    iterations: int
    gain_kind: str               # "exact" or "lower bound"
    tol: float
    reports: FloatArray | None = None
    truthful: bool = False       # every follower reports its view (an equilibrium need not be truthful)

    @property
    def nashconv(self) -> float:
        return float(np.sum(self.gap))

    @property
    def status(self) -> str:
        kind = "truthful" if self.truthful else "untruthful"
        word = f"{kind} equilibrium" if self.converged else "NOT converged"
        return f"{word} after {self.iterations} iterations (NashConv {self.nashconv:.3g}, {self.gain_kind})"


def iterated_best_response_linear(rule: PaymentRule, market: InformationMarket, weights: npt.ArrayLike | None = None,
                                  start: npt.ArrayLike | None = None, tol: float = 1e-14, max_iter: int = 10_000,
                                  sequential: bool = False) -> Equilibrium:
    """Best-response iteration ``k_{t+1} = BR(k_t)`` in coefficient space, from truth by default.

    Simultaneous updates by default (for ``consensus:r``, r < 1, a contraction with factor c / (1 - r + c)
    onto the Morris-Shin weight); ``sequential=True`` updates one follower at a time (Gauss-Seidel), which
    is coordinate ascent in a team game such as ``dpm`` where simultaneous updates overshoot and diverge.
    Converged when every coefficient moves less than ``tol``; the gap is the exact deviation gain there.
    """
    n = market.n_followers
    k = np.tile(market.view_coef, (n, 1)) if start is None else np.array(start, dtype=np.float64)
    it, moved = 0, np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        while it < max_iter and not moved < tol:
            old = k.copy()
            if sequential:
                for i in range(n):  # one follower at a time (followers only; 2-vectors)
                    k[i] = linear_best_response(rule, market, k, weights)[0][i]
            else:
                k = linear_best_response(rule, market, k, weights)[0]
            it += 1
            if not np.all(np.isfinite(k)):
                break
            moved = float(np.max(np.abs(k - old)))
        gap = exact_deviation_gain(rule, market, k, weights)
    converged = bool(moved < tol and np.all(np.isfinite(gap)))
    truthful = bool(np.allclose(k, market.view_coef, rtol=0.0, atol=1e-9))
    return Equilibrium(k, gap, converged, it, "exact", tol, None, truthful)


def iterated_best_response_search(rule: PaymentRule, views: FloatArray, ctx: PayContext,
                                  anchor: FloatArray | None = None, family: DeviationFamily | None = None,
                                  start: npt.ArrayLike | None = None, tol: float = 1e-12,
                                  max_iter: int = 50) -> Equilibrium:
    """Iterated best response over the deviation family (simultaneous updates, from truth by default).

    ``anchor`` None: yesterday's consensus of the current profile (recomputed each round). Converged when no
    follower's best family deviation gains more than ``tol`` against the current profile (in-sample), so the
    remaining gap is a lower bound on the true NashConv.
    """
    f = views.shape[0]
    params = np.tile(TRUTHFUL, (f, 1)) if start is None else np.array(start, dtype=np.float64)

    def anchor_of(rep: FloatArray) -> FloatArray:
        return previous_consensus(rep, ctx.weights) if anchor is None else anchor

    reports = apply_params(params, views, anchor if anchor is not None else np.zeros(views.shape[1:]))
    if anchor is None:  # the consensus depends on the reports: settle the anchor for the starting strategies
        reports = apply_params(params, views, anchor_of(reports))
    for it in range(1, max_iter + 1):
        res = best_response_search(rule, reports, views, anchor_of(reports), ctx, family)
        if np.all(res.gain <= tol):
            return Equilibrium(params, res.gain, True, it, "lower bound", tol, reports, _is_truthful(params))
        params = np.where(res.stay[:, None], params, res.params)
        reports = apply_params(params, views, anchor_of(reports))
    res = best_response_search(rule, reports, views, anchor_of(reports), ctx, family)
    return Equilibrium(params, res.gain, bool(np.all(res.gain <= tol)), max_iter, "lower bound", tol, reports,
                       _is_truthful(params))


def _is_truthful(params: FloatArray) -> bool:
    return bool(np.allclose(params, TRUTHFUL, rtol=0.0, atol=1e-12))
